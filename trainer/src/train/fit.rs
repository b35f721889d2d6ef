//! The training run: epochs over the loader, the schedule stepped per batch, validation AUC
//! after each epoch, early stopping, best and last checkpoints, and exact resume. Files in the
//! run folder: `last-<epoch>.safetensors` and `last-<epoch>.optim.safetensors` (weights and
//! optimiser state after that epoch), `best.safetensors`, and `state.json`, written last and
//! atomically, naming the checkpoint it belongs to; older checkpoints are removed only after.
//! A crash at any point leaves a `state.json` whose files exist and match it.

use super::mixed::{Arithmetic, LossScaler, SpeedConfig, enable_cudnn_benchmark};
use super::optim::{OptimError, Optimizer, OptimizerKind, ParamGroup};
use super::schedule::LrSchedule;
use super::step::{StepSettings, balanced_class_weights, predict_samples, train_step};
use crate::data::feed::Feed;
use crate::data::loader::{LoaderConfig, Sample, epoch_batches};
use crate::model::{Arch, Network, WeightsError, load_weights, seed_torch};
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::metrics::{auc, macro_auc_ovr};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Kind, Tensor, nn::VarStore};
use thiserror::Error;

/// What is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Strategy {
    /// Only the new head; the backbone frozen with BatchNorm on its running statistics.
    LinearProbe,
    /// Everything, at the same rate.
    FineTune,
    /// A linear probe until `unfreeze_epoch`, then everything with the backbone at
    /// `backbone_lr_scale` times the rate.
    Staged { unfreeze_epoch: u64, backbone_lr_scale: f64 },
}

#[derive(Debug, Clone)]
pub struct FitConfig {
    pub arch: Arch,
    pub classes: usize,
    pub epochs: u64,
    pub loader: LoaderConfig,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup_epochs: u64,
    pub strategy: Strategy,
    /// Loss weights inversely proportional to class frequency.
    pub balance_classes: bool,
    /// Stop after this many epochs without a better validation AUC.
    pub patience: u64,
    /// Pretrained weights (safetensors/.ot); `None` trains from scratch.
    pub weights: Option<PathBuf>,
    pub out_dir: PathBuf,
    pub device: Device,
    /// Precision and memory layout (see [`SpeedConfig::fastest_for`]).
    pub speed: SpeedConfig,
    /// Seeds the head's (or the whole network's) initialisation.
    pub init_seed: u64,
    /// Return after this many epochs in this invocation (a time-boxed job); resume continues.
    pub stop_after: Option<u64>,
    /// What the run shows on standard error while it trains.
    pub progress: Progress,
}

/// What a training run shows while it runs (a CPU epoch takes minutes: it must not be silent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Progress {
    /// Nothing (tests).
    #[default]
    Quiet,
    /// A line per epoch: loss, validation AUC, time (a caller with its own progress bar).
    Lines,
    /// A bar over each epoch's steps as well (`train`).
    Bar,
}

/// One epoch's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: u64,
    pub train_loss: f64,
    pub val_auc: f64,
    pub lr_end: f64,
    pub seconds: f64,
    pub skipped_samples: usize,
}

/// What `state.json` holds: everything a resumed run needs beyond the tensors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FitState {
    pub epochs_done: u64,
    pub best_val_auc: Option<f64>,
    pub best_epoch: Option<u64>,
    pub stale_epochs: u64,
    pub stopped_early: bool,
    pub history: Vec<EpochLog>,
    /// The checkpoint (file names in the run folder) this state belongs to.
    pub last_weights: Option<String>,
    pub last_optimizer: Option<String>,
    /// The fp16 loss scale after the last finished epoch (resume continues from it).
    #[serde(default)]
    pub loss_scaler: Option<LossScaler>,
}

#[derive(Debug, Error)]
pub enum FitError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Optim(#[from] OptimError),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error("{path}: {detail}")]
    Io { path: PathBuf, detail: String },
    #[error("validation: {0}")]
    Metrics(String),
    #[error(
        "the training loss became {value} at optimiser step {step} (epoch {epoch}); stopped without saving that epoch, \
         the last good checkpoint is {last_good} (lower the learning rate, or check the data)"
    )]
    NonFiniteLoss { epoch: u64, step: u64, value: String, last_good: String },
}

fn io(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> FitError + '_ {
    move |e| FitError::Io { path: path.into(), detail: e.to_string() }
}

fn save_weights(vs: &VarStore, path: &Path) -> Result<(), FitError> {
    let tmp = melanoscope_shared::atomic::temp_path(path).with_extension("safetensors");
    vs.save(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| io(path)(&e))
}

fn groups(arch: Arch, strategy: Strategy, epoch: u64) -> (Vec<ParamGroup>, bool) {
    let head = ParamGroup { prefix: arch.head_prefix().into(), lr_scale: 1.0, trainable: true };
    let backbone = |lr_scale: f64, trainable: bool| ParamGroup { prefix: String::new(), lr_scale, trainable };
    match strategy {
        Strategy::LinearProbe => (vec![head, backbone(0.0, false)], false),
        Strategy::FineTune => (vec![head, backbone(1.0, true)], true),
        Strategy::Staged { unfreeze_epoch, .. } if epoch < unfreeze_epoch => (vec![head, backbone(0.0, false)], false),
        Strategy::Staged { backbone_lr_scale, .. } => (vec![head, backbone(backbone_lr_scale, true)], true),
    }
}

/// Validation AUC: MM-vs-rest style binary AUC of class 1 for two classes, macro one-vs-rest otherwise.
fn validation_auc(net: &Network, val: &Arc<Vec<Sample>>, cfg: &FitConfig) -> Result<f64, FitError> {
    let (mut labels, mut probs) = (Vec::new(), Vec::new());
    let hidden = indicatif::ProgressBar::hidden();
    let (predicted, unread) = predict_samples(net, val.clone(), &cfg.loader, cfg.device, cfg.speed, &hidden)?;
    if unread.count > 0 {
        tracing::warn!("validation: {}", unread.describe("patches"));
    }
    for (s, p) in val.iter().zip(predicted) {
        if let Some(p) = p {
            labels.push(s.class);
            probs.extend(p);
        }
    }
    let k = cfg.classes;
    if k == 2 {
        let positive: Vec<bool> = labels.iter().map(|l| *l == 1).collect();
        let scores: Vec<f64> = probs.chunks_exact(2).map(|p| p[1]).collect();
        auc(&positive, &scores).map_err(|e| FitError::Metrics(melanoscope_shared::errors::error_chain(&e)))
    } else {
        macro_auc_ovr(&labels, &probs, k).map_err(|e| FitError::Metrics(melanoscope_shared::errors::error_chain(&e)))
    }
}

/// Trains `cfg.arch` on `train`, choosing the best epoch on `val`. With `resume`, a run folder
/// holding `state.json` continues after its last finished epoch, bit for bit as if never stopped.
pub fn fit(
    cfg: &FitConfig,
    train: Arc<Vec<Sample>>,
    val: Arc<Vec<Sample>>,
    resume: bool,
) -> Result<FitState, FitError> {
    if cfg.classes < 2 || train.is_empty() || val.is_empty() {
        // The usual cause: a split file that does not list the manifest's patients.
        let hint = if val.is_empty() || train.is_empty() {
            "; the split file must list the manifest's patients in train and validation: make one with \
             `melanoscope-train split --manifest <manifest> --out split.csv` (or --cohort), see the README's split format"
        } else {
            ""
        };
        return Err(FitError::Config(format!(
            "need at least 2 classes and samples to train and validate on (classes {}, train {}, validation {}){hint}",
            cfg.classes,
            train.len(),
            val.len()
        )));
    }
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| io(&cfg.out_dir)(&e))?;
    let (state_path, best) = (cfg.out_dir.join("state.json"), cfg.out_dir.join("best.safetensors"));
    let rng = seed_torch(cfg.init_seed);
    let mut vs = VarStore::new(cfg.device);
    let net = Network::new(&vs.root(), cfg.arch, cfg.classes as i64);
    drop(rng);
    enable_cudnn_benchmark(cfg.device);
    let mut opt = Optimizer::new(cfg.optimizer, cfg.weight_decay, Vec::new());
    let mut state = FitState::default();
    if resume && state_path.exists() {
        let text =
            melanoscope_shared::bounded::read_bounded_text(&state_path, melanoscope_shared::bounded::MAX_STATE_BYTES)
                .map_err(|e| io(&state_path)(&e.into_io()))?;
        state = serde_json::from_str(&text).map_err(|e| io(&state_path)(&e))?;
        let (Some(w), Some(o)) = (&state.last_weights, &state.last_optimizer) else {
            return Err(FitError::Config(format!("{}: names no checkpoint", state_path.display())));
        };
        load_weights(&mut vs, &cfg.out_dir.join(w), &[])?;
        opt.load(&cfg.out_dir.join(o))?;
        tracing::info!(epochs_done = state.epochs_done, "resuming");
    } else if let Some(w) = &cfg.weights {
        let report = load_weights(&mut vs, w, &[cfg.arch.head_prefix()])?;
        tracing::info!(loaded = report.loaded, head = ?report.skipped_head, "pretrained weights");
    }
    // After any load: loading copies values into the variables, keeping their layout.
    cfg.speed.prepare(&vs)?;
    let mut scaler = match cfg.speed.precision {
        Arithmetic::Fp16 => Some(state.loss_scaler.clone().unwrap_or_default()),
        Arithmetic::Fp32 => None,
    };
    let mut counts = vec![0usize; cfg.classes];
    for s in train.iter() {
        if let Some(c) = counts.get_mut(s.class) {
            *c += 1;
        }
    }
    let class_weights = cfg
        .balance_classes
        .then(|| Tensor::from_slice(&balanced_class_weights(&counts)).to_kind(Kind::Float).to_device(cfg.device));
    let steps_per_epoch = train.len().div_ceil(cfg.loader.batch_size.max(1)) as u64;
    let schedule = LrSchedule {
        base_lr: cfg.lr,
        warmup_steps: cfg.warmup_epochs * steps_per_epoch,
        total_steps: cfg.epochs * steps_per_epoch,
        final_fraction: 0.01,
    };
    let bar = match cfg.progress {
        Progress::Bar => crate::progress::bar(steps_per_epoch, "", "steps"),
        _ => indicatif::ProgressBar::hidden(),
    };
    let mut run_here = 0u64;
    while state.epochs_done < cfg.epochs && !state.stopped_early && cfg.stop_after.is_none_or(|m| run_here < m) {
        run_here += 1;
        let epoch = state.epochs_done;
        let started = Instant::now();
        let (groups, train_mode) = groups(cfg.arch, cfg.strategy, epoch);
        opt.groups = groups;
        let (mut unread, mut lr) = (crate::data::loader::Unread::default(), 0.0);
        // Each step's loss stays on the device until the epoch ends (reading it per step would
        // make the host wait for the GPU), with its optimiser step and batch size.
        let (mut losses, mut steps) = (Vec::new(), Vec::new());
        let batches = epoch_batches(train.clone(), &cfg.loader, epoch);
        bar.reset();
        bar.set_message(format!("epoch {}/{}", epoch + 1, cfg.epochs));
        for staged in Feed::new(batches, cfg.loader.size, cfg.device, cfg.loader.prefetch) {
            let staged = staged?;
            bar.inc(1);
            unread.add(&staged.batch.skipped);
            if staged.batch.is_empty() {
                continue;
            }
            let (x, y) = staged.to_device(cfg.device)?;
            lr = schedule.lr(opt.step);
            let settings = StepSettings { class_weights: class_weights.as_ref(), lr, train_mode, speed: cfg.speed };
            steps.push((opt.step, staged.batch.len()));
            losses.push(train_step(&net, &vs, &mut opt, &cfg.speed.layout(x)?, &y, settings, scaler.as_mut())?);
        }
        let losses: Vec<f64> = if losses.is_empty() {
            Vec::new()
        } else {
            Vec::<f64>::try_from(Tensor::f_stack(&losses, 0)?.f_to_kind(Kind::Double)?.f_to_device(Device::Cpu)?)?
        };
        if let Some((&(step, _), value)) = steps.iter().zip(&losses).find(|(_, l)| !l.is_finite()) {
            return Err(FitError::NonFiniteLoss {
                epoch,
                step,
                value: value.to_string(),
                last_good: state.last_weights.clone().map_or_else(
                    || "none (the first epoch; the pretrained or initial weights stand)".into(),
                    |w| cfg.out_dir.join(w).display().to_string(),
                ),
            });
        }
        if unread.count > 0 {
            tracing::warn!("epoch {epoch}: {}", unread.describe("training patches"));
        }
        bar.set_message(format!("epoch {}/{}: validating", epoch + 1, cfg.epochs));
        let val_auc = validation_auc(&net, &val, cfg)?;
        state.history.push(EpochLog {
            epoch,
            // Mean over patches: each step's mean loss weighted by its batch size.
            train_loss: steps.iter().zip(&losses).map(|((_, n), l)| l * *n as f64).sum::<f64>()
                / steps.iter().map(|(_, n)| *n).sum::<usize>().max(1) as f64,
            val_auc,
            lr_end: lr,
            seconds: started.elapsed().as_secs_f64(),
            skipped_samples: unread.count,
        });
        if state.best_val_auc.is_none_or(|b| val_auc > b) {
            (state.best_val_auc, state.best_epoch, state.stale_epochs) = (Some(val_auc), Some(epoch), 0);
            save_weights(&vs, &best)?;
        } else {
            state.stale_epochs += 1;
            state.stopped_early = state.stale_epochs >= cfg.patience.max(1);
        }
        state.epochs_done = epoch + 1;
        state.loss_scaler = scaler.clone();
        let previous = (state.last_weights.take(), state.last_optimizer.take());
        let (w, o) = (format!("last-{epoch}.safetensors"), format!("last-{epoch}.optim.safetensors"));
        save_weights(&vs, &cfg.out_dir.join(&w))?;
        opt.save(&cfg.out_dir.join(&o))?;
        (state.last_weights, state.last_optimizer) = (Some(w), Some(o));
        let json = serde_json::to_vec_pretty(&state).map_err(|e| io(&state_path)(&e))?;
        write_atomic(&state_path, &json).map_err(|e| io(&state_path)(&e))?;
        for old in [previous.0, previous.1].into_iter().flatten() {
            let _ = std::fs::remove_file(cfg.out_dir.join(old));
        }
        tracing::info!(epoch, val_auc, loss = state.history.last().map(|h| h.train_loss), "epoch done");
        if cfg.progress != Progress::Quiet
            && let Some(h) = state.history.last()
        {
            let line = epoch_line(h, cfg.epochs, &state, cfg.patience);
            bar.suspend(|| eprintln!("{line}"));
        }
    }
    bar.finish_and_clear();
    Ok(state)
}

/// One finished epoch as a line: where the run is, its loss, validation AUC, time.
pub fn epoch_line(h: &EpochLog, epochs: u64, state: &FitState, patience: u64) -> String {
    let best = if state.best_epoch == Some(h.epoch) { " (best so far, saved)" } else { "" };
    let stop = if state.stopped_early {
        format!("; stopping: {patience} epochs without a better validation AUC")
    } else {
        String::new()
    };
    format!(
        "epoch {}/{epochs}: train loss {:.4}, validation AUC {:.4}{best}, learning rate {:.2e}, {:.0} s{stop}",
        h.epoch + 1,
        h.train_loss,
        h.val_auc,
        h.lr_end,
        h.seconds
    )
}
