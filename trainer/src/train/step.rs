//! One optimisation step and evaluation over batches.

use super::mixed::{LossScaler, SpeedConfig};
use super::optim::{OptimError, Optimizer};
use crate::data::feed::Feed;
use crate::data::loader::{LoaderConfig, Sample, Unread, epoch_batches};
use crate::model::Network;
use std::sync::Arc;
use tch::{Device, Kind, Tensor, nn::VarStore};

/// Class weights inversely proportional to class frequency, normalised to mean 1 (so a rare
/// class counts as much as a common one in the loss).
pub fn balanced_class_weights(counts: &[usize]) -> Vec<f64> {
    let present = counts.iter().filter(|c| **c > 0).count().max(1) as f64;
    let total: usize = counts.iter().sum();
    counts.iter().map(|&c| if c == 0 { 0.0 } else { total as f64 / (present * c as f64) }).collect()
}

/// What a training step needs besides the batch.
#[derive(Debug, Clone, Copy)]
pub struct StepSettings<'a> {
    pub class_weights: Option<&'a Tensor>,
    pub lr: f64,
    /// `false` keeps BatchNorm on its running statistics (a linear probe on a frozen backbone
    /// must not shift them).
    pub train_mode: bool,
    pub speed: SpeedConfig,
}

/// Forward, class-weighted cross-entropy, backward and one update; returns the loss as a
/// device scalar (reading it would wait for the GPU, so callers read it when they need it).
/// With a `scaler` (fp16), the loss is scaled for backward and a step whose gradients
/// overflowed is skipped.
pub fn train_step(
    net: &Network,
    vs: &VarStore,
    opt: &mut Optimizer,
    x: &Tensor,
    y: &Tensor,
    settings: StepSettings<'_>,
    scaler: Option<&mut LossScaler>,
) -> Result<Tensor, OptimError> {
    let logits = settings.speed.autocast(|| net.forward_t(x, settings.train_mode).logits);
    let loss = logits.f_to_kind(Kind::Float)?.f_cross_entropy_loss(
        y,
        settings.class_weights,
        tch::Reduction::Mean,
        -100,
        0.0,
    )?;
    match scaler {
        Some(scaler) => {
            let mut grad = opt.flat_gradient(vs, &loss.f_mul_scalar(scaler.scale)?)?;
            let finite = scaler.unscale(&mut grad)?;
            scaler.update(finite);
            if finite {
                opt.apply_flat(vs, &grad, settings.lr)?;
            }
        }
        None => {
            let grad = opt.flat_gradient(vs, &loss)?;
            opt.apply_flat(vs, &grad, settings.lr)?;
        }
    }
    Ok(loss.detach())
}

/// Softmax probabilities in eval mode (BatchNorm running statistics, no dropout).
pub fn predict(net: &Network, x: &Tensor, speed: SpeedConfig) -> Result<Tensor, tch::TchError> {
    tch::no_grad(|| speed.autocast(|| net.forward_t(x, false).logits).f_softmax(-1, Kind::Float))
}

/// Class probabilities of each sample, in dataset order (`None`: it could not be read).
pub type SampleProbabilities = Vec<Option<Vec<f64>>>;

/// Class probabilities of every sample (in dataset order; `None` where it could not be read),
/// in eval mode without augmentation, and what could not be read.
pub fn predict_samples(
    net: &Network,
    samples: Arc<Vec<Sample>>,
    loader: &LoaderConfig,
    device: Device,
    speed: SpeedConfig,
    bar: &indicatif::ProgressBar,
) -> Result<(SampleProbabilities, Unread), tch::TchError> {
    let mut unread = Unread::default();
    bar.set_length(samples.len() as u64);
    bar.set_position(0);
    let cfg = LoaderConfig { shuffle: false, augment: crate::data::augment::AugmentConfig::none(), ..loader.clone() };
    let mut out = vec![None; samples.len()];
    let feed = Feed::new(epoch_batches(samples, &cfg, 0), cfg.size, device, 2);
    for staged in feed {
        let staged = staged?;
        unread.add(&staged.batch.skipped);
        bar.inc((staged.batch.samples.len() + staged.batch.skipped.len()) as u64);
        if staged.batch.is_empty() {
            continue;
        }
        let (x, _) = staged.to_device(device)?;
        let p = predict(net, &speed.layout(x)?, speed)?.to_device(Device::Cpu).to_kind(Kind::Double);
        let k = p.size().last().copied().unwrap_or(0) as usize;
        let flat = Vec::<f64>::try_from(p.flatten(0, -1))?;
        for (row, &i) in staged.batch.samples.iter().enumerate() {
            out[i] = flat.get(row * k..(row + 1) * k).map(<[f64]>::to_vec);
        }
    }
    Ok((out, unread))
}
