//! The study's evaluation of a binary task (melanoma = class 1): patch probabilities are
//! aggregated to slides and patients, a threshold is chosen on validation at each level (Youden)
//! and applied unchanged to test, and AUC, sensitivity, specificity, precision and F1 come with
//! seeded percentile-bootstrap 95% intervals over the units of that level. Each test subtype's
//! positive rate (sensitivity for MM, 1 − specificity for a nevus type) is reported too.

use melanoscope_shared::choice::UnknownChoice;
use melanoscope_shared::metrics::MetricsError;
use melanoscope_shared::metrics::{
    Aggregation, BinaryConfusion, ChosenThreshold, ConfidenceInterval, ThresholdRule, aggregate, auc, bootstrap_ci,
    choose_threshold,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One patch's prediction with what it is grouped by.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPrediction {
    pub slide_id: String,
    pub patient_id: String,
    /// The lesion label (MM, IN, CN, JN), for the per-subtype breakdown.
    pub label: String,
    /// 1 for melanoma, 0 otherwise.
    pub class: usize,
    /// Probability of class 1.
    pub p_melanoma: f64,
}

impl PatchPrediction {
    /// Predictions of the patches `rows` (with their `samples`, in the same order) from class
    /// probabilities; patches that could not be read (`None`) are left out.
    pub fn from_probabilities(
        rows: &[&melanoscope_slides::manifest::ManifestRow],
        samples: &[crate::data::loader::Sample],
        probs: Vec<Option<Vec<f64>>>,
    ) -> Vec<PatchPrediction> {
        rows.iter()
            .zip(samples)
            .zip(probs)
            .filter_map(|((r, s), p)| {
                Some(PatchPrediction {
                    slide_id: r.slide_id.clone(),
                    patient_id: r.patient_id.clone(),
                    label: r.label.clone(),
                    class: s.class,
                    p_melanoma: *p?.get(1)?,
                })
            })
            .collect()
    }
}

/// Metrics at one level (patch, slide or patient).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LevelReport {
    pub level: Level,
    pub units: usize,
    pub positives: usize,
    pub threshold: ChosenThreshold,
    pub auc: ConfidenceInterval,
    pub sensitivity: Option<ConfidenceInterval>,
    pub specificity: Option<ConfidenceInterval>,
    pub precision: Option<ConfidenceInterval>,
    pub f1: Option<ConfidenceInterval>,
    /// Test units of each label called positive, as a fraction.
    pub positive_rate_by_label: BTreeMap<String, f64>,
}

/// The evaluation of one model on one task.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EvaluationReport {
    pub aggregation: Aggregation,
    pub resamples: usize,
    pub levels: Vec<LevelReport>,
}

/// A unit (patch, slide or patient): its label, lesion type and melanoma probability.
#[derive(Debug, Clone)]
struct Unit {
    positive: bool,
    label: String,
    score: f64,
}

/// The level at which a binary task is scored: patches, slides or patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Patch,
    Slide,
    Patient,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Patch, Level::Slide, Level::Patient];

    pub fn name(self) -> &'static str {
        match self {
            Level::Patch => "patch",
            Level::Slide => "slide",
            Level::Patient => "patient",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownChoice> {
        Self::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownChoice::one_of("level", s, Self::ALL.map(Level::name)))
    }
}

melanoscope_shared::from_str_by_parse!(Level);

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Why an evaluation could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error("{level}-level units")]
    Aggregate { level: &'static str, source: MetricsError },
    #[error("{level}-level validation threshold")]
    Threshold { level: &'static str, source: MetricsError },
    #[error("{level}-level test AUC")]
    Auc { level: &'static str, source: MetricsError },
    #[error("{0}")]
    Shape(String),
}

fn units(preds: &[PatchPrediction], level: Level, how: Aggregation) -> Result<Vec<Unit>, EvaluationError> {
    if level == Level::Patch {
        return Ok(preds
            .iter()
            .map(|p| Unit { positive: p.class == 1, label: p.label.clone(), score: p.p_melanoma })
            .collect());
    }
    let key = |p: &PatchPrediction| if level == Level::Slide { p.slide_id.clone() } else { p.patient_id.clone() };
    let keys: Vec<String> = preds.iter().map(key).collect();
    let probs: Vec<f64> = preds.iter().flat_map(|p| [1.0 - p.p_melanoma, p.p_melanoma]).collect();
    // A unit is melanoma when any of its patches is (a patient with one melanoma slide is a
    // melanoma patient); its label is the melanoma one then, else its patches' label.
    let mut truth: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for (k, p) in keys.iter().zip(preds) {
        let e = truth.entry(k.clone()).or_insert((false, p.label.clone()));
        if p.class == 1 && !e.0 {
            *e = (true, p.label.clone());
        }
    }
    let groups = aggregate(&keys, &probs, 2, how)
        .map_err(|source| EvaluationError::Aggregate { level: level.name(), source })?;
    Ok(groups
        .into_iter()
        .map(|(k, p, _)| {
            let (positive, label) = truth.get(&k).cloned().unwrap_or((false, String::new()));
            Unit { positive, label, score: p[1] }
        })
        .collect())
}

/// Test labels (melanoma or not) and melanoma scores of the units of `level` (patch, slide or
/// patient), as the report computed them: for ROC curves and confusion matrices.
pub fn level_scores(
    preds: &[PatchPrediction],
    level: Level,
    how: Aggregation,
) -> Result<(Vec<bool>, Vec<f64>), EvaluationError> {
    Ok(units(preds, level, how)?.into_iter().map(|u| (u.positive, u.score)).unzip())
}

fn ci(n: usize, resamples: usize, seed: u64, f: impl FnMut(&[usize]) -> Option<f64>) -> Option<ConfidenceInterval> {
    bootstrap_ci(n, f, resamples, 0.95, seed).ok()
}

/// Evaluates test predictions with thresholds chosen on validation predictions.
pub fn evaluate_binary(
    validation: &[PatchPrediction],
    test: &[PatchPrediction],
    how: Aggregation,
    resamples: usize,
    seed: u64,
) -> Result<EvaluationReport, EvaluationError> {
    let mut levels = Vec::new();
    for lv in Level::ALL {
        let level = lv.name();
        let (val, tst) = (units(validation, lv, how)?, units(test, lv, how)?);
        let vl: Vec<bool> = val.iter().map(|u| u.positive).collect();
        let vs: Vec<f64> = val.iter().map(|u| u.score).collect();
        let threshold = choose_threshold(&vl, &vs, ThresholdRule::Youden)
            .map_err(|source| EvaluationError::Threshold { level, source })?;
        let labels: Vec<bool> = tst.iter().map(|u| u.positive).collect();
        let scores: Vec<f64> = tst.iter().map(|u| u.score).collect();
        let predicted: Vec<bool> = scores.iter().map(|s| threshold.predict(*s)).collect();
        let confusion = |idx: &[usize]| -> Option<BinaryConfusion> {
            let l: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
            let p: Vec<bool> = idx.iter().map(|&i| predicted[i]).collect();
            BinaryConfusion::from_predictions(&l, &p).ok()
        };
        let n = tst.len();
        let auc_ci = bootstrap_ci(
            n,
            |idx| {
                let l: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
                let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
                auc(&l, &s).ok()
            },
            resamples,
            0.95,
            seed,
        )
        .map_err(|source| EvaluationError::Auc { level, source })?;
        let mut by_label: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (u, p) in tst.iter().zip(&predicted) {
            let e = by_label.entry(u.label.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(*p);
        }
        levels.push(LevelReport {
            level: lv,
            units: n,
            positives: labels.iter().filter(|l| **l).count(),
            threshold,
            auc: auc_ci,
            sensitivity: ci(n, resamples, seed, |i| confusion(i)?.sensitivity()),
            specificity: ci(n, resamples, seed, |i| confusion(i)?.specificity()),
            precision: ci(n, resamples, seed, |i| confusion(i)?.precision()),
            f1: ci(n, resamples, seed, |i| confusion(i)?.f1()),
            positive_rate_by_label: by_label.into_iter().map(|(k, (n, p))| (k, p as f64 / n as f64)).collect(),
        });
    }
    Ok(EvaluationReport { aggregation: how, resamples, levels })
}

fn cell(c: &Option<ConfidenceInterval>) -> String {
    c.as_ref().map_or("n/a".into(), |c| format!("{:.3} ({:.3}–{:.3})", c.estimate, c.lower, c.upper))
}

impl EvaluationReport {
    /// The study-style table in Markdown.
    pub fn markdown(&self, title: &str) -> String {
        let mut s = format!(
            "## {title}\n\nThresholds chosen on validation (Youden) and applied to test; 95% bootstrap intervals over {} resamples of the level's units; aggregation {:?}.\n\n\
             | level | units (MM) | threshold | AUC | sensitivity | specificity | precision | F1 |\n|---|---|---|---|---|---|---|---|\n",
            self.resamples, self.aggregation
        );
        for l in &self.levels {
            let _ = writeln!(
                s,
                "| {} | {} ({}) | {:.3} | {} | {} | {} | {} | {} |",
                l.level,
                l.units,
                l.positives,
                l.threshold.threshold,
                cell(&Some(l.auc)),
                cell(&l.sensitivity),
                cell(&l.specificity),
                cell(&l.precision),
                cell(&l.f1)
            );
        }
        if let Some(note) = self.one_patch_units_note() {
            let _ = writeln!(s, "\n{note}");
        }
        s.push_str("\nTest units called melanoma, by lesion type:\n\n| level | ");
        let labels: Vec<&String> =
            self.levels.first().map(|l| l.positive_rate_by_label.keys().collect()).unwrap_or_default();
        s.push_str(&labels.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(" | "));
        s.push_str(" |\n|---|");
        s.push_str(&"---|".repeat(labels.len()));
        s.push('\n');
        for l in &self.levels {
            let cells: Vec<String> = labels
                .iter()
                .map(|k| l.positive_rate_by_label.get(*k).map_or("n/a".into(), |v| format!("{v:.3}")))
                .collect();
            let _ = writeln!(s, "| {} | {} |", l.level, cells.join(" | "));
        }
        s
    }

    /// A note when the slide or patient rows hold as many units as the patch row: each slide
    /// (patient) is one patch, as in a public patch set with a patient per file. Those rows then
    /// say nothing beyond the patch row, and near-duplicate patches of one lesion may sit on both
    /// sides of the split.
    pub fn one_patch_units_note(&self) -> Option<String> {
        let patches = self.levels.iter().find(|l| l.level == Level::Patch)?.units;
        let same: Vec<&str> = self
            .levels
            .iter()
            .filter(|l| l.level != Level::Patch && l.units == patches)
            .map(|l| l.level.name())
            .collect();
        (!same.is_empty() && patches > 0).then(|| {
            format!(
                "Note: the {} row(s) hold as many test units as the patch row ({patches}): each is a single patch here \
                 (patient ids one per file?). They add nothing beyond the patch row, and near-duplicate patches of one \
                 lesion may lie in both training and test; give each patch its real patient (import-patches --patients).",
                same.join(" and ")
            )
        })
    }

    /// One CSV row per level and metric: level,metric,estimate,lower,upper.
    pub fn csv(&self) -> String {
        let mut s = String::from("level,metric,estimate,lower,upper\n");
        for l in &self.levels {
            for (name, c) in [
                ("auc", Some(l.auc)),
                ("sensitivity", l.sensitivity),
                ("specificity", l.specificity),
                ("precision", l.precision),
                ("f1", l.f1),
            ] {
                match c {
                    Some(c) => {
                        let _ = writeln!(s, "{},{name},{},{},{}", l.level, c.estimate, c.lower, c.upper);
                    }
                    None => {
                        let _ = writeln!(s, "{},{name},,,", l.level);
                    }
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests;
