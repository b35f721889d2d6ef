use super::MetricsError;
use crate::rng::SplitMix64;
use alloc::vec::Vec;

/// A percentile bootstrap interval around a point estimate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfidenceInterval {
    #[serde(deserialize_with = "super::f64_or_nan")]
    pub estimate: f64,
    #[serde(deserialize_with = "super::f64_or_nan")]
    pub lower: f64,
    #[serde(deserialize_with = "super::f64_or_nan")]
    pub upper: f64,
    pub level: f64,
    /// Resamples on which the statistic was defined (an AUC needs both classes).
    pub valid_resamples: usize,
    pub resamples: usize,
}

/// Percentile bootstrap of `statistic` over `n` samples: draws `resamples` index sets of size
/// `n` with replacement (seeded, so the same seed gives the same interval on every platform),
/// evaluates `statistic` on each, and takes the `(1 - level) / 2` and `(1 + level) / 2` quantiles.
/// `statistic` returns `None` where it is undefined for a resample; such resamples are skipped.
/// Resample over slides or patients (not patches) when those are the independent units.
pub fn bootstrap_ci<F>(
    n: usize,
    mut statistic: F,
    resamples: usize,
    level: f64,
    seed: u64,
) -> Result<ConfidenceInterval, MetricsError>
where
    F: FnMut(&[usize]) -> Option<f64>,
{
    if n == 0 {
        return Err(MetricsError::Empty);
    }
    if !(level > 0.0 && level < 1.0) {
        return Err(MetricsError::BadParameter {
            what: "confidence level",
            value: level,
            expected: "a value in (0, 1)",
        });
    }
    if resamples < 2 {
        return Err(MetricsError::BadParameter { what: "resamples", value: resamples as f64, expected: "at least 2" });
    }
    let all: Vec<usize> = (0..n).collect();
    let estimate =
        statistic(&all).ok_or(MetricsError::SingleClass { present: "statistic undefined on the full sample" })?;
    let mut rng = SplitMix64::new(seed);
    let mut idx = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        idx.clear();
        idx.extend((0..n).map(|_| rng.below(n as u64) as usize));
        if let Some(v) = statistic(&idx).filter(|v| v.is_finite()) {
            values.push(v);
        }
    }
    if values.is_empty() {
        return Err(MetricsError::SingleClass { present: "statistic undefined on every resample" });
    }
    values.sort_by(f64::total_cmp);
    let q = |p: f64| {
        // Linear interpolation between order statistics (numpy's default percentile).
        let pos = p * (values.len() - 1) as f64;
        let lo = pos as usize;
        let hi = (lo + 1).min(values.len() - 1);
        let frac = pos - lo as f64;
        values[lo] * (1.0 - frac) + values[hi] * frac
    };
    Ok(ConfidenceInterval {
        estimate,
        lower: q((1.0 - level) / 2.0),
        upper: q((1.0 + level) / 2.0),
        level,
        valid_resamples: values.len(),
        resamples,
    })
}

#[cfg(test)]
mod tests {
    use super::super::auc;
    use super::*;

    fn sample(n: usize, seed: u64) -> (Vec<bool>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|i| {
                let pos = i % 2 == 0;
                (pos, rng.next_f64() + if pos { 0.4 } else { 0.0 })
            })
            .unzip()
    }

    fn auc_ci(labels: &[bool], scores: &[f64], seed: u64) -> ConfidenceInterval {
        bootstrap_ci(
            labels.len(),
            |idx| {
                let l: Vec<bool> = idx.iter().map(|i| labels[*i]).collect();
                let s: Vec<f64> = idx.iter().map(|i| scores[*i]).collect();
                auc(&l, &s).ok()
            },
            500,
            0.95,
            seed,
        )
        .unwrap()
    }

    #[test]
    fn interval_brackets_estimate_and_narrows_with_more_data() {
        let (l, s) = sample(60, 1);
        let small = auc_ci(&l, &s, 9);
        assert!(small.lower <= small.estimate && small.estimate <= small.upper);
        assert!(small.lower > 0.5, "a separable signal's interval stays above chance: {small:?}");
        let (l, s) = sample(1200, 2);
        let big = auc_ci(&l, &s, 9);
        assert!(big.upper - big.lower < (small.upper - small.lower) / 2.0);
    }

    #[test]
    fn seeded_and_skips_undefined_resamples() {
        let (l, s) = sample(6, 3);
        let a = auc_ci(&l, &s, 42);
        assert_eq!(a, auc_ci(&l, &s, 42));
        assert_ne!(a, auc_ci(&l, &s, 43));
        // With six samples some resamples hold one class only and are skipped, not failed.
        assert!(a.valid_resamples < a.resamples);
        assert!(bootstrap_ci(0, |_| Some(1.0), 10, 0.95, 1).is_err());
        assert!(bootstrap_ci(3, |_| Some(1.0), 10, 1.0, 1).is_err());
    }
}
