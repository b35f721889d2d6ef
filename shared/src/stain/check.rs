//! Whether a fitted stain is plausible as the model's H&E: the angles between the fitted
//! haematoxylin and eosin vectors and the target's, each against its own limit. Special stains
//! keep the haematoxylin counterstain and replace the eosin (PAS's magenta, DAB's brown,
//! trichrome's blue), so the eosin vector is the one that tells them; haematoxylins differ
//! more from lab to lab (Harris', Mayer's, Gill's; the bluing) than eosin Y does, so its
//! limit is wider.

use super::MacenkoStain;
use alloc::format;
use alloc::string::String;
use serde::{Deserialize, Serialize};

/// The largest angles, in degrees, of fitted vectors from the target's that are still H&E.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StainLimits {
    pub haematoxylin_deg: f32,
    pub eosin_deg: f32,
}

impl Default for StainLimits {
    fn default() -> Self {
        StainLimits { haematoxylin_deg: 15.0, eosin_deg: 6.0 }
    }
}

/// How far a fitted stain lies from a target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StainDeviation {
    /// Angles in degrees between the fitted and the target vectors: `[haematoxylin, eosin]`.
    pub angles_deg: [f32; 2],
    /// Each stain's maximum concentration over the target's (1 for the same strength).
    pub strength: [f32; 2],
}

fn angle_deg(a: [f32; 3], b: [f32; 3]) -> f32 {
    let dot = |u: [f32; 3], v: [f32; 3]| u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    let n = (dot(a, a) * dot(b, b)).sqrt();
    // A zero (or NaN) vector has no direction: as far as can be.
    if n.is_nan() || n <= 1e-12 {
        return 180.0;
    }
    (dot(a, b) / n).clamp(-1.0, 1.0).acos().to_degrees()
}

impl StainDeviation {
    pub fn of(fitted: &MacenkoStain, target: &MacenkoStain) -> Self {
        StainDeviation {
            angles_deg: [0, 1].map(|k| angle_deg(fitted.stains[k], target.stains[k])),
            strength: [0, 1].map(|k| fitted.max_concentrations[k] / target.max_concentrations[k].max(1e-6)),
        }
    }

    /// The larger of the two angles (NaN counts as the largest).
    pub fn worst_angle(&self) -> f32 {
        let [h, e] = self.angles_deg;
        if h.is_nan() || e.is_nan() { 180.0 } else { h.max(e) }
    }

    /// The larger of each angle over its limit: at most 1 for H&E (NaN counts as the largest).
    pub fn excess(&self, limits: &StainLimits) -> f32 {
        let [h, e] = self.angles_deg;
        let x = (h / limits.haematoxylin_deg.max(1e-3)).max(e / limits.eosin_deg.max(1e-3));
        if x.is_nan() || h.is_nan() || e.is_nan() { f32::MAX } else { x }
    }

    /// Whether both vectors are within their limits of the target's.
    pub fn plausible(&self, limits: &StainLimits) -> bool {
        self.excess(limits) <= 1.0
    }

    /// For the status line and the log: "H 2.1° E 13.4° from the model's stain".
    pub fn describe(&self) -> String {
        format!("H {:.1}° E {:.1}° from the model's stain", self.angles_deg[0], self.angles_deg[1])
    }
}

/// A stain's vectors for people: "H (0.65 0.70 0.29) E (0.07 0.99 0.11)".
pub fn describe_vectors(s: &MacenkoStain) -> String {
    let v = |x: [f32; 3]| format!("({:.2} {:.2} {:.2})", x[0], x[1], x[2]);
    format!("H {} E {}", v(s.stains[0]), v(s.stains[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angles_and_strengths_against_a_target() {
        let target = MacenkoStain { stains: [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11]], max_concentrations: [1.0, 0.5] };
        let same = StainDeviation::of(&target, &target);
        assert!(same.worst_angle() < 0.05 && same.strength == [1.0, 1.0], "{same:?}");
        // PAS's magenta in eosin's place: about 11° off, implausible at a 7° limit.
        let pas = MacenkoStain { stains: [target.stains[0], [0.18, 0.95, 0.25]], max_concentrations: [1.0, 1.0] };
        let d = StainDeviation::of(&pas, &target);
        assert!((9.0..13.0).contains(&d.angles_deg[1]) && d.angles_deg[0] < 0.05, "{d:?}");
        let limits = StainLimits { haematoxylin_deg: 15.0, eosin_deg: 7.0 };
        assert!(!d.plausible(&limits) && d.plausible(&StainLimits { eosin_deg: 15.0, ..limits }));
        assert!((d.excess(&limits) - d.angles_deg[1] / 7.0).abs() < 1e-6);
        // The same angle on haematoxylin is within its wider limit.
        let other_h = StainDeviation { angles_deg: [d.angles_deg[1], 0.0], ..d };
        assert!(other_h.plausible(&limits));
        assert_eq!(StainDeviation { angles_deg: [f32::NAN, 0.0], ..d }.excess(&limits), f32::MAX);
        assert_eq!(d.strength, [1.0, 2.0]);
        assert!(d.describe().starts_with("H 0.0° E "), "{}", d.describe());
        // A zero vector is as far as can be, never NaN.
        let zero = MacenkoStain { stains: [[0.0; 3], target.stains[1]], max_concentrations: [1.0, 0.5] };
        assert_eq!(StainDeviation::of(&zero, &target).worst_angle(), 180.0);
        assert_eq!(describe_vectors(&target), "H (0.65 0.70 0.29) E (0.07 0.99 0.11)");
    }
}
