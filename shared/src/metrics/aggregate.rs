use super::{MetricsError, check_lengths, check_scores};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

/// How patch probabilities become one slide- or patient-level probability vector.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Aggregation {
    /// Mean probability of each class over the group's patches.
    Mean,
    /// Fraction of patches whose arg-max is each class.
    MajorityVote,
    /// Mean of the `k` highest probabilities of each class (a focal lesion in a large slide
    /// is not averaged away); groups with fewer than `k` patches use all of them.
    TopKMean(usize),
}

/// Groups rows of `probs` (n × classes, row-major) by `keys` and aggregates each group.
/// Returns the groups sorted by key with their aggregated probabilities and patch counts.
pub fn aggregate<K: Ord + Clone>(
    keys: &[K],
    probs: &[f64],
    classes: usize,
    how: Aggregation,
) -> Result<Vec<(K, Vec<f64>, usize)>, MetricsError> {
    if classes == 0 {
        return Err(MetricsError::TooFewClasses(0));
    }
    check_lengths("probability values (n x classes)", keys.len() * classes, probs.len())?;
    if keys.is_empty() {
        return Err(MetricsError::Empty);
    }
    check_scores(probs)?;
    if let Aggregation::TopKMean(0) = how {
        return Err(MetricsError::BadParameter { what: "top-k", value: 0.0, expected: "k >= 1" });
    }
    let mut groups: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        groups.entry(k.clone()).or_default().push(i);
    }
    let row = |i: usize| &probs[i * classes..(i + 1) * classes];
    Ok(groups
        .into_iter()
        .map(|(key, rows)| {
            let n = rows.len();
            let mut out = vec![0.0; classes];
            match how {
                Aggregation::Mean => {
                    for &r in &rows {
                        out.iter_mut().zip(row(r)).for_each(|(o, p)| *o += p);
                    }
                    out.iter_mut().for_each(|o| *o /= n as f64);
                }
                Aggregation::MajorityVote => {
                    for &r in &rows {
                        out[super::argmax(row(r))] += 1.0;
                    }
                    out.iter_mut().for_each(|o| *o /= n as f64);
                }
                Aggregation::TopKMean(k) => {
                    let mut column = Vec::with_capacity(n);
                    for (c, o) in out.iter_mut().enumerate() {
                        column.clear();
                        column.extend(rows.iter().map(|&r| row(r)[c]));
                        *o = top_k_mean(&mut column, k);
                    }
                }
            }
            (key, out, n)
        })
        .collect())
}

/// Mean of the `k` largest of `values` (all of them when there are fewer than `k`; `k` = 0
/// counts as 1); 0 for no values. Reorders `values` (largest first).
pub fn top_k_mean(values: &mut [f64], k: usize) -> f64 {
    values.sort_by(|a, b| b.total_cmp(a));
    let take = k.clamp(1, values.len().max(1)).min(values.len());
    if take == 0 {
        return 0.0;
    }
    values[..take].iter().sum::<f64>() / take as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_mean_takes_the_largest_and_copes_with_few_values() {
        assert!((top_k_mean(&mut [0.1, 0.9, 0.5, 0.7], 2) - 0.8).abs() < 1e-12);
        assert!((top_k_mean(&mut [0.2, 0.4], 5) - 0.3).abs() < 1e-12, "fewer than k: all of them");
        assert!((top_k_mean(&mut [0.2, 0.4], 0) - 0.4).abs() < 1e-12);
        assert_eq!(top_k_mean(&mut [], 3), 0.0);
    }

    #[test]
    fn hand_worked_aggregations() {
        // Slide A: melanoma probabilities 0.9, 0.2, 0.1; slide B: 0.6.
        let keys = ["A", "A", "B", "A"];
        let probs = [0.1, 0.9, 0.8, 0.2, 0.4, 0.6, 0.9, 0.1];
        let mean = aggregate(&keys, &probs, 2, Aggregation::Mean).unwrap();
        assert_eq!(mean[0].0, "A");
        assert_eq!(mean[0].2, 3);
        assert!((mean[0].1[1] - 0.4).abs() < 1e-12);
        assert!((mean[1].1[1] - 0.6).abs() < 1e-12);
        let vote = aggregate(&keys, &probs, 2, Aggregation::MajorityVote).unwrap();
        assert!((vote[0].1[1] - 1.0 / 3.0).abs() < 1e-12);
        let top = aggregate(&keys, &probs, 2, Aggregation::TopKMean(2)).unwrap();
        assert!((top[0].1[1] - 0.55).abs() < 1e-12);
        assert!((top[1].1[1] - 0.6).abs() < 1e-12, "a group smaller than k uses all its patches");
        assert!(aggregate(&keys, &probs[..7], 2, Aggregation::Mean).is_err());
        assert!(aggregate(&keys, &probs, 2, Aggregation::TopKMean(0)).is_err());
    }
}
