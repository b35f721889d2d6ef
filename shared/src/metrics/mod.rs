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

pub use aggregate::{Aggregation, aggregate};
pub use bootstrap::{ConfidenceInterval, bootstrap_ci};
pub use confusion::{BinaryConfusion, ClassReport, MultiConfusion};
pub use error::MetricsError;
pub use roc::{RocCurve, auc, macro_auc_ovr, one_vs_rest_auc, roc_curve};
pub use threshold::{ChosenThreshold, ThresholdRule, choose_threshold};

pub(crate) fn check_scores(scores: &[f64]) -> Result<(), MetricsError> {
    if let Some(index) = scores.iter().position(|s| !s.is_finite()) {
        return Err(MetricsError::NonFiniteScore { index });
    }
    Ok(())
}

pub(crate) fn check_lengths(
    what: &'static str,
    labels: usize,
    other: usize,
) -> Result<(), MetricsError> {
    if labels == other {
        Ok(())
    } else {
        Err(MetricsError::LengthMismatch {
            what,
            labels,
            other,
        })
    }
}
