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

mod eigen;
mod lab;
pub mod macenko;
mod od;
mod percentile;
pub mod reinhard;

pub use lab::{lab_to_rgb, rgb_to_lab};
pub use macenko::{MacenkoParams, MacenkoStain};
pub use od::{od_of, rgb_of_od};
pub use percentile::percentile;
pub use reinhard::LabStats;

use serde::{Deserialize, Serialize};

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

/// What a bundle stores to normalise to: a method and its fitted target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum StainTarget {
    Reinhard(LabStats),
    Macenko(MacenkoStain),
}

impl StainTarget {
    pub fn name(&self) -> &'static str {
        match self {
            StainTarget::Reinhard(_) => "reinhard",
            StainTarget::Macenko(_) => "macenko",
        }
    }
}
