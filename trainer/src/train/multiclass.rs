//! Evaluation of a task of more than two classes (the three nevi): the predicted class is the
//! arg-max (no threshold to choose), at patch and slide level (mean probabilities per slide),
//! with accuracy, macro F1 and macro one-vs-rest AUC under 95% bootstrap intervals, each
//! class's sensitivity, specificity, precision, F1 and AUC, and the confusion matrix.

use super::evaluate::EvaluationError;
use melanoscope_shared::metrics::{
    Aggregation, ConfidenceInterval, MultiConfusion, aggregate, bootstrap_ci, macro_auc_ovr, one_vs_rest_auc,
};
use serde::Serialize;
use std::fmt::Write as _;

/// One patch: slide, true class and class probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct MulticlassPrediction {
    pub slide_id: String,
    pub class: usize,
    pub probs: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    pub support: usize,
    pub sensitivity: Option<f64>,
    pub specificity: Option<f64>,
    pub precision: Option<f64>,
    pub f1: Option<f64>,
    pub auc: Option<f64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MulticlassLevel {
    pub level: String,
    pub units: usize,
    pub accuracy: Option<ConfidenceInterval>,
    pub macro_f1: Option<ConfidenceInterval>,
    pub macro_auc: Option<ConfidenceInterval>,
    pub per_class: Vec<ClassMetrics>,
    /// Rows: true class; columns: predicted class.
    pub confusion: Vec<Vec<u64>>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MulticlassReport {
    pub classes: Vec<String>,
    pub levels: Vec<MulticlassLevel>,
}

fn level(name: &str, labels: &[usize], probs: &[f64], k: usize, resamples: usize, seed: u64) -> MulticlassLevel {
    let n = labels.len();
    let confusion = |idx: &[usize]| {
        let l: Vec<usize> = idx.iter().map(|&i| labels[i]).collect();
        let p: Vec<f64> = idx.iter().flat_map(|&i| probs[i * k..(i + 1) * k].iter().copied()).collect();
        MultiConfusion::from_probabilities(&l, &p, k).ok().map(|m| (m, l, p))
    };
    let ci = |f: &dyn Fn(&[usize]) -> Option<f64>| bootstrap_ci(n, f, resamples, 0.95, seed).ok();
    let accuracy = ci(&|idx| confusion(idx).filter(|_| !idx.is_empty()).map(|(m, ..)| m.accuracy()));
    let macro_f1 = ci(&|idx| confusion(idx).filter(|_| !idx.is_empty()).map(|(m, ..)| m.macro_average().2));
    let macro_auc = ci(&|idx| confusion(idx).and_then(|(_, l, p)| macro_auc_ovr(&l, &p, k).ok()));
    let all: Vec<usize> = (0..n).collect();
    let aucs = one_vs_rest_auc(labels, probs, k).ok();
    let (per_class, counts) = match confusion(&all) {
        Some((m, ..)) => (
            (0..k)
                .map(|c| {
                    let (r, b) = (m.report(c), m.one_vs_rest(c));
                    ClassMetrics {
                        class: c.to_string(),
                        support: r.support as usize,
                        sensitivity: b.sensitivity(),
                        specificity: b.specificity(),
                        precision: r.precision,
                        f1: b.f1(),
                        auc: aucs.as_ref().and_then(|a| a.get(c).copied()).filter(|v| v.is_finite()),
                    }
                })
                .collect(),
            m.counts,
        ),
        None => (Vec::new(), vec![vec![0; k]; k]),
    };
    MulticlassLevel { level: name.into(), units: n, accuracy, macro_f1, macro_auc, per_class, confusion: counts }
}

/// Evaluates `test` for the classes named `classes` at patch and slide level.
pub fn evaluate_multiclass(
    test: &[MulticlassPrediction],
    classes: &[&str],
    resamples: usize,
    seed: u64,
) -> Result<MulticlassReport, EvaluationError> {
    let k = classes.len();
    if k < 2 {
        return Err(EvaluationError::Shape(format!("{k} classes; a multi-class evaluation needs at least 2")));
    }
    if let Some(p) = test.iter().find(|p| p.probs.len() != k || p.class >= k) {
        return Err(EvaluationError::Shape(format!(
            "slide {}: {} probabilities for class {}; expected {k} classes",
            p.slide_id,
            p.probs.len(),
            p.class
        )));
    }
    let labels: Vec<usize> = test.iter().map(|p| p.class).collect();
    let probs: Vec<f64> = test.iter().flat_map(|p| p.probs.iter().copied()).collect();
    let mut levels = vec![level("patch", &labels, &probs, k, resamples, seed)];
    let keys: Vec<String> = test.iter().map(|p| p.slide_id.clone()).collect();
    let groups = aggregate(&keys, &probs, k, Aggregation::Mean)
        .map_err(|source| EvaluationError::Aggregate { level: "slide", source })?;
    let truth: std::collections::BTreeMap<&str, usize> = test.iter().map(|p| (p.slide_id.as_str(), p.class)).collect();
    let slide_labels: Vec<usize> =
        groups.iter().map(|(key, _, _)| truth.get(key.as_str()).copied().unwrap_or(0)).collect();
    let slide_probs: Vec<f64> = groups.iter().flat_map(|(_, p, _)| p.iter().copied()).collect();
    levels.push(level("slide", &slide_labels, &slide_probs, k, resamples, seed));
    for l in &mut levels {
        for (c, m) in l.per_class.iter_mut().enumerate() {
            m.class = classes[c].to_string();
        }
    }
    Ok(MulticlassReport { classes: classes.iter().map(|c| c.to_string()).collect(), levels })
}

fn cell(c: &Option<ConfidenceInterval>) -> String {
    c.as_ref().map_or("–".into(), |c| format!("{:.3} [{:.3}, {:.3}]", c.estimate, c.lower, c.upper))
}

impl MulticlassReport {
    pub fn markdown(&self, title: &str) -> String {
        let mut s =
            format!("### {title}\n\n| level | units | accuracy | macro F1 | macro AUC |\n|---|---|---|---|---|\n");
        for l in &self.levels {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                l.level,
                l.units,
                cell(&l.accuracy),
                cell(&l.macro_f1),
                cell(&l.macro_auc)
            );
        }
        for l in &self.levels {
            let _ = write!(
                s,
                "\n{}-level, per class (rows true, columns predicted: {}):\n\n| class | n | sensitivity | specificity | F1 | AUC | confusion row |\n|---|---|---|---|---|---|---|\n",
                l.level,
                self.classes.join(", ")
            );
            let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.3}"));
            for (m, row) in l.per_class.iter().zip(&l.confusion) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {:?} |",
                    m.class,
                    m.support,
                    f(m.sensitivity),
                    f(m.specificity),
                    f(m.f1),
                    f(m.auc),
                    row
                );
            }
        }
        s
    }
}
