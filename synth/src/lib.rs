//! Synthetic skin-lesion data for Melanoscope's tests and demo, where no public melanoma or
//! nevus slides can be had: H&E-like scenes with known lesions ([`scene`]), pyramidal 40X TIFF
//! slides and whole cohorts with ground-truth masks ([`slide`], [`cohort`]), and microscope
//! camera frames rendered from the same scenes ([`frames`], [`frame_set`]). The slides the
//! trainer's demo learns from and the frames the edge's tests screen come from one renderer.
//!
//! Errors: one typed [`SynthError`] that keeps the I/O or image error as its source.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cohort;
pub mod frame_set;
pub mod frames;
pub mod scene;
pub mod slide;
pub mod stains;
pub mod tiff;

pub use melanoscope_shared::Lesion;

use std::path::PathBuf;

/// Why synthetic data could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("{path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Image(#[from] melanoscope_shared::image::ImageError),
    #[error("{path}: cannot encode the annotations")]
    Json { path: PathBuf, source: serde_json::Error },
    /// A setting or request outside what the generator can make (named in the message).
    #[error("{0}")]
    Invalid(String),
}

impl SynthError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
        move |source| SynthError::Io { path: path.to_path_buf(), source }
    }
}
