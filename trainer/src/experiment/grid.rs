//! Runs architectures × presets: train (resuming a run folder that has one), evaluate on the
//! test patients, write each run's report and figures, and after every run rewrite the
//! combined tables, so an interrupted grid keeps every finished run. A preset without data
//! for one of its classes or partitions is skipped with the reason; a failing run is recorded
//! and the grid goes on. A shard (`--shard K/N`) runs cells i with i mod N = K and writes its
//! tables and `shard.json` record in `shards/K-of-N/`, for `merge`.

use super::Preset;
use super::plots::{confusion_svg, roc_svg};
use crate::model::{Arch, load_network};
use crate::train::evaluate::{EvaluationReport, PatchPrediction, evaluate_binary, level_scores};
use crate::train::fit::{FitConfig, fit};
use crate::train::mixed::SpeedConfig;
use crate::train::multiclass::{MulticlassPrediction, MulticlassReport, evaluate_multiclass};
use crate::train::step::predict_samples;
use crate::train::task::task_rows;
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::metrics::{Aggregation, BinaryConfusion, ConfidenceInterval, roc_curve};
use melanoscope_slides::manifest::ManifestRow;
use melanoscope_slides::shard::Shard;
use melanoscope_slides::split::{Partition, PatientSplit};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct GridConfig {
    pub archs: Vec<Arch>,
    pub presets: Vec<Preset>,
    /// Training settings; `arch`, `classes`, `out_dir` and `weights` are set per run.
    pub fit: FitConfig,
    /// Pretrained weights per architecture: `<dir>/<arch>.safetensors` when present.
    pub weights_dir: Option<PathBuf>,
    pub resamples: usize,
    pub out_dir: PathBuf,
    /// The cells this run takes ([`Shard::WHOLE`]: all).
    pub shard: Shard,
    /// What decides the results (inputs' checksums, grid, training options), recorded by a
    /// shard so `merge` refuses shards run under different settings.
    pub settings: serde_json::Value,
}

/// A shard's record in its folder; written last, so its presence means the shard ended.
pub const SHARD_RECORD: &str = "shard.json";

/// `shards/K-of-N/shard.json` of a grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentShardRecord {
    pub shard: Shard,
    pub settings: serde_json::Value,
    /// Every cell of the grid, in order (`cell_name`).
    pub cells: Vec<String>,
}

/// How a cell is named in errors and shard records: `resnet50 mm-vs-nevi@40X`.
pub fn cell_name(arch: &str, preset: &str) -> String {
    format!("{arch} {preset}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Binary { report: EvaluationReport },
    Multiclass { report: MulticlassReport },
    Skipped { reason: String },
    Failed { error: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub arch: String,
    pub preset: String,
    pub train_patches: usize,
    pub test_patches: usize,
    pub best_val_auc: Option<f64>,
    pub outcome: Outcome,
}

/// Why one run of the grid failed (recorded in its row) or the grid stopped.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("{path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("encoding the experiment table")]
    Json(#[from] serde_json::Error),
    #[error("patch size {0} in the manifest")]
    PatchSize(i32),
    #[error("training")]
    Fit(#[from] crate::train::fit::FitError),
    #[error("loading the best checkpoint")]
    Checkpoint(#[from] crate::model::WeightsError),
    #[error("predicting")]
    Predict(#[from] tch::TchError),
    #[error("evaluating")]
    Evaluate(#[from] crate::train::evaluate::EvaluationError),
    #[error("drawing a figure")]
    Plot(#[from] super::plots::PlotError),
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), GridError> {
    write_atomic(path, bytes).map_err(|source| GridError::Io { path: path.to_path_buf(), source })
}

/// One architecture on one preset.
fn run_one(cfg: &GridConfig, arch: Arch, preset: &Preset, rows: &[ManifestRow], split: &PatientSplit) -> RunResult {
    let task = preset.task;
    let classes = task.classes();
    let part = |p| task_rows(rows, task, &preset.magnification, split, p);
    let (train, val, test) = (part(Partition::Train), part(Partition::Validation), part(Partition::Test));
    let mut result = RunResult {
        arch: arch.name().into(),
        preset: preset.name(),
        train_patches: train.len(),
        test_patches: test.len(),
        best_val_auc: None,
        outcome: Outcome::Skipped { reason: String::new() },
    };
    for (name, part) in [("train", &train), ("validation", &val), ("test", &test)] {
        let missing: Vec<&str> = classes
            .iter()
            .enumerate()
            .filter(|(c, _)| !part.iter().any(|r| task.class_of(&r.label) == Some(*c)))
            .map(|(_, n)| *n)
            .collect();
        if !missing.is_empty() {
            result.outcome = Outcome::Skipped {
                reason: format!("no {name} patches of class {} at {}", missing.join(", "), preset.magnification),
            };
            return result;
        }
    }
    match train_and_evaluate(cfg, arch, preset, [&train, &val, &test], &mut result) {
        Ok(outcome) => result.outcome = outcome,
        Err(error) => result.outcome = Outcome::Failed { error: crate::error_chain(&error) },
    }
    result
}

fn train_and_evaluate(
    cfg: &GridConfig,
    arch: Arch,
    preset: &Preset,
    [train, val, test]: [&Vec<&ManifestRow>; 3],
    result: &mut RunResult,
) -> Result<Outcome, GridError> {
    let task = preset.task;
    let classes = task.classes();
    let dir = cfg.out_dir.join("runs").join(format!("{}-{}", arch.name(), preset.name().replace('@', "-")));
    let samples = |rows: &[&ManifestRow]| {
        Arc::new(crate::data::loader::samples_where(rows.iter().copied(), |r| task.class_of(&r.label)))
    };
    let size = u32::try_from(train[0].patch_size).map_err(|_| GridError::PatchSize(train[0].patch_size))?;
    let weights =
        cfg.weights_dir.as_ref().map(|d| d.join(format!("{}.safetensors", arch.name()))).filter(|p| p.exists());
    let fit_cfg = FitConfig {
        arch,
        classes: classes.len(),
        out_dir: dir.clone(),
        weights,
        loader: crate::data::loader::LoaderConfig { size, ..cfg.fit.loader.clone() },
        // The grid has its bar over the runs: each run's epochs as lines under it.
        progress: cfg.fit.progress.min(crate::train::fit::Progress::Lines),
        ..cfg.fit.clone()
    };
    let (val_s, test_s) = (samples(val), samples(test));
    let state = fit(&fit_cfg, samples(train), val_s.clone(), true)?;
    result.best_val_auc = state.best_val_auc;
    let (vs, net) = load_network(&dir.join("best.safetensors"), arch, classes.len() as i64, fit_cfg.device)?;
    let speed = SpeedConfig::exact_for(fit_cfg.device);
    speed.prepare(&vs)?;
    let probs = |s: &Arc<Vec<crate::data::loader::Sample>>| {
        predict_samples(&net, s.clone(), &fit_cfg.loader, fit_cfg.device, speed, &indicatif::ProgressBar::hidden()).map(
            |(p, unread)| {
                if unread.count > 0 {
                    tracing::warn!("{}: {}", preset.name(), unread.describe("patches"));
                }
                p
            },
        )
    };
    let (val_p, test_p) = (probs(&val_s)?, probs(&test_s)?);
    let title = format!("{}, {}", preset.name(), arch.name());
    if classes.len() == 2 {
        let v = PatchPrediction::from_probabilities(val, &val_s, val_p);
        let t = PatchPrediction::from_probabilities(test, &test_s, test_p);
        let report = evaluate_binary(&v, &t, Aggregation::Mean, cfg.resamples, 20_261_125)?;
        write(&dir.join("report.md"), report.markdown(&title).as_bytes())?;
        write(&dir.join("report.csv"), report.csv().as_bytes())?;
        let mut curves = Vec::new();
        for l in &report.levels {
            let (labels, scores) = level_scores(&t, l.level, Aggregation::Mean)?;
            if let Ok(c) = roc_curve(&labels, &scores) {
                curves.push((l.level.name().to_string(), c));
            }
            if let Ok(m) = BinaryConfusion::at_threshold(&labels, &scores, l.threshold.threshold) {
                let names = vec![classes[0].to_string(), classes[1].to_string()];
                let counts = vec![vec![m.tn, m.fp], vec![m.fn_, m.tp]];
                let svg = confusion_svg(&format!("{title}, {} level", l.level), &names, &counts)?;
                write(&dir.join(format!("confusion-{}.svg", l.level)), svg.as_bytes())?;
            }
        }
        write(&dir.join("roc.svg"), roc_svg(&format!("{title}: test ROC"), &curves)?.as_bytes())?;
        Ok(Outcome::Binary { report })
    } else {
        let preds: Vec<MulticlassPrediction> = test
            .iter()
            .zip(test_s.iter())
            .zip(test_p)
            .filter_map(|((r, s), p)| {
                Some(MulticlassPrediction { slide_id: r.slide_id.clone(), class: s.class, probs: p? })
            })
            .collect();
        let report = evaluate_multiclass(&preds, &classes, cfg.resamples, 20_261_125)?;
        write(&dir.join("report.md"), report.markdown(&title).as_bytes())?;
        for l in &report.levels {
            let svg = confusion_svg(&format!("{title}, {} level", l.level), &report.classes, &l.confusion)?;
            write(&dir.join(format!("confusion-{}.svg", l.level)), svg.as_bytes())?;
        }
        Ok(Outcome::Multiclass { report })
    }
}

fn ci(c: Option<&ConfidenceInterval>) -> String {
    c.map_or("–".into(), |c| format!("{:.3} [{:.3}, {:.3}]", c.estimate, c.lower, c.upper))
}

/// The combined tables: binary runs (AUC, sensitivity, specificity, F1 per level), multi-class
/// runs (macro AUC, accuracy, macro F1), and what was skipped or failed.
pub fn tables(results: &[RunResult]) -> (String, String) {
    let mut md = String::from(
        "## Melanoma vs nevi (test patients; thresholds from validation; 95% bootstrap intervals)\n\n\
         | arch | preset | level | AUC | sensitivity | specificity | F1 |\n|---|---|---|---|---|---|---|\n",
    );
    let mut csv = String::from("arch,preset,level,metric,estimate,lower,upper\n");
    let mut row = |r: &RunResult, level: &str, metric: &str, c: Option<&ConfidenceInterval>| {
        if let Some(c) = c {
            let _ = writeln!(
                csv,
                "{},{},{level},{metric},{:.6},{:.6},{:.6}",
                r.arch, r.preset, c.estimate, c.lower, c.upper
            );
        }
    };
    for r in results {
        if let Outcome::Binary { report } = &r.outcome {
            for l in &report.levels {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    r.arch,
                    r.preset,
                    l.level,
                    ci(Some(&l.auc)),
                    ci(l.sensitivity.as_ref()),
                    ci(l.specificity.as_ref()),
                    ci(l.f1.as_ref())
                );
                for (m, c) in [
                    ("auc", Some(&l.auc)),
                    ("sensitivity", l.sensitivity.as_ref()),
                    ("specificity", l.specificity.as_ref()),
                    ("f1", l.f1.as_ref()),
                ] {
                    row(r, l.level.name(), m, c);
                }
            }
        }
    }
    md.push_str("\n## Among the nevi (arg-max; 95% bootstrap intervals)\n\n| arch | preset | level | macro AUC | accuracy | macro F1 |\n|---|---|---|---|---|---|\n");
    for r in results {
        if let Outcome::Multiclass { report } = &r.outcome {
            for l in &report.levels {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} |",
                    r.arch,
                    r.preset,
                    l.level,
                    ci(l.macro_auc.as_ref()),
                    ci(l.accuracy.as_ref()),
                    ci(l.macro_f1.as_ref())
                );
                for (m, c) in [
                    ("macro_auc", l.macro_auc.as_ref()),
                    ("accuracy", l.accuracy.as_ref()),
                    ("macro_f1", l.macro_f1.as_ref()),
                ] {
                    row(r, &l.level, m, c);
                }
            }
        }
    }
    let others: Vec<String> = results
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Skipped { reason } => Some(format!("- {} {}: skipped: {reason}", r.arch, r.preset)),
            Outcome::Failed { error } => Some(format!("- {} {}: FAILED: {error}", r.arch, r.preset)),
            _ => None,
        })
        .collect();
    if !others.is_empty() {
        let _ = write!(md, "\n## Not run\n\n{}\n", others.join("\n"));
    }
    (md, csv)
}

/// Writes `experiments.{md,csv,json}` for `results` into `dir` (each atomically).
pub fn write_tables(dir: &Path, results: &[RunResult]) -> Result<(), GridError> {
    let (md, csv) = tables(results);
    write(&dir.join("experiments.md"), md.as_bytes())?;
    write(&dir.join("experiments.csv"), csv.as_bytes())?;
    write(&dir.join("experiments.json"), &serde_json::to_vec_pretty(results)?)
}

/// Runs the grid's cells (the shard's) over `rows` split by `split`, calling `progress` after
/// each run and rewriting the tables.
pub fn run_grid(
    cfg: &GridConfig,
    rows: &[ManifestRow],
    split: &PatientSplit,
    mut progress: impl FnMut(&RunResult),
) -> Result<Vec<RunResult>, GridError> {
    let tables_dir = if cfg.shard.is_whole() { cfg.out_dir.clone() } else { cfg.shard.folder(&cfg.out_dir) };
    std::fs::create_dir_all(&tables_dir).map_err(|source| GridError::Io { path: tables_dir.clone(), source })?;
    let cells: Vec<(Arch, &Preset)> =
        cfg.archs.iter().flat_map(|&arch| cfg.presets.iter().map(move |p| (arch, p))).collect();
    let mut results = Vec::new();
    for (i, &(arch, preset)) in cells.iter().enumerate() {
        if !cfg.shard.owns_cell(i) {
            continue;
        }
        let r = run_one(cfg, arch, preset, rows, split);
        progress(&r);
        results.push(r);
        write_tables(&tables_dir, &results)?;
    }
    if !cfg.shard.is_whole() {
        // A shard with no cell (more tasks than cells) still says it ran.
        if results.is_empty() {
            write_tables(&tables_dir, &results)?;
        }
        let record = ExperimentShardRecord {
            shard: cfg.shard,
            settings: cfg.settings.clone(),
            cells: cells.iter().map(|(a, p)| cell_name(a.name(), &p.name())).collect(),
        };
        write(&tables_dir.join(SHARD_RECORD), &serde_json::to_vec_pretty(&record)?)?;
    }
    Ok(results)
}
