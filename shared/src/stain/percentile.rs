//! Percentiles as NumPy computes them by default (linear interpolation between the two
//! nearest ranks), so that fitted stains match a NumPy implementation of the same method.

/// The `p`-th percentile (0–100) of `values`, which are reordered. `None` for no values.
pub fn percentile(values: &mut [f32], p: f64) -> Option<f32> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let rank = p.clamp(0.0, 100.0) / 100.0 * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let frac = rank - lo as f64;
    let (_, &mut below, above) = values.select_nth_unstable_by(lo, f32::total_cmp);
    let low = f64::from(below);
    if frac == 0.0 || above.is_empty() {
        return Some(below);
    }
    let high = f64::from(above.iter().copied().fold(f32::INFINITY, f32::min));
    Some((low + frac * (high - low)) as f32)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn matches_numpy_linear_interpolation() {
        // numpy.percentile([1, 2, 3, 4], [0, 1, 50, 99, 100]) = 1, 1.03, 2.5, 3.97, 4
        let v = [4.0, 1.0, 3.0, 2.0];
        for (p, want) in [(0.0, 1.0), (1.0, 1.03), (50.0, 2.5), (99.0, 3.97), (100.0, 4.0)] {
            let got = percentile(&mut v.clone(), p).unwrap();
            assert!((got - want).abs() < 1e-6, "p{p}: {got} vs {want}");
        }
        assert_eq!(percentile(&mut [], 50.0), None);
        assert_eq!(percentile(&mut [7.0], 99.0), Some(7.0));
    }
}
