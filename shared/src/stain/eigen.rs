//! Eigenvectors of a symmetric 3×3 matrix (a covariance of optical densities) by cyclic Jacobi
//! rotations: exact to rounding for such a small matrix, no dependency.

/// Eigenvalues in ascending order, with their unit eigenvectors as columns
/// (`vectors[row][k]` belongs to `values[k]`), as NumPy's `eigh` returns them.
pub fn symmetric_eigen(m: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut a = m;
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..64 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        if off < 1e-300 {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q].abs() < 1e-300 {
                continue;
            }
            // The rotation that zeroes a[p][q] (Numerical Recipes' stable form).
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            for row in &mut a {
                let (akp, akq) = (row[p], row[q]);
                row[p] = c * akp - s * akq;
                row[q] = s * akp + c * akq;
            }
            let (row_p, row_q) = (a[p], a[q]);
            a[p] = [0, 1, 2].map(|k| c * row_p[k] - s * row_q[k]);
            a[q] = [0, 1, 2].map(|k| s * row_p[k] + c * row_q[k]);
            for row in &mut v {
                let (vp, vq) = (row[p], row[q]);
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    let mut order = [0usize, 1, 2];
    order.sort_by(|&i, &j| a[i][i].total_cmp(&a[j][j]));
    let values = order.map(|i| a[i][i]);
    let vectors = [0, 1, 2].map(|r| order.map(|i| v[r][i]));
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::symmetric_eigen;

    #[test]
    fn eigenpairs_satisfy_the_definition() {
        let m = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 1.0]];
        let (values, vectors) = symmetric_eigen(m);
        assert!(values[0] <= values[1] && values[1] <= values[2]);
        for k in 0..3 {
            let x = [vectors[0][k], vectors[1][k], vectors[2][k]];
            let norm: f64 = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-12);
            for r in 0..3 {
                let mx: f64 = (0..3).map(|c| m[r][c] * x[c]).sum();
                assert!((mx - values[k] * x[r]).abs() < 1e-10, "row {r} of pair {k}");
            }
        }
        // Trace and a diagonal matrix.
        assert!((values.iter().sum::<f64>() - 8.0).abs() < 1e-10);
        let (d, _) = symmetric_eigen([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]]);
        assert_eq!(d, [1.0, 2.0, 3.0]);
    }
}
