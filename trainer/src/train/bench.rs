//! Throughput of training and inference, in patches per second: each architecture at each
//! speed setting, on one random batch kept on the device (the network alone) and on batches
//! from the real data pipeline (patches read, augmented, normalised, pinned and copied), plus
//! the pipeline alone. Time is taken between device synchronisations after warm-up steps
//! (which also pay for cuDNN's autotuning).

use super::mixed::{Arithmetic, LossScaler, SpeedConfig, enable_cudnn_benchmark};
use super::optim::{OptimError, Optimizer, OptimizerKind};
use super::step::{StepSettings, predict, train_step};
use crate::data::augment::AugmentConfig;
use crate::data::feed::{Feed, HostBatch};
use crate::data::loader::{LoaderConfig, Sample, epoch_batches, stage_seconds};
use crate::model::{Arch, Network};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Kind, Tensor, nn::VarStore};

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub archs: Vec<Arch>,
    pub speeds: Vec<SpeedConfig>,
    /// Speeds measured with the data pipeline feeding the network (a subset of `speeds`).
    pub pipeline_speeds: Vec<SpeedConfig>,
    pub batch_size: usize,
    pub warmup_steps: usize,
    pub steps: usize,
    pub size: u32,
    pub classes: usize,
    pub device: Device,
    /// Patches and loader settings for the pipeline measurements; `None` skips them.
    pub pipeline: Option<(Arc<Vec<Sample>>, LoaderConfig)>,
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// `-` for the pipeline alone.
    pub arch: String,
    pub speed: String,
    /// `train`, `infer`, `load` (pipeline alone), or a pipeline stage on one thread (`read`,
    /// each augmentation step such as `hsv` or `jpeg`, `planes`).
    pub phase: &'static str,
    /// `random` (one batch on the device), `pipeline`, or `one-thread` (the stages).
    pub data: &'static str,
    pub batch_size: usize,
    pub steps: usize,
    pub seconds: f64,
    pub patches_per_s: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    Optim(#[from] OptimError),
    #[error("the data pipeline ended before a full batch")]
    PipelineEnded,
    #[error("timing the data pipeline's stages")]
    Stages(#[from] crate::data::loader::StageError),
}

fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Full batches from the pipeline, epoch after epoch, for as long as they are asked for.
/// A small patch set is repeated (each repeat read and augmented afresh) until an epoch holds
/// several batches per worker: otherwise every epoch's tail would leave workers idle and the
/// figure would measure epoch boundaries, not the pipeline.
fn pipeline_feed(samples: &Arc<Vec<Sample>>, loader: &LoaderConfig, device: Device) -> Feed {
    let wanted = 4 * loader.workers.max(1) * loader.batch_size.max(1);
    let samples = if samples.len() >= wanted || samples.is_empty() {
        samples.clone()
    } else {
        Arc::new(samples.iter().cycle().take(wanted).cloned().collect())
    };
    let loader = loader.clone();
    let bs = loader.batch_size;
    let size = loader.size;
    let depth = loader.prefetch;
    let batches =
        (0u64..).flat_map(move |epoch| epoch_batches(samples.clone(), &loader, epoch)).filter(move |b| b.len() == bs);
    Feed::new(batches, size, device, depth)
}

fn next_full(feed: &mut Feed) -> Result<HostBatch, BenchError> {
    Ok(feed.next().ok_or(BenchError::PipelineEnded)??)
}

/// Where each step's batch comes from.
enum Source {
    Random(Tensor, Tensor),
    Pipeline(Feed),
}

impl Source {
    fn next(&mut self, device: Device) -> Result<(Tensor, Tensor), BenchError> {
        match self {
            Source::Random(x, y) => Ok((x.shallow_clone(), y.shallow_clone())),
            Source::Pipeline(feed) => Ok(next_full(feed)?.to_device(device)?),
        }
    }
}

fn random_source(cfg: &BenchConfig, speed: SpeedConfig) -> Result<Source, BenchError> {
    let s = i64::from(cfg.size);
    let n = cfg.batch_size as i64;
    // Laid out once: the steps' `speed.layout` then finds it in channels-last already.
    let x = speed.layout(Tensor::f_randn([n, 3, s, s], (Kind::Float, cfg.device))?)?;
    let y = Tensor::f_randint(cfg.classes as i64, [n], (Kind::Int64, cfg.device))?;
    Ok(Source::Random(x, y))
}

/// Warm-up steps for a measurement: with the pipeline, also enough to drain every batch the
/// workers, their queue and the feed made ahead, so that the timed steps see the pipeline's
/// steady rate, not its stock.
fn warmup_steps(cfg: &BenchConfig, pipeline: bool) -> usize {
    match (&cfg.pipeline, pipeline) {
        (Some((_, loader)), true) => cfg.warmup_steps + 3 * loader.prefetch.max(1) + loader.workers,
        _ => cfg.warmup_steps,
    }
}

/// Times `cfg.steps` calls of `step` after `warmup` ones.
fn timed(
    cfg: &BenchConfig,
    warmup: usize,
    mut step: impl FnMut() -> Result<(), BenchError>,
) -> Result<(f64, f64), BenchError> {
    for _ in 0..warmup {
        step()?;
    }
    synchronize(cfg.device);
    let started = Instant::now();
    for _ in 0..cfg.steps {
        step()?;
    }
    synchronize(cfg.device);
    let seconds = started.elapsed().as_secs_f64();
    Ok((seconds, (cfg.steps * cfg.batch_size) as f64 / seconds.max(1e-12)))
}

fn measure(cfg: &BenchConfig, arch: Arch, speed: SpeedConfig, pipeline: bool) -> Result<[BenchRow; 2], BenchError> {
    let rng = crate::model::seed_torch(1);
    let vs = VarStore::new(cfg.device);
    let net = Network::new(&vs.root(), arch, cfg.classes as i64);
    drop(rng);
    speed.prepare(&vs)?;
    let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9, nesterov: true }, 1e-4, vec![]);
    let mut scaler = (speed.precision == Arithmetic::Fp16).then(LossScaler::new);
    // Training batches are augmented; inference batches are not (as in evaluation).
    let source = |cfg: &BenchConfig, training: bool| -> Result<Source, BenchError> {
        match (&cfg.pipeline, pipeline) {
            (Some((samples, loader)), true) => {
                let loader = if training {
                    loader.clone()
                } else {
                    LoaderConfig { augment: AugmentConfig::none(), shuffle: false, ..loader.clone() }
                };
                Ok(Source::Pipeline(pipeline_feed(samples, &loader, cfg.device)))
            }
            _ => random_source(cfg, speed),
        }
    };
    let data = if pipeline { "pipeline" } else { "random" };
    let row = |phase, (seconds, patches_per_s)| BenchRow {
        arch: arch.name().into(),
        speed: speed.name(),
        phase,
        data,
        batch_size: cfg.batch_size,
        steps: cfg.steps,
        seconds,
        patches_per_s,
    };
    let mut src = source(cfg, true)?;
    let warmup = warmup_steps(cfg, pipeline);
    let train = timed(cfg, warmup, || {
        let (x, y) = src.next(cfg.device)?;
        let settings = StepSettings { class_weights: None, lr: 0.01, train_mode: true, speed };
        let _ = train_step(&net, &vs, &mut opt, &speed.layout(x)?, &y, settings, scaler.as_mut())?;
        Ok(())
    })?;
    drop(src);
    let mut src = source(cfg, false)?;
    let infer = timed(cfg, warmup, || {
        let (x, _) = src.next(cfg.device)?;
        let _ = predict(&net, &speed.layout(x)?, speed)?;
        Ok(())
    })?;
    Ok([row("train", train), row("infer", infer)])
}

/// Runs every measurement, handing each row to `report` as it is made.
pub fn run(cfg: &BenchConfig, mut report: impl FnMut(&BenchRow)) -> Result<Vec<BenchRow>, BenchError> {
    enable_cudnn_benchmark(cfg.device);
    let mut rows = Vec::new();
    let mut push = |r: BenchRow, rows: &mut Vec<BenchRow>| {
        report(&r);
        rows.push(r);
    };
    if let Some((samples, loader)) = &cfg.pipeline {
        let mut feed = pipeline_feed(samples, loader, cfg.device);
        let load = timed(cfg, warmup_steps(cfg, true), || next_full(&mut feed).map(drop))?;
        let r = BenchRow {
            arch: "-".into(),
            speed: "-".into(),
            phase: "load",
            data: "pipeline",
            batch_size: cfg.batch_size,
            steps: cfg.steps,
            seconds: load.0,
            patches_per_s: load.1,
        };
        push(r, &mut rows);
        let n = 4 * cfg.batch_size.max(8);
        for (phase, seconds) in stage_seconds(samples, loader, n)? {
            let r = BenchRow {
                arch: "-".into(),
                speed: "-".into(),
                phase,
                data: "one-thread",
                batch_size: 1,
                steps: n,
                seconds: seconds * n as f64,
                patches_per_s: 1.0 / seconds.max(1e-12),
            };
            push(r, &mut rows);
        }
    }
    for &arch in &cfg.archs {
        for &speed in &cfg.speeds {
            for r in measure(cfg, arch, speed, false)? {
                push(r, &mut rows);
            }
            if cfg.pipeline.is_some() && cfg.pipeline_speeds.contains(&speed) {
                for r in measure(cfg, arch, speed, true)? {
                    push(r, &mut rows);
                }
            }
        }
    }
    Ok(rows)
}
