//! Batches as tensors ready for the device. A helper thread turns each loader batch into
//! tensors, in page-locked (pinned) host memory when the device is a GPU, so that the copy to
//! the GPU runs asynchronously while the previous step computes: the GPU does not wait on
//! pageable-memory copies, and the consumer thread only queues kernels.

use super::loader::Batch;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use tch::{Device, Kind, Tensor};

/// A batch with its images (N×3×S×S, 8-bit) and classes (N) as host tensors.
#[derive(Debug)]
pub struct HostBatch {
    /// The loader's batch, its image buffer already released.
    pub batch: Batch,
    pub x: Tensor,
    pub y: Tensor,
}

impl HostBatch {
    /// The normalised images and the classes on `device`; from pinned memory the copy does
    /// not block the host.
    pub fn to_device(&self, device: Device) -> Result<(Tensor, Tensor), tch::TchError> {
        let async_copy = device.is_cuda();
        let (scale, bias) = self.batch.normalization.scale_bias();
        let per_channel = |v: [f32; 3]| Tensor::from_slice(&v).f_view([1, 3, 1, 1])?.f_to_device(device);
        let x = self.x.f_to_device_(device, Kind::Uint8, async_copy, false)?.f_to_kind(Kind::Float)?;
        Ok((
            x.f_mul(&per_channel(scale)?)?.f_add(&per_channel(bias)?)?,
            self.y.f_to_device_(device, Kind::Int64, async_copy, false)?,
        ))
    }
}

fn host_batch(mut batch: Batch, size: u32, device: Device) -> Result<HostBatch, tch::TchError> {
    let (s, n) = (i64::from(size), batch.len() as i64);
    let mut x = Tensor::from_slice(&batch.images).f_view([n, 3, s, s])?;
    let mut y = Tensor::from_slice(&batch.classes);
    if device.is_cuda() {
        x = x.f_pin_memory(device)?;
        y = y.f_pin_memory(device)?;
    }
    batch.images = Vec::new();
    Ok(HostBatch { batch, x, y })
}

/// The batches of `batches` as host tensors, `depth` of them made ahead by a helper thread.
#[derive(Debug)]
pub struct Feed {
    rx: Receiver<Result<HostBatch, tch::TchError>>,
    helper: Option<JoinHandle<()>>,
}

impl Feed {
    pub fn new(batches: impl Iterator<Item = Batch> + Send + 'static, size: u32, device: Device, depth: usize) -> Self {
        let (tx, rx) = sync_channel(depth.max(1));
        let helper = std::thread::spawn(move || {
            for b in batches {
                if tx.send(host_batch(b, size, device)).is_err() {
                    return;
                }
            }
        });
        Self { rx, helper: Some(helper) }
    }
}

impl Drop for Feed {
    /// Stops the helper (its next hand-over fails once the receiver is gone) and waits for it,
    /// so no thread is left copying into libtorch memory while the program shuts down.
    fn drop(&mut self) {
        let (_, rx) = sync_channel(1);
        drop(std::mem::replace(&mut self.rx, rx));
        if let Some(h) = self.helper.take() {
            let _ = h.join();
        }
    }
}

impl Iterator for Feed {
    type Item = Result<HostBatch, tch::TchError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.rx.recv().ok();
        if next.is_none()
            && let Some(h) = self.helper.take()
        {
            let _ = h.join();
        }
        next
    }
}
