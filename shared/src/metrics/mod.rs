//! Classification metrics for the study's tables: confusion matrices, precision, recall,
//! F1, sensitivity, specificity, ROC/AUC with exact tie handling, one-vs-rest and macro
//! averages, seeded bootstrap intervals, slide/patient aggregation and decision thresholds.
//!
//! Needs only `alloc`. Scores are `f64`; a positive prediction is `score >= threshold`.

mod aggregate;
mod bootstrap;
mod confusion;
mod error;
mod roc;
mod threshold;

pub use aggregate::{Aggregation, aggregate, median, top_k_mean};
pub use bootstrap::{ConfidenceInterval, bootstrap_ci};
pub use confusion::{BinaryConfusion, ClassReport, MultiConfusion};
pub use error::MetricsError;
pub use roc::{RocCurve, auc, macro_auc_ovr, one_vs_rest_auc, roc_curve};
pub use threshold::{ChosenThreshold, ThresholdRule, choose_threshold};

/// Reads a number that may have been written as `null`: JSON has no NaN, and serde_json
/// writes an undefined figure (an AUC of one class) as `null`; it reads back as NaN.
pub fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NAN))
}

pub(crate) fn check_scores(scores: &[f64]) -> Result<(), MetricsError> {
    if let Some(index) = scores.iter().position(|s| !s.is_finite()) {
        return Err(MetricsError::NonFiniteScore { index });
    }
    Ok(())
}

pub(crate) fn check_lengths(what: &'static str, labels: usize, other: usize) -> Result<(), MetricsError> {
    if labels == other { Ok(()) } else { Err(MetricsError::LengthMismatch { what, labels, other }) }
}

/// Checks an n × classes probability matrix against its labels: at least two classes, one row
/// per label, finite values, and every label below `classes`.
pub(crate) fn check_prob_matrix(labels: &[usize], probs: &[f64], classes: usize) -> Result<(), MetricsError> {
    if classes < 2 {
        return Err(MetricsError::TooFewClasses(classes));
    }
    check_lengths("probability values (n x classes)", labels.len() * classes, probs.len())?;
    check_scores(probs)?;
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l >= classes) {
        return Err(MetricsError::LabelOutOfRange { label, index, classes });
    }
    Ok(())
}

/// Index of the largest value; the first one wins ties, as numpy's `argmax`.
pub(crate) fn argmax(row: &[f64]) -> usize {
    (0..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best })
}
