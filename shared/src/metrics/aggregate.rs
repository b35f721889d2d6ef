use super::{MetricsError, check_lengths, check_scores};
use crate::choice::UnknownChoice;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// How many probabilities become one: a slide's or patient's from its patches (the trainer's
/// tables), a frame's from its tissue fields (the edge, and the bundle's frame threshold).
/// Spelled `mean`, `top-K` or `majority-vote` in settings, options and reports.
///
/// The variants' order is part of the bundle format (`Mean` 0 and `TopK` 1 were written by
/// exporters before `MajorityVote` joined them): add new ones at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Aggregation {
    /// The mean probability (of each class) over the group.
    Mean,
    /// The mean of the `k` highest probabilities of each class (a focal lesion is not averaged
    /// away by the benign tissue around it); groups with fewer than `k` use all of them.
    TopK(u16),
    /// The share of the group whose arg-max is each class (for single probabilities: the share
    /// at or above 0.5).
    MajorityVote,
}

crate::from_str_by_parse!(Aggregation);

impl Aggregation {
    /// `mean`, `top-K` (K at least 1) or `majority-vote`, any case.
    pub fn parse(s: &str) -> Result<Self, UnknownChoice> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "mean" => Ok(Aggregation::Mean),
            "majority-vote" => Ok(Aggregation::MajorityVote),
            _ => match t.strip_prefix("top-").map(str::parse::<u16>) {
                Some(Ok(k)) if k > 0 => Ok(Aggregation::TopK(k)),
                _ => Err(UnknownChoice::new(
                    "aggregation",
                    s,
                    "mean, majority-vote or top-K with K from 1 to 65535 (e.g. top-3)",
                )),
            },
        }
    }

    /// How settings and reports name it: `mean`, `top-3`, `majority-vote`.
    pub fn name(self) -> String {
        match self {
            Aggregation::Mean => "mean".into(),
            Aggregation::TopK(k) => format!("top-{k}"),
            Aggregation::MajorityVote => "majority-vote".into(),
        }
    }

    /// One probability from `probabilities` (a frame's fields' positive-class probabilities;
    /// reordered, largest first, for top-k); 0 for none.
    pub fn apply(self, probabilities: &mut [f64]) -> f64 {
        let n = probabilities.len().max(1) as f64;
        match self {
            Aggregation::Mean => probabilities.iter().sum::<f64>() / n,
            Aggregation::TopK(k) => top_k_mean(probabilities, usize::from(k)),
            Aggregation::MajorityVote => probabilities.iter().filter(|p| **p >= 0.5).count() as f64 / n,
        }
    }
}

impl core::fmt::Display for Aggregation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(&self.name())
    }
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
    if let Aggregation::TopK(0) = how {
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
                Aggregation::TopK(k) => {
                    let mut column = Vec::with_capacity(n);
                    for (c, o) in out.iter_mut().enumerate() {
                        column.clear();
                        column.extend(rows.iter().map(|&r| row(r)[c]));
                        *o = top_k_mean(&mut column, usize::from(k));
                    }
                }
            }
            (key, out, n)
        })
        .collect())
}

/// The median of `values` (of an even count, the mean of the middle two); `None` for none.
/// Every median the project reports (timings in `tune` and `bench`, familiarity scores) is this.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n.is_multiple_of(2) => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        _ => Some(v[n / 2]),
    }
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
    /// One spelling for the edge's setting, the export option and the tables; the old frame
    /// rule's bundle encoding (Mean = 0, TopK = 1) holds.
    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5), "the mean of the middle two");
    }

    #[test]
    fn aggregation_parses_names_applies_and_keeps_the_bundle_encoding() {
        for (text, rule) in
            [("mean", Aggregation::Mean), ("TOP-3", Aggregation::TopK(3)), ("majority-vote", Aggregation::MajorityVote)]
        {
            assert_eq!(Aggregation::parse(text), Ok(rule));
            assert_eq!(Aggregation::parse(&rule.name()), Ok(rule));
        }
        for bad in ["top-0", "top-k", "median", "top-70000"] {
            let e = Aggregation::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("top-K"), "{e}");
        }
        assert!((Aggregation::TopK(2).apply(&mut [0.2, 0.4, 0.9]) - 0.65).abs() < 1e-12);
        assert!((Aggregation::MajorityVote.apply(&mut [0.2, 0.5, 0.9, 0.1]) - 0.5).abs() < 1e-12);
        assert_eq!(postcard::to_allocvec(&Aggregation::Mean).unwrap(), [0]);
        assert_eq!(postcard::to_allocvec(&Aggregation::TopK(3)).unwrap(), [1, 3]);
    }

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
        let top = aggregate(&keys, &probs, 2, Aggregation::TopK(2)).unwrap();
        assert!((top[0].1[1] - 0.55).abs() < 1e-12);
        assert!((top[1].1[1] - 0.6).abs() < 1e-12, "a group smaller than k uses all its patches");
        assert!(aggregate(&keys, &probs[..7], 2, Aggregation::Mean).is_err());
        assert!(aggregate(&keys, &probs, 2, Aggregation::TopK(0)).is_err());
    }
}
