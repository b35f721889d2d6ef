//! Class probabilities from a model's logits: the one softmax the trainer's reports and the
//! edge's verdicts both use.

/// Softmax with the maximum subtracted (no overflow for large logits), computed in f64. Logits
/// that are not finite (a broken model or input) give the uniform distribution rather than
/// NaN probabilities that would slip past every threshold comparison.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|l| f64::from(l - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        exp.iter().map(|e| e / sum).collect()
    } else {
        vec![1.0 / logits.len().max(1) as f64; logits.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_survives_large_logits_and_refuses_nan() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((p[2] - 0.665_240_955_774_821_6).abs() < 1e-6, "{p:?}");
        let big = softmax(&[1000.0, 0.0]);
        assert!((big[0] - 1.0).abs() < 1e-12 && big[1] < 1e-12, "{big:?}");
        assert_eq!(softmax(&[f32::NAN, 1.0]), vec![0.5, 0.5]);
        assert_eq!(softmax(&[f32::INFINITY, f32::INFINITY]), vec![0.5, 0.5]);
        assert!(softmax(&[]).is_empty());
    }
}
