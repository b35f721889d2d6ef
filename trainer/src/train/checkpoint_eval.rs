//! A checkpoint of a binary melanoma task evaluated as the study reports it: its validation
//! and test patches predicted in fp32 (as the exported model computes), thresholds chosen on
//! validation, patch/slide/patient tables on the test patients.

use super::evaluate::{EvaluationError, EvaluationReport, PatchPrediction, evaluate_binary};
use super::mixed::SpeedConfig;
use super::step::predict_samples;
use super::task::{Task, task_rows};
use crate::data::loader::{LoaderConfig, samples_where};
use crate::model::{Arch, WeightsError, load_network};
use melanoscope_shared::metrics::Aggregation;
use melanoscope_slides::manifest::{ManifestError, read_manifest};
use melanoscope_slides::split::{Partition, PatientSplit, SplitError};
use std::path::PathBuf;
use std::sync::Arc;

/// What to evaluate, on what.
#[derive(Debug, Clone)]
pub struct EvaluatePlan {
    pub checkpoint: PathBuf,
    pub arch: Arch,
    pub task: Task,
    pub manifest: PathBuf,
    pub split: PathBuf,
    pub magnification: String,
    /// How patch probabilities become slide and patient ones.
    pub aggregation: Aggregation,
    /// Bootstrap resamples for the intervals.
    pub resamples: usize,
    pub batch_size: usize,
    pub workers: usize,
}

/// The report, and how many patches of each partition could not be read (left out).
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub report: EvaluationReport,
    pub unread: Vec<(Partition, crate::data::loader::Unread)>,
}

/// Why a checkpoint could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateRunError {
    #[error("evaluate handles the binary melanoma tasks (mm-vs-*); {task} has {classes} classes")]
    NotBinary { task: &'static str, classes: usize },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error("checkpoint {path}")]
    Checkpoint { path: PathBuf, source: WeightsError },
    #[error("{0}")]
    PatchSize(String),
    #[error("predicting")]
    Predict(#[from] tch::TchError),
    #[error(transparent)]
    Evaluate(#[from] EvaluationError),
}

/// Evaluates the checkpoint `plan` names on the best device libtorch has.
pub fn evaluate_checkpoint(plan: &EvaluatePlan) -> Result<Evaluated, EvaluateRunError> {
    let task = plan.task;
    if task.classes().len() != 2 {
        return Err(EvaluateRunError::NotBinary { task: task.name(), classes: task.classes().len() });
    }
    let rows = read_manifest(&plan.manifest)?;
    let split = PatientSplit::load(&plan.split)?;
    let device = crate::device::best_device();
    crate::device::share_cores_with_loader(device);
    let (vs, net) = load_network(&plan.checkpoint, plan.arch, 2, device)
        .map_err(|source| EvaluateRunError::Checkpoint { path: plan.checkpoint.clone(), source })?;
    let speed = SpeedConfig::exact_for(device);
    speed.prepare(&vs)?;
    let mut unread = Vec::new();
    let mut predictions = |partition: Partition| -> Result<Vec<PatchPrediction>, EvaluateRunError> {
        let chosen = task_rows(&rows, task, &plan.magnification, &split, partition);
        let samples = Arc::new(samples_where(chosen.iter().copied(), |r| task.class_of(&r.label)));
        let size = if chosen.is_empty() {
            melanoscope_shared::FIELD_SIZE
        } else {
            super::run_info::patch_size_of(chosen.iter().copied())
                .map_err(|e| EvaluateRunError::PatchSize(format!("{}: {e}", plan.manifest.display())))?
        };
        let loader = LoaderConfig::new(plan.batch_size, plan.workers, 0, false, size);
        let bar = crate::progress::bar(0, &format!("evaluate: {} patches", partition.name()), "patches");
        let (probs, missed) = predict_samples(&net, samples.clone(), &loader, device, speed, &bar)?;
        bar.finish_and_clear();
        unread.push((partition, missed));
        Ok(PatchPrediction::from_probabilities(&chosen, &samples, probs))
    };
    let (val, test) = (predictions(Partition::Validation)?, predictions(Partition::Test)?);
    let report = evaluate_binary(&val, &test, plan.aggregation, plan.resamples, 20_261_125)?;
    Ok(Evaluated { report, unread })
}
