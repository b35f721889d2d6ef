//! Which compute devices libtorch sees.

use serde::Serialize;
use tch::{Cuda, Device};

/// A summary of the compute devices, printed by `melanoscope-train info`.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cudnn_available: bool,
    pub chosen: String,
    pub cpu_threads: i32,
}

/// The best device: the first CUDA GPU when libtorch sees one, else the CPU.
pub fn best_device() -> Device {
    Device::cuda_if_available()
}

pub fn report() -> DeviceReport {
    DeviceReport {
        cuda_available: Cuda::is_available(),
        cuda_devices: Cuda::device_count(),
        cudnn_available: Cuda::cudnn_is_available(),
        chosen: format!("{:?}", best_device()),
        cpu_threads: tch::get_num_threads(),
    }
}

/// On a GPU run libtorch's CPU threads only copy batches into pinned memory, while the loader's
/// workers need every core: one libtorch thread keeps its thread pool from competing with them
/// (measured on a 16-core H200 machine: 2,211 against 1,865 patches/s from the pipeline).
pub fn share_cores_with_loader(device: Device) {
    if device.is_cuda() {
        tch::set_num_threads(1);
    }
}
