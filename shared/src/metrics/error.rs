use thiserror::Error;

/// Why a metric could not be computed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetricsError {
    #[error("no samples; expected at least one")]
    Empty,
    #[error("{labels} labels but {other} {what}; expected one per label")]
    LengthMismatch { what: &'static str, labels: usize, other: usize },
    #[error("score at index {index} is not finite")]
    NonFiniteScore { index: usize },
    #[error("only one class present ({present}); ROC/AUC needs both positives and negatives")]
    SingleClass { present: &'static str },
    #[error("label {label} at index {index} is out of range; expected a class below {classes}")]
    LabelOutOfRange { label: usize, index: usize, classes: usize },
    #[error("need at least 2 classes, got {0}")]
    TooFewClasses(usize),
    #[error("{what} = {value} is out of range; expected {expected}")]
    BadParameter { what: &'static str, value: f64, expected: &'static str },
    #[error("no ROC point reaches sensitivity {target}")]
    Unreachable { target: f64 },
}
