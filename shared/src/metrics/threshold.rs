use super::{MetricsError, roc_curve};

/// How the decision threshold is picked on validation data.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ThresholdRule {
    /// Maximise Youden's J = sensitivity + specificity − 1; ties go to the higher threshold.
    Youden,
    /// The highest threshold whose sensitivity reaches the target (so specificity is as high
    /// as the sensitivity requirement allows). Screening usually wants 0.95 or more.
    TargetSensitivity(f64),
}

/// A threshold and the operating point it had on the data it was chosen on.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChosenThreshold {
    pub rule: ThresholdRule,
    #[serde(deserialize_with = "super::f64_or_nan")]
    pub threshold: f64,
    #[serde(deserialize_with = "super::f64_or_nan")]
    pub sensitivity: f64,
    #[serde(deserialize_with = "super::f64_or_nan")]
    pub specificity: f64,
}

impl ChosenThreshold {
    /// Applies the threshold unchanged (to test data): positive when `score >= threshold`.
    pub fn predict(&self, score: f64) -> bool {
        score >= self.threshold
    }
}

/// Chooses a threshold on validation `labels`/`scores` by `rule`. Only observed scores are
/// candidates, so the threshold always corresponds to a point on the validation ROC curve.
pub fn choose_threshold(labels: &[bool], scores: &[f64], rule: ThresholdRule) -> Result<ChosenThreshold, MetricsError> {
    if let ThresholdRule::TargetSensitivity(t) = rule
        && !(t > 0.0 && t <= 1.0)
    {
        return Err(MetricsError::BadParameter { what: "target sensitivity", value: t, expected: "a value in (0, 1]" });
    }
    let curve = roc_curve(labels, scores)?;
    // Skip the +inf point: a threshold that calls nothing positive is no decision rule.
    let points = (1..curve.thresholds.len()).map(|i| (curve.thresholds[i], curve.tpr[i], curve.fpr[i]));
    let mut best: Option<(f64, f64, f64)> = None;
    for (thr, tpr, fpr) in points {
        match rule {
            ThresholdRule::Youden => {
                if best.is_none_or(|(_, bt, bf)| tpr - fpr > bt - bf) {
                    best = Some((thr, tpr, fpr));
                }
            }
            ThresholdRule::TargetSensitivity(target) => {
                // Thresholds fall along the curve, so the first to reach the target is the highest.
                if tpr + 1e-12 >= target {
                    best = Some((thr, tpr, fpr));
                    break;
                }
            }
        }
    }
    let (threshold, sensitivity, fpr) = best.ok_or(match rule {
        ThresholdRule::TargetSensitivity(target) => MetricsError::Unreachable { target },
        ThresholdRule::Youden => MetricsError::Empty,
    })?;
    Ok(ChosenThreshold { rule, threshold, sensitivity, specificity: 1.0 - fpr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn youden_and_target_sensitivity_hand_worked() {
        let labels = [true, true, true, false, true, false, false, false];
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2];
        // J at 0.7: 3/4 - 0 = 0.75; at 0.5: 1 - 1/4 = 0.75 -> tie, keep the higher threshold.
        let y = choose_threshold(&labels, &scores, ThresholdRule::Youden).unwrap();
        assert_eq!((y.threshold, y.sensitivity, y.specificity), (0.7, 0.75, 1.0));
        let s = choose_threshold(&labels, &scores, ThresholdRule::TargetSensitivity(1.0)).unwrap();
        assert_eq!((s.threshold, s.sensitivity, s.specificity), (0.5, 1.0, 0.75));
        assert!(s.predict(0.5) && !s.predict(0.49));
        assert!(choose_threshold(&labels, &scores, ThresholdRule::TargetSensitivity(1.5)).is_err());
        assert!(choose_threshold(&labels, &scores, ThresholdRule::TargetSensitivity(f64::NAN)).is_err());
    }
}
