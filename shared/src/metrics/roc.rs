use super::{MetricsError, check_lengths, check_scores};
use alloc::vec;
use alloc::vec::Vec;

/// ROC curve points in order of decreasing threshold. The first point is (0, 0) at
/// threshold +∞; each further point groups every sample with the same score, so tied
/// scores move the curve diagonally and the trapezoidal area counts a tie as half.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub thresholds: Vec<f64>,
}

impl RocCurve {
    /// Area under the curve by the trapezoidal rule (exact for the step curve with ties).
    pub fn area(&self) -> f64 {
        self.fpr.windows(2).zip(self.tpr.windows(2)).map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0).sum()
    }
}

/// ROC curve of `scores` for binary `labels` (true = positive).
pub fn roc_curve(labels: &[bool], scores: &[f64]) -> Result<RocCurve, MetricsError> {
    check_lengths("scores", labels.len(), scores.len())?;
    if labels.is_empty() {
        return Err(MetricsError::Empty);
    }
    check_scores(scores)?;
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = labels.len() - positives;
    if positives == 0 {
        return Err(MetricsError::SingleClass { present: "negatives only" });
    }
    if negatives == 0 {
        return Err(MetricsError::SingleClass { present: "positives only" });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut curve = RocCurve { fpr: vec![0.0], tpr: vec![0.0], thresholds: vec![f64::INFINITY] };
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if labels[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        curve.fpr.push(fp as f64 / negatives as f64);
        curve.tpr.push(tp as f64 / positives as f64);
        curve.thresholds.push(s);
    }
    Ok(curve)
}

/// Area under the ROC curve.
pub fn auc(labels: &[bool], scores: &[f64]) -> Result<f64, MetricsError> {
    Ok(roc_curve(labels, scores)?.area())
}

/// One-vs-rest AUC of each class; `probs` is n × classes, row-major.
pub fn one_vs_rest_auc(labels: &[usize], probs: &[f64], classes: usize) -> Result<Vec<f64>, MetricsError> {
    super::check_prob_matrix(labels, probs, classes)?;
    (0..classes)
        .map(|k| {
            let bin: Vec<bool> = labels.iter().map(|l| *l == k).collect();
            let scores: Vec<f64> = probs.chunks_exact(classes).map(|row| row[k]).collect();
            auc(&bin, &scores)
        })
        .collect()
}

/// Unweighted mean of the one-vs-rest AUCs (scikit-learn `multi_class="ovr", average="macro"`).
pub fn macro_auc_ovr(labels: &[usize], probs: &[f64], classes: usize) -> Result<f64, MetricsError> {
    let per_class = one_vs_rest_auc(labels, probs, classes)?;
    Ok(per_class.iter().sum::<f64>() / classes as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked_auc_with_ties() {
        // Pairs (pos, neg): scores pos {0.8, 0.4}, neg {0.4, 0.1}.
        // 0.8>0.4, 0.8>0.1, 0.4=0.4 (half), 0.4>0.1 -> 3.5/4.
        let auc = auc(&[true, true, false, false], &[0.8, 0.4, 0.4, 0.1]).unwrap();
        assert_eq!(auc, 0.875);
    }

    #[test]
    fn curve_groups_ties() {
        let c = roc_curve(&[true, false, true], &[0.5, 0.5, 0.2]).unwrap();
        assert_eq!(c.thresholds, vec![f64::INFINITY, 0.5, 0.2]);
        assert_eq!(c.tpr, vec![0.0, 0.5, 1.0]);
        assert_eq!(c.fpr, vec![0.0, 1.0, 1.0]);
    }

    #[test]
    fn refuses_degenerate_input() {
        assert_eq!(auc(&[], &[]), Err(MetricsError::Empty));
        assert!(matches!(auc(&[true, true], &[0.1, 0.2]), Err(MetricsError::SingleClass { .. })));
        assert!(matches!(auc(&[false], &[0.1]), Err(MetricsError::SingleClass { .. })));
        assert!(matches!(auc(&[true, false], &[0.1, f64::NAN]), Err(MetricsError::NonFiniteScore { index: 1 })));
        assert!(matches!(auc(&[true, false], &[0.1]), Err(MetricsError::LengthMismatch { .. })));
        assert!(matches!(one_vs_rest_auc(&[0, 5], &[0.0; 6], 3), Err(MetricsError::LabelOutOfRange { .. })));
    }
}
