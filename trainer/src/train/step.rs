//! One optimisation step and evaluation over batches.

use super::optim::{OptimError, Optimizer};
use crate::data::loader::Batch;
use crate::model::Network;
use tch::{Device, Kind, Tensor, nn::VarStore};

/// A batch as tensors on `device`: images N×3×S×S and class indices N.
pub fn batch_tensors(batch: &Batch, size: u32, device: Device) -> Result<(Tensor, Tensor), tch::TchError> {
    let s = i64::from(size);
    let n = batch.len() as i64;
    let x = Tensor::from_slice(&batch.images).f_view([n, 3, s, s])?.f_to_device(device)?;
    let y = Tensor::from_slice(&batch.classes).f_to_device(device)?;
    Ok((x, y))
}

/// Class weights inversely proportional to class frequency, normalised to mean 1 (so a rare
/// class counts as much as a common one in the loss).
pub fn balanced_class_weights(counts: &[usize]) -> Vec<f64> {
    let present = counts.iter().filter(|c| **c > 0).count().max(1) as f64;
    let total: usize = counts.iter().sum();
    counts.iter().map(|&c| if c == 0 { 0.0 } else { total as f64 / (present * c as f64) }).collect()
}

/// Forward, class-weighted cross-entropy, backward and one update at `lr`; returns the loss.
/// `train_mode` false keeps BatchNorm on its running statistics (a linear probe on a frozen
/// backbone must not shift them).
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    net: &Network,
    vs: &VarStore,
    opt: &mut Optimizer,
    x: &Tensor,
    y: &Tensor,
    class_weights: Option<&Tensor>,
    lr: f64,
    train_mode: bool,
) -> Result<f64, OptimError> {
    opt.zero_grad(vs);
    let out = net.forward_t(x, train_mode);
    let loss = out.logits.f_cross_entropy_loss(y, class_weights, tch::Reduction::Mean, -100, 0.0)?;
    loss.f_backward()?;
    opt.apply(vs, lr)?;
    Ok(loss.f_double_value(&[])?)
}

/// Softmax probabilities in eval mode (BatchNorm running statistics, no dropout).
pub fn predict(net: &Network, x: &Tensor) -> Result<Tensor, tch::TchError> {
    tch::no_grad(|| net.forward_t(x, false).logits.f_softmax(-1, Kind::Float))
}

/// Class probabilities of every sample (in dataset order; `None` where it could not be read),
/// in eval mode without augmentation.
pub fn predict_samples(
    net: &Network,
    samples: std::sync::Arc<Vec<crate::data::loader::Sample>>,
    loader: &crate::data::loader::LoaderConfig,
    device: Device,
) -> Result<Vec<Option<Vec<f64>>>, tch::TchError> {
    let cfg = crate::data::loader::LoaderConfig {
        shuffle: false,
        augment: crate::data::augment::AugmentConfig::none(),
        ..loader.clone()
    };
    let mut out = vec![None; samples.len()];
    for batch in crate::data::loader::epoch_batches(samples, &cfg, 0) {
        if batch.is_empty() {
            continue;
        }
        let (x, _) = batch_tensors(&batch, cfg.size, device)?;
        let p = predict(net, &x)?.to_device(Device::Cpu).to_kind(Kind::Double);
        let k = p.size().last().copied().unwrap_or(0) as usize;
        let flat = Vec::<f64>::try_from(p.flatten(0, -1))?;
        for (row, &i) in batch.samples.iter().enumerate() {
            out[i] = flat.get(row * k..(row + 1) * k).map(<[f64]>::to_vec);
        }
    }
    Ok(out)
}
