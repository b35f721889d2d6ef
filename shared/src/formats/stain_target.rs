//! The stain a model was trained on, as a bundle stores it: the method and its fitted
//! parameters (computed by [`crate::stain`], which needs `std`; the data itself is plain).

use super::FormatError;
use super::error::invalid;
use alloc::format;
use serde::{Deserialize, Serialize};

/// An image's stains by Macenko's method: haematoxylin's and eosin's unit optical-density
/// vectors (R, G, B) and each one's maximum (99th-percentile) concentration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MacenkoStain {
    /// `[haematoxylin, eosin]`.
    pub stains: [[f32; 3]; 2],
    pub max_concentrations: [f32; 2],
}

/// The mean and (population) standard deviation of L*, a* and b* over an image's pixels
/// (Reinhard's method).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LabStats {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// What a bundle stores to normalise to: a method and its fitted target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StainTarget {
    Reinhard(LabStats),
    Macenko(MacenkoStain),
}

const WHAT: &str = "model bundle metadata";

impl StainTarget {
    pub fn name(&self) -> &'static str {
        match self {
            StainTarget::Reinhard(_) => "reinhard",
            StainTarget::Macenko(_) => "macenko",
        }
    }

    /// Checks that the target can be normalised to without NaN or division by nothing.
    pub fn validate(&self) -> Result<(), FormatError> {
        match self {
            StainTarget::Macenko(m) => {
                for (k, v) in m.stains.iter().enumerate() {
                    // The squared length (no square root without std): within 2e-3 of one is a
                    // length within 1e-3 of one.
                    let off = v[0] * v[0] + v[1] * v[1] + v[2] * v[2] - 1.0;
                    if !(v.iter().all(|x| x.is_finite() && *x >= -1e-3) && off > -2e-3 && off < 2e-3) {
                        return Err(invalid(
                            WHAT,
                            "stain.stains",
                            format!("stain {k} is {v:?}; expected a unit vector of non-negative densities"),
                        ));
                    }
                }
                let d = m.stains[0].iter().zip(&m.stains[1]).map(|(a, b)| a * b).sum::<f32>();
                if d > 0.999 {
                    return Err(invalid(WHAT, "stain.stains", "the two stains are the same vector; expected two"));
                }
                if !m.max_concentrations.iter().all(|c| c.is_finite() && (1e-6..=100.0).contains(c)) {
                    let c = m.max_concentrations;
                    return Err(invalid(WHAT, "stain.max_concentrations", format!("{c:?}; expected 1e-6 to 100")));
                }
            }
            StainTarget::Reinhard(l) => {
                if !(l.mean.iter().all(|m| m.is_finite() && (-200.0..=200.0).contains(m))
                    && l.std.iter().all(|s| s.is_finite() && (1e-3..=200.0).contains(s)))
                {
                    return Err(invalid(
                        WHAT,
                        "stain.reinhard",
                        format!("mean {:?}, std {:?}; expected finite CIELAB statistics with spread", l.mean, l.std),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn targets_that_would_make_nan_are_refused_by_field() {
        let good = MacenkoStain { stains: [[0.6, 0.8, 0.0], [0.0, 0.6, 0.8]], max_concentrations: [1.0, 0.5] };
        assert!(StainTarget::Macenko(good).validate().is_ok());
        for (bad, field) in [
            (MacenkoStain { stains: [[f32::NAN, 0.8, 0.0], good.stains[1]], ..good }, "stain.stains"),
            (MacenkoStain { stains: [good.stains[0]; 2], ..good }, "stain.stains"),
            (MacenkoStain { stains: [[2.0, 0.0, 0.0], good.stains[1]], ..good }, "stain.stains"),
            (MacenkoStain { max_concentrations: [0.0, 1.0], ..good }, "stain.max_concentrations"),
        ] {
            let e = StainTarget::Macenko(bad).validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
        let lab = LabStats { mean: [70.0, 20.0, -10.0], std: [10.0, 5.0, 4.0] };
        assert!(StainTarget::Reinhard(lab).validate().is_ok());
        let flat = LabStats { std: [10.0, 0.0, 4.0], ..lab };
        assert!(StainTarget::Reinhard(flat).validate().unwrap_err().to_string().contains("stain.reinhard"));
    }
}
