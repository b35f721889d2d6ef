//! Stain normalisation: a lab's haematoxylin and eosin mapped to the colours a model was
//! trained on. Two published methods, each fitted to an image and applied per image:
//! - [`reinhard`]: the mean and spread of each CIELAB channel (Reinhard et al. 2001, as the
//!   pathology toolkits apply it in CIELAB);
//! - [`macenko`]: the two stain vectors in optical density and each stain's concentration
//!   range (Macenko et al. 2009).
//!
//! Deterministic (no sampling) and checked against a NumPy implementation of the same
//! formulas on real H&E (`trainer/tests/it/stain.rs`). No NaN leaves these functions: optical
//! densities are taken of `max(v, 1)`, and fits that would divide by nothing are refused
//! ([`StainError`]) so that the caller falls back to its target.

pub mod check;
mod eigen;
mod lab;
pub mod macenko;
mod map;
mod od;
mod percentile;
pub mod reinhard;
pub mod tracker;

pub use crate::formats::{LabStats, MacenkoStain, StainTarget};
pub use check::{StainDeviation, StainLimits, describe_vectors};
pub use lab::{lab_to_rgb, rgb_to_lab};
pub use macenko::MacenkoParams;
pub use map::OdMap;
pub use od::{od_of, rgb_of_od};
pub use percentile::percentile;
pub use tracker::{StainMode, StainReading, StainTracker, TrackerSettings};

/// Why a stain could not be fitted to an image.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StainError {
    #[error("{found} stained pixels (optical density at least {beta} in every channel); at least {needed} needed")]
    TooFewStainedPixels { found: usize, needed: usize, beta: f32 },
    #[error("the image has a single colour in {channel}: nothing to normalise from")]
    NoSpread { channel: &'static str },
    #[error("the stained pixels' optical densities span no plane (one stain, or none)")]
    Degenerate,
}

/// A spread sample of at most `max` pixels of `images` (every `step`-th pixel, `step` odd),
/// for fitting one target to many training fields.
pub fn sample_pixels(images: &[crate::image::RgbImage], max: usize) -> Vec<[u8; 3]> {
    let total: usize = images.iter().map(|i| i.as_raw().len() / 3).sum();
    let step = (total / max.max(1)).max(1) | 1;
    images.iter().flat_map(|i| i.as_raw().chunks_exact(3)).step_by(step).map(|px| [px[0], px[1], px[2]]).collect()
}

/// A normalisation method, by name (`macenko`, `reinhard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StainMethod {
    Macenko,
    Reinhard,
}

impl StainMethod {
    pub fn name(self) -> &'static str {
        match self {
            StainMethod::Macenko => "macenko",
            StainMethod::Reinhard => "reinhard",
        }
    }
}

impl core::str::FromStr for StainMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "macenko" => Ok(StainMethod::Macenko),
            "reinhard" => Ok(StainMethod::Reinhard),
            _ => Err(format!("{s:?}; expected macenko or reinhard")),
        }
    }
}

/// The target of `method` fitted on a spread sample of `images` (up to a million pixels).
pub fn fit_target(images: &[crate::image::RgbImage], method: StainMethod) -> Result<StainTarget, StainError> {
    let pixels = sample_pixels(images, 1 << 20);
    match method {
        StainMethod::Reinhard => Ok(StainTarget::Reinhard(reinhard::fit_pixels(&pixels)?)),
        StainMethod::Macenko => Ok(StainTarget::Macenko(macenko::fit_pixels(&pixels, &MacenkoParams::default())?)),
    }
}
