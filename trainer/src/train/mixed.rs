//! Speed settings for CUDA: fp16 autocast with dynamic loss scaling, channels-last (NHWC)
//! tensors, and cuDNN's autotuner. On the CPU they change nothing: CUDA autocast does not apply
//! there and the loss scale stays 1, so the same code path trains either way.

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn::VarStore};

/// Arithmetic of the forward and backward passes. Parameters and optimiser state stay fp32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arithmetic {
    Fp32,
    /// Autocast to fp16 on CUDA (convolutions and matrix products in half, reductions and the
    /// loss in fp32), gradients protected from underflow by a dynamic loss scale.
    Fp16,
}

/// How the network runs on its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeedConfig {
    pub precision: Arithmetic,
    /// Images and convolution weights in NHWC memory order, which cuDNN's tensor-core kernels
    /// read without transposes.
    pub channels_last: bool,
}

melanoscope_shared::from_str_by_parse!(SpeedConfig);

impl SpeedConfig {
    pub const FP32: SpeedConfig = SpeedConfig { precision: Arithmetic::Fp32, channels_last: false };

    /// The fastest settings `device` honours: fp16 and channels-last on CUDA, fp32 on the CPU
    /// (libtorch's CPU convolutions are slower in NHWC and autocast does not reach them).
    pub fn fastest_for(device: Device) -> Self {
        if device.is_cuda() { SpeedConfig { precision: Arithmetic::Fp16, channels_last: true } } else { Self::FP32 }
    }

    /// fp32 arithmetic, as the exported model computes, in the device's fastest layout: for
    /// evaluation, whose validation thresholds are the ones the edge applies.
    pub fn exact_for(device: Device) -> Self {
        SpeedConfig { channels_last: device.is_cuda(), ..Self::FP32 }
    }

    /// `fp32`, `fp32-cl`, `fp16`, `fp16-cl`.
    pub fn parse(s: &str) -> Result<Self, melanoscope_shared::choice::UnknownChoice> {
        let t = s.trim().to_ascii_lowercase();
        let (p, cl) = match t.strip_suffix("-cl") {
            Some(p) => (p, true),
            None => (t.as_str(), false),
        };
        let precision = match p {
            "fp32" => Arithmetic::Fp32,
            "fp16" => Arithmetic::Fp16,
            _ => {
                return Err(melanoscope_shared::choice::UnknownChoice::new(
                    "speed mode",
                    s,
                    "fp32, fp32-cl, fp16 or fp16-cl",
                ));
            }
        };
        Ok(SpeedConfig { precision, channels_last: cl })
    }

    pub fn name(&self) -> String {
        let p = match self.precision {
            Arithmetic::Fp32 => "fp32",
            Arithmetic::Fp16 => "fp16",
        };
        if self.channels_last { format!("{p}-cl") } else { p.to_string() }
    }

    /// Runs `f` under CUDA autocast when the precision asks for it.
    pub fn autocast<T>(&self, f: impl FnOnce() -> T) -> T {
        tch::autocast(self.precision == Arithmetic::Fp16, f)
    }

    /// `x` in the memory order the network expects (a view of the same values).
    pub fn layout(&self, x: Tensor) -> Result<Tensor, tch::TchError> {
        if self.channels_last && x.dim() == 4 { channels_last(&x) } else { Ok(x) }
    }

    /// Puts the convolution weights of `vs` in channels-last order (values unchanged).
    pub fn prepare(&self, vs: &VarStore) -> Result<(), tch::TchError> {
        if !self.channels_last {
            return Ok(());
        }
        tch::no_grad(|| {
            for (_, mut p) in vs.variables() {
                if p.dim() == 4 {
                    let cl = channels_last(&p)?;
                    p.f_set_data(&cl)?;
                }
            }
            Ok(())
        })
    }
}

/// An N×C×H×W tensor with NHWC strides: logically the same tensor, laid out channel-innermost.
pub fn channels_last(x: &Tensor) -> Result<Tensor, tch::TchError> {
    x.f_permute([0, 2, 3, 1])?.f_contiguous()?.f_permute([0, 3, 1, 2])
}

/// Switches cuDNN's autotuner on: each convolution shape is timed once and the fastest
/// algorithm kept (the patch size is fixed, so the search is paid once per run).
pub fn enable_cudnn_benchmark(device: Device) {
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
}

/// Dynamic loss scaling as in PyTorch's `GradScaler`: the loss is multiplied by `scale` before
/// backward so fp16 gradients do not underflow; gradients are divided back before the update;
/// a step whose gradients overflowed is skipped and the scale halved; after `growth_interval`
/// clean steps the scale doubles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    pub scale: f64,
    pub clean_steps: u32,
    pub growth_interval: u32,
    pub skipped_steps: u64,
}

impl LossScaler {
    pub fn new() -> Self {
        Self { scale: 65_536.0, clean_steps: 0, growth_interval: 2000, skipped_steps: 0 }
    }

    /// Divides the (flat) gradient by the scale; returns whether all of it is finite.
    /// One device synchronisation (PyTorch's scaler has the same one).
    pub fn unscale(&self, grad: &mut Tensor) -> Result<bool, tch::TchError> {
        let _ = grad.f_mul_scalar_(1.0 / self.scale)?;
        Ok(grad.numel() == 0 || grad.f_isfinite()?.f_all()?.f_int64_value(&[])? != 0)
    }

    /// Records the outcome of a step.
    pub fn update(&mut self, finite: bool) {
        if finite {
            self.clean_steps += 1;
            if self.clean_steps >= self.growth_interval {
                self.scale *= 2.0;
                self.clean_steps = 0;
            }
        } else {
            self.scale = (self.scale * 0.5).max(1.0);
            self.clean_steps = 0;
            self.skipped_steps += 1;
        }
    }
}

impl Default for LossScaler {
    fn default() -> Self {
        Self::new()
    }
}
