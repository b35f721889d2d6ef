//! How familiar a field is to the model: a description of the training distribution of its
//! pooled features, stored in the bundle, and the score the edge computes from the features it
//! already has for every tissue field (no second network).
//!
//! The description is a Mahalanobis distance under a shrunk, low-rank-plus-isotropic shared
//! covariance (probabilistic PCA): class-conditional means, the `rank` leading eigenvectors of
//! the pooled within-class covariance with their variances, and one variance for everything
//! else. A full covariance of ResNet50's 2048 channels would be 16 MiB and, estimated from a
//! few hundred fields, singular; the low-rank form is what those fields can support, keeps the
//! directions the training data spreads along, and still penalises a field that leaves them
//! (the residual term), which is where other stains and organs go. Scoring costs
//! `(rank + classes + 1) × channels` multiply-adds a field: 135 k for ResNet50 at rank 64,
//! against its 5 G for the field's inference.

use super::FormatError;
use super::error::invalid;
use alloc::format;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

const WHAT: &str = "model bundle metadata";
/// Limits on what a bundle may ask the edge to hold: 4096 channels (VGG19 pools 512, ResNet50
/// 2048), rank 256, 16 classes.
const MAX_CHANNELS: u32 = 4096;
const MAX_RANK: usize = 256;
const MAX_CLASSES: usize = 16;

/// The training distribution of the pooled features and the threshold on its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Familiarity {
    /// Length of the pooled feature vector (the feature map's channels).
    pub channels: u32,
    /// Mean pooled features of each class, classes × channels (row-major).
    pub class_means: Vec<f32>,
    /// Orthonormal directions of the shared covariance, rank × channels (row-major).
    pub basis: Vec<f32>,
    /// Shrunk variance along each direction of `basis`.
    pub variances: Vec<f32>,
    /// Shrunk variance in every direction outside `basis`.
    pub residual_variance: f32,
    /// Score above which a field is unfamiliar.
    pub threshold: f32,
    /// Share of validation fields the threshold was chosen to pass (e.g. 0.95).
    pub pass_share: f32,
    /// Fields the statistics were estimated from (training partition) and the threshold chosen
    /// on (validation partition).
    pub training_fields: u32,
    pub validation_fields: u32,
}

impl Familiarity {
    pub fn rank(&self) -> usize {
        self.variances.len()
    }

    pub fn classes(&self) -> usize {
        self.class_means.len() / (self.channels.max(1) as usize)
    }

    /// Checks sizes and values; the error names the field.
    pub fn validate(&self, classes: usize) -> Result<(), FormatError> {
        let c = self.channels as usize;
        if !(1..=MAX_CHANNELS).contains(&self.channels) {
            let v = self.channels;
            return Err(invalid(WHAT, "familiarity.channels", format!("{v}; expected 1 to {MAX_CHANNELS}")));
        }
        if self.class_means.len() != classes * c || classes > MAX_CLASSES {
            return Err(invalid(
                WHAT,
                "familiarity.class_means",
                format!("{} values; {classes} classes of {c} channels need {}", self.class_means.len(), classes * c),
            ));
        }
        let rank = self.variances.len();
        if rank > MAX_RANK || rank > c {
            return Err(invalid(
                WHAT,
                "familiarity.variances",
                format!("rank {rank}; expected at most {MAX_RANK} and {c}"),
            ));
        }
        if self.basis.len() != rank * c {
            return Err(invalid(
                WHAT,
                "familiarity.basis",
                format!("{} values; rank {rank} of {c} channels needs {}", self.basis.len(), rank * c),
            ));
        }
        if !self.class_means.iter().chain(&self.basis).all(|v| v.is_finite()) {
            return Err(invalid(WHAT, "familiarity", "a mean or basis value is not finite"));
        }
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if let Some(v) = self.variances.iter().chain([&self.residual_variance]).find(|v| !positive(**v)) {
            return Err(invalid(WHAT, "familiarity.variances", format!("{v}; expected above 0")));
        }
        if !positive(self.threshold) {
            let v = self.threshold;
            return Err(invalid(WHAT, "familiarity.threshold", format!("{v}; expected above 0")));
        }
        if !(self.pass_share > 0.0 && self.pass_share <= 1.0) {
            let v = self.pass_share;
            return Err(invalid(WHAT, "familiarity.pass_share", format!("{v}; expected above 0, at most 1")));
        }
        Ok(())
    }
}

/// [`Familiarity`] with what every score reuses computed once: each class mean's projection
/// on the basis and its squared norm. Scoring allocates nothing.
#[derive(Debug, Clone)]
pub struct FamiliarityScorer {
    stats: Familiarity,
    /// classes × rank: `basis · mean_k`.
    mean_projections: Vec<f64>,
    mean_norms: Vec<f64>,
    /// rank: `basis · x` of the field being scored.
    projection: Vec<f64>,
}

impl FamiliarityScorer {
    /// Validates `stats` for a model of `classes` classes.
    pub fn new(stats: Familiarity, classes: usize) -> Result<Self, FormatError> {
        stats.validate(classes)?;
        let c = stats.channels as usize;
        let rank = stats.rank();
        let mut mean_projections = Vec::with_capacity(classes * rank);
        let mut mean_norms = Vec::with_capacity(classes);
        for mean in stats.class_means.chunks_exact(c) {
            mean_projections.extend(stats.basis.chunks_exact(c).map(|u| dot(u, mean)));
            mean_norms.push(dot(mean, mean));
        }
        Ok(Self { stats, mean_projections, mean_norms, projection: alloc::vec![0.0; rank] })
    }

    pub fn stats(&self) -> &Familiarity {
        &self.stats
    }

    /// The field's score: the squared Mahalanobis distance of its pooled features to the
    /// nearest class mean, over the channel count (in-distribution fields score about 1).
    /// `None` when `pooled` is not `channels` long or holds a non-finite value.
    pub fn score(&mut self, pooled: &[f32]) -> Option<f32> {
        let s = &self.stats;
        let c = s.channels as usize;
        if pooled.len() != c || !pooled.iter().all(|v| v.is_finite()) {
            return None;
        }
        for (p, u) in self.projection.iter_mut().zip(s.basis.chunks_exact(c)) {
            *p = dot(u, pooled);
        }
        let norm = dot(pooled, pooled);
        let rank = s.rank();
        let residual = f64::from(s.residual_variance);
        let mut best = f64::INFINITY;
        for (k, mean) in s.class_means.chunks_exact(c).enumerate() {
            // |x - m|² = |x|² - 2 x·m + |m|², in f64: the terms are large and nearly cancel.
            let centred = (norm - 2.0 * dot(pooled, mean) + self.mean_norms[k]).max(0.0);
            let (mut inside, mut along) = (0.0, 0.0);
            for i in 0..rank {
                let d = self.projection[i] - self.mean_projections[k * rank + i];
                inside += d * d;
                along += d * d / f64::from(s.variances[i]);
            }
            let d2 = along + (centred - inside).max(0.0) / residual;
            best = best.min(d2);
        }
        Some((best / c as f64) as f32)
    }

    /// Whether a score is above the threshold.
    pub fn unfamiliar(&self, score: f32) -> bool {
        score > self.stats.threshold
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;

    /// Two channels, one direction: the basis is the x axis with variance 4, the residual (y)
    /// variance 1; classes at (0,0) and (10,0).
    pub(crate) fn stats() -> Familiarity {
        Familiarity {
            channels: 2,
            class_means: vec![0.0, 0.0, 10.0, 0.0],
            basis: vec![1.0, 0.0],
            variances: vec![4.0],
            residual_variance: 1.0,
            threshold: 3.0,
            pass_share: 0.95,
            training_fields: 10,
            validation_fields: 5,
        }
    }

    #[test]
    fn the_score_is_the_distance_to_the_nearest_class_under_the_covariance() {
        let mut s = FamiliarityScorer::new(stats(), 2).unwrap();
        // (2, 0): along the basis, 2²/4 = 1 from class 0, over 2 channels.
        assert!((s.score(&[2.0, 0.0]).unwrap() - 0.5).abs() < 1e-6);
        // (9, 1): nearest class 1: 1²/4 + 1²/1 = 1.25, over 2.
        assert!((s.score(&[9.0, 1.0]).unwrap() - 0.625).abs() < 1e-6);
        // Off the basis costs four times as much as along it.
        let off = s.score(&[0.0, 3.0]).unwrap();
        assert!((off - 4.5).abs() < 1e-6 && s.unfamiliar(off), "{off}");
        let near = s.score(&[4.0, 0.5]).unwrap();
        assert!(!s.unfamiliar(near), "{near}");
        assert_eq!(s.score(&[1.0]), None);
        assert_eq!(s.score(&[f32::NAN, 0.0]), None);
    }

    #[test]
    fn malformed_statistics_are_refused_by_field() {
        let check = |f: &dyn Fn(&mut Familiarity), field: &str| {
            let mut s = stats();
            f(&mut s);
            let err = s.validate(2).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        };
        check(&|s| s.channels = 0, "familiarity.channels");
        check(
            &|s| {
                s.class_means.pop();
            },
            "familiarity.class_means",
        );
        check(&|s| s.basis.push(1.0), "familiarity.basis");
        check(&|s| s.variances[0] = 0.0, "familiarity.variances");
        check(&|s| s.residual_variance = f32::NAN, "familiarity.variances");
        check(&|s| s.threshold = -1.0, "familiarity.threshold");
        check(&|s| s.pass_share = 1.5, "familiarity.pass_share");
        check(&|s| s.class_means[0] = f32::INFINITY, "not finite");
        assert!(stats().validate(3).is_err(), "three classes need three means");
    }
}
