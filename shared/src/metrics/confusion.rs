use super::{MetricsError, check_lengths};
use alloc::vec;
use alloc::vec::Vec;

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn f1(precision: Option<f64>, recall: Option<f64>) -> Option<f64> {
    match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    }
}

/// Two-class confusion counts (positive = melanoma, or the class of interest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BinaryConfusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

impl BinaryConfusion {
    /// Counts from true labels and predictions.
    pub fn from_predictions(labels: &[bool], predicted: &[bool]) -> Result<Self, MetricsError> {
        check_lengths("predictions", labels.len(), predicted.len())?;
        if labels.is_empty() {
            return Err(MetricsError::Empty);
        }
        let mut c = Self::default();
        for (l, p) in labels.iter().zip(predicted) {
            match (l, p) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (false, false) => c.tn += 1,
                (true, false) => c.fn_ += 1,
            }
        }
        Ok(c)
    }

    /// Counts with predictions `score >= threshold`.
    pub fn at_threshold(labels: &[bool], scores: &[f64], threshold: f64) -> Result<Self, MetricsError> {
        check_lengths("scores", labels.len(), scores.len())?;
        super::check_scores(scores)?;
        let predicted: Vec<bool> = scores.iter().map(|s| *s >= threshold).collect();
        Self::from_predictions(labels, &predicted)
    }

    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// Positive predictive value; `None` when nothing was predicted positive.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }

    /// Sensitivity (true-positive rate); `None` without positives.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn sensitivity(&self) -> Option<f64> {
        self.recall()
    }

    /// True-negative rate; `None` without negatives.
    pub fn specificity(&self) -> Option<f64> {
        ratio(self.tn, self.tn + self.fp)
    }

    pub fn f1(&self) -> Option<f64> {
        f1(self.precision(), self.recall())
    }

    pub fn accuracy(&self) -> Option<f64> {
        ratio(self.tp + self.tn, self.total())
    }
}

/// Per-class precision, recall, F1 and support, as in a classification report.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassReport {
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub support: u64,
}

/// K-class confusion matrix; `counts[truth][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MultiConfusion {
    pub classes: usize,
    pub counts: Vec<Vec<u64>>,
}

impl MultiConfusion {
    pub fn from_predictions(labels: &[usize], predicted: &[usize], classes: usize) -> Result<Self, MetricsError> {
        check_lengths("predictions", labels.len(), predicted.len())?;
        if classes < 2 {
            return Err(MetricsError::TooFewClasses(classes));
        }
        if labels.is_empty() {
            return Err(MetricsError::Empty);
        }
        let mut counts = vec![vec![0u64; classes]; classes];
        for (index, (&l, &p)) in labels.iter().zip(predicted).enumerate() {
            for label in [l, p] {
                if label >= classes {
                    return Err(MetricsError::LabelOutOfRange { label, index, classes });
                }
            }
            counts[l][p] += 1;
        }
        Ok(Self { classes, counts })
    }

    /// Predictions are the arg-max of each row of `probs` (n × classes, row-major).
    pub fn from_probabilities(labels: &[usize], probs: &[f64], classes: usize) -> Result<Self, MetricsError> {
        super::check_prob_matrix(labels, probs, classes)?;
        let predicted: Vec<usize> = probs.chunks_exact(classes).map(super::argmax).collect();
        Self::from_predictions(labels, &predicted, classes)
    }

    /// The one-vs-rest binary counts of `class`.
    pub fn one_vs_rest(&self, class: usize) -> BinaryConfusion {
        let mut c = BinaryConfusion::default();
        for t in 0..self.classes {
            for p in 0..self.classes {
                let n = self.counts[t][p];
                match (t == class, p == class) {
                    (true, true) => c.tp += n,
                    (false, true) => c.fp += n,
                    (false, false) => c.tn += n,
                    (true, false) => c.fn_ += n,
                }
            }
        }
        c
    }

    pub fn report(&self, class: usize) -> ClassReport {
        let b = self.one_vs_rest(class);
        ClassReport { precision: b.precision(), recall: b.recall(), f1: b.f1(), support: b.tp + b.fn_ }
    }

    /// Unweighted mean over classes of (precision, recall, F1); an undefined per-class value
    /// counts as 0, as scikit-learn's default `zero_division` does.
    pub fn macro_average(&self) -> (f64, f64, f64) {
        let k = self.classes as f64;
        let (mut p, mut r, mut f) = (0.0, 0.0, 0.0);
        for c in 0..self.classes {
            let rep = self.report(c);
            p += rep.precision.unwrap_or(0.0);
            r += rep.recall.unwrap_or(0.0);
            f += rep.f1.unwrap_or(0.0);
        }
        (p / k, r / k, f / k)
    }

    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().flatten().sum();
        let diag: u64 = (0..self.classes).map(|c| self.counts[c][c]).sum();
        diag as f64 / total.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked_binary_rates() {
        // 3 TP, 1 FP, 4 TN, 2 FN.
        let labels = [true, true, true, true, true, false, false, false, false, false];
        let pred = [true, true, true, false, false, true, false, false, false, false];
        let c = BinaryConfusion::from_predictions(&labels, &pred).unwrap();
        assert_eq!(c, BinaryConfusion { tp: 3, fp: 1, tn: 4, fn_: 2 });
        assert_eq!(c.precision(), Some(0.75));
        assert_eq!(c.recall(), Some(0.6));
        assert_eq!(c.specificity(), Some(0.8));
        assert!((c.f1().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(c.accuracy(), Some(0.7));
    }

    #[test]
    fn undefined_rates_are_none_not_nan() {
        let c = BinaryConfusion::from_predictions(&[false, false], &[false, false]).unwrap();
        assert_eq!(c.precision(), None);
        assert_eq!(c.recall(), None);
        assert_eq!(c.specificity(), Some(1.0));
        assert!(BinaryConfusion::from_predictions(&[], &[]).is_err());
        assert!(BinaryConfusion::from_predictions(&[true], &[]).is_err());
    }

    #[test]
    fn multiclass_checks_labels() {
        assert!(matches!(
            MultiConfusion::from_predictions(&[0, 3], &[0, 1], 3),
            Err(MetricsError::LabelOutOfRange { label: 3, index: 1, classes: 3 })
        ));
        let m = MultiConfusion::from_predictions(&[0, 1, 2, 2], &[0, 2, 2, 1], 3).unwrap();
        assert_eq!(m.counts, vec![vec![1, 0, 0], vec![0, 0, 1], vec![0, 1, 1]]);
        assert_eq!(m.report(2).precision, Some(0.5));
        assert_eq!(m.accuracy(), 0.5);
    }
}
