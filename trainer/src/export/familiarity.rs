//! The bundle's familiarity statistics: the pooled features of training fields, run through
//! the bundle's own graph in tract (what the edge computes), each also seen through simulated
//! microscope cameras (what the edge is shown), summarised as class means and a
//! shrunk low-rank-plus-isotropic covariance (see `melanoscope_shared::formats::Familiarity`),
//! and a threshold passing a stated share of validation fields.
//!
//! Shrinkage is Ledoit and Wolf's (2004): the sample covariance is pulled toward a multiple of
//! the identity by the intensity their estimator gives for the sample size, so that a few
//! hundred fields in 512 or 2048 dimensions give a well-conditioned matrix. Its leading
//! eigenvectors form the basis; the mean of the remaining shrunk eigenvalues is the residual
//! variance (the maximum-likelihood value of probabilistic PCA).

use super::fields::FieldSet;
use melanoscope_engine::{Engine, EngineError, pooled};
use melanoscope_shared::formats::{Familiarity, FamiliarityScorer, FormatError};
use melanoscope_shared::image::{FieldRect, ImageError, Normalization, TensorLayout, field_to_tensor};
use tch::{Kind, Tensor};

/// What the statistics are estimated from (`--familiarity-fields`, `--familiarity-rank`,
/// `--familiarity-pass`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FamiliarityPlan {
    /// Training fields for the statistics and validation fields for the threshold (each).
    pub fields: usize,
    /// Directions kept of the covariance (fewer when the fields cannot support them).
    pub rank: usize,
    /// Share of validation fields the threshold passes.
    pub pass_share: f64,
    /// Simulated microscope cameras each field is also seen through (the edge sees tissue
    /// through a camera: its blur, colour cast and JPEG must not read as unfamiliar); 0 for
    /// the fields as read only.
    pub cameras: u32,
}

impl Default for FamiliarityPlan {
    fn default() -> Self {
        Self { fields: 256, rank: 64, pass_share: 0.97, cameras: 4 }
    }
}

/// `set` and each of its fields again as one of `cameras` simulated cameras delivers it
/// (field `i` through camera `i % cameras`), normalised as `norm`.
pub fn with_cameras(set: FieldSet, cameras: u32, norm: &Normalization) -> Result<FieldSet, ImageError> {
    if cameras == 0 {
        return Ok(set);
    }
    let mut out = set.clone();
    let side = set.side as u32;
    let per = 3 * set.side * set.side;
    let rect = FieldRect::square(0, 0, side);
    for (i, rgb) in set.rgb.iter().enumerate() {
        let mut seen = rgb.clone();
        super::frames::through_camera(&mut seen, i as u64 % u64::from(cameras))?;
        let start = out.tensor.len();
        out.tensor.resize(start + per, 0.0);
        field_to_tensor(&seen, rect, norm, TensorLayout::Nchw, &mut out.tensor[start..])?;
        out.rgb.push(seen);
        out.classes.push(set.classes[i]);
    }
    Ok(out)
}

/// Why no statistics could be made.
#[derive(Debug, thiserror::Error)]
pub enum FamiliarityError {
    #[error("running the fields")]
    Engine(#[from] EngineError),
    #[error("{fields} training fields cannot describe a distribution; at least {needed} are needed")]
    TooFew { fields: usize, needed: usize },
    #[error("the covariance")]
    Torch(#[from] tch::TchError),
    #[error("the statistics")]
    Format(#[from] FormatError),
    #[error("fields through the simulated cameras")]
    Image(#[from] ImageError),
}

/// The pooled feature vector of every field of `set`, run through `onnx` in tract (`what`
/// labels the progress bar).
pub fn pooled_features(onnx: &[u8], set: &FieldSet, what: &str) -> Result<Vec<Vec<f32>>, EngineError> {
    let engine = Engine::from_onnx(onnx, 1, set.side)?;
    let mut out = melanoscope_engine::Outputs::default();
    let mut all = Vec::with_capacity(set.len());
    let bar = crate::progress::bar(set.len() as u64, what, "fields");
    for i in 0..set.len() {
        engine.run_into(set.tensor_of(i, 1), &mut out)?;
        all.push(pooled(&out.features, out.feature_shape[0]));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(all)
}

/// How the statistics came out, for the export's report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FamiliarityFit {
    pub rank: usize,
    /// Ledoit-Wolf shrinkage intensity (0: the sample covariance, 1: a multiple of identity).
    pub shrinkage: f64,
    /// Share of the shrunk covariance's trace the basis holds.
    pub explained: f64,
    /// Validation fields at or under the threshold.
    pub validation_pass: f64,
}

/// Class means and the shrunk covariance's leading directions from `features` (one vector a
/// training field, `classes[i]` its class); the threshold is left at 1 for [`set_threshold`].
pub fn fit(
    features: &[Vec<f32>],
    classes: &[usize],
    n_classes: usize,
    rank: usize,
) -> Result<(Familiarity, FamiliarityFit), FamiliarityError> {
    let n = features.len();
    let needed = 2 * n_classes + 2;
    if n < needed {
        return Err(FamiliarityError::TooFew { fields: n, needed });
    }
    let c = features[0].len();
    let flat: Vec<f64> = features.iter().flat_map(|f| f.iter().map(|v| f64::from(*v))).collect();
    let x = Tensor::from_slice(&flat).view([n as i64, c as i64]);
    // Class means (a class without training fields takes the overall mean).
    let overall = x.mean_dim(0, false, Kind::Double);
    let mut means = Vec::with_capacity(n_classes);
    let mut centred = x.shallow_clone() * 0.0;
    for k in 0..n_classes {
        let rows: Vec<i64> = (0..n).filter(|i| classes[*i] == k).map(|i| i as i64).collect();
        let mean = if rows.is_empty() {
            overall.shallow_clone()
        } else {
            let idx = Tensor::from_slice(&rows);
            let m = x.index_select(0, &idx).mean_dim(0, false, Kind::Double);
            let _ = centred.index_copy_(0, &idx, &(x.index_select(0, &idx) - &m));
            m
        };
        means.push(mean);
    }
    let dof = (n - n_classes).max(1) as f64;
    let s = centred.transpose(0, 1).matmul(&centred) / dof;
    let trace = f64::try_from(s.trace())?;
    let m = trace / c as f64;
    // Ledoit-Wolf: d² = |S - mI|², b² = min(d², mean over fields of |x xᵀ - S|² / n).
    let eye = Tensor::eye(c as i64, (Kind::Double, tch::Device::Cpu));
    let d2 = f64::try_from((&s - &eye * m).square().sum(Kind::Double))?;
    let norms = centred.square().sum_dim_intlist(1, false, Kind::Double);
    let quad = (centred.matmul(&s) * &centred).sum_dim_intlist(1, false, Kind::Double);
    let s_norm = f64::try_from(s.square().sum(Kind::Double))?;
    let per_field = norms.square() - quad * 2.0 + s_norm;
    let b2 = (f64::try_from(per_field.sum(Kind::Double))? / (n as f64 * n as f64)).min(d2);
    let shrinkage = if d2 > 0.0 { b2 / d2 } else { 1.0 };
    let (eigenvalues, eigenvectors) = s.linalg_eigh("L");
    // eigh sorts ascending; the leading directions are the last columns.
    let values: Vec<f64> = Vec::try_from(eigenvalues.flip([0]))?;
    let vectors = eigenvectors.flip([1]);
    let rank = rank.min(c).min(n - n_classes);
    let shrunk: Vec<f64> = values.iter().map(|l| (1.0 - shrinkage) * l.max(0.0) + shrinkage * m).collect();
    let total: f64 = shrunk.iter().sum();
    let kept: f64 = shrunk[..rank].iter().sum();
    let residual = if c > rank { (total - kept) / (c - rank) as f64 } else { shrunk[c - 1] };
    let basis: Vec<f64> = Vec::try_from(vectors.narrow(1, 0, rank as i64).transpose(0, 1).contiguous().flatten(0, -1))?;
    let mut class_means = Vec::with_capacity(n_classes * c);
    for mean in &means {
        class_means.extend(Vec::<f64>::try_from(mean)?.into_iter().map(|v| v as f32));
    }
    let stats = Familiarity {
        channels: c as u32,
        class_means,
        basis: basis.into_iter().map(|v| v as f32).collect(),
        variances: shrunk[..rank].iter().map(|v| (*v).max(f64::from(f32::MIN_POSITIVE)) as f32).collect(),
        residual_variance: residual.max(f64::from(f32::MIN_POSITIVE)) as f32,
        threshold: 1.0,
        pass_share: 1.0,
        training_fields: n as u32,
        validation_fields: 0,
    };
    let fit = FamiliarityFit {
        rank,
        shrinkage,
        explained: if total > 0.0 { kept / total } else { 0.0 },
        validation_pass: 0.0,
    };
    Ok((stats, fit))
}

/// Sets the threshold to the smallest score that passes `pass_share` of `validation`'s
/// scores, and records how many passed.
pub fn set_threshold(
    stats: &mut Familiarity,
    fit: &mut FamiliarityFit,
    validation: &[Vec<f32>],
    classes: usize,
    pass_share: f64,
) -> Result<(), FamiliarityError> {
    let mut scorer = FamiliarityScorer::new(stats.clone(), classes)?;
    let mut scores: Vec<f32> = validation.iter().filter_map(|f| scorer.score(f)).collect();
    if scores.is_empty() {
        return Err(FamiliarityError::TooFew { fields: 0, needed: 1 });
    }
    scores.sort_by(f32::total_cmp);
    let k = ((pass_share * scores.len() as f64).ceil() as usize).clamp(1, scores.len());
    // A threshold of 0 would fail everything: a floor far under any real score.
    stats.threshold = scores[k - 1].max(1e-6);
    stats.pass_share = pass_share as f32;
    stats.validation_fields = scores.len() as u32;
    fit.validation_pass = scores.iter().filter(|s| **s <= stats.threshold).count() as f64 / scores.len() as f64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use melanoscope_shared::rng::SplitMix64;

    fn gaussian(rng: &mut SplitMix64) -> f32 {
        // Box-Muller from two uniforms in (0, 1].
        let (u, v) = (1.0 - rng.next_f64(), rng.next_f64());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    /// Fields spread along two directions of 32 channels pass; a field as far along another
    /// direction, or of another brightness, does not. The basis is orthonormal.
    #[test]
    fn fields_off_the_training_directions_are_unfamiliar() {
        let mut rng = SplitMix64::new(7);
        let c = 32;
        let sample = |rng: &mut SplitMix64, class: usize| -> Vec<f32> {
            let (a, b) = (3.0 * gaussian(rng), 2.0 * gaussian(rng));
            (0..c)
                .map(|i| {
                    let base = if class == 1 { 1.0 } else { 0.0 };
                    base + a * f32::from(i == 0) + b * f32::from(i == 1) + 0.05 * gaussian(rng)
                })
                .collect()
        };
        let classes: Vec<usize> = (0..200).map(|i| i % 2).collect();
        let train: Vec<Vec<f32>> = classes.iter().map(|k| sample(&mut rng, *k)).collect();
        let (mut stats, mut fit) = fit(&train, &classes, 2, 4).unwrap();
        assert_eq!(fit.rank, 4);
        assert!(fit.shrinkage > 0.0 && fit.shrinkage < 0.5, "{fit:?}");
        assert!(fit.explained > 0.8, "{fit:?}");
        for (i, u) in stats.basis.chunks_exact(c).enumerate() {
            let norm: f32 = u.iter().map(|v| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-4, "direction {i}: {norm}");
        }
        let validation: Vec<Vec<f32>> = (0..100).map(|i| sample(&mut rng, i % 2)).collect();
        set_threshold(&mut stats, &mut fit, &validation, 2, 0.95).unwrap();
        assert!(fit.validation_pass >= 0.95, "{fit:?}");
        let mut scorer = FamiliarityScorer::new(stats, 2).unwrap();
        let mut off = sample(&mut rng, 0);
        off[5] += 3.0;
        let score = scorer.score(&off).unwrap();
        assert!(scorer.unfamiliar(score), "a field 3 along an untrained direction scored {score}");
        let bright: Vec<f32> = sample(&mut rng, 1).iter().map(|v| v + 2.0).collect();
        let score = scorer.score(&bright).unwrap();
        assert!(scorer.unfamiliar(score), "every channel raised by 2 scored {score}");
        assert!(matches!(fit_too_few(), Err(FamiliarityError::TooFew { fields: 3, .. })));
    }

    fn fit_too_few() -> Result<(Familiarity, FamiliarityFit), FamiliarityError> {
        fit(&[vec![0.0; 4], vec![1.0; 4], vec![2.0; 4]], &[0, 1, 0], 2, 2)
    }
}
