//! The one implementation of preprocessing, class activation maps, metrics and
//! file formats that the Melanoscope trainer and edge device both use, so that
//! what the edge sees in a camera frame is exactly what the model trained on.
//!
//! Feature layout (no_std-ready):
//! - always: the study's vocabulary ([`Lesion`]) and the seeded generator ([`rng`]).
//! - `alloc`: file formats ([`formats`]), the metrics core ([`metrics`]), fixed choices
//!   ([`choice`]) and the pieces of HTML pages ([`html`]).
//! - `std` (default): image work ([`image`], [`cam`], [`pipeline`]), stain normalisation
//!   ([`stain`]), class probabilities ([`scores`]) and the file-backed record-log writer.
//! - `image-io`: PNG/JPEG decoding into [`image::RgbImage`].
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "alloc")]
pub mod choice;
#[cfg(feature = "alloc")]
pub mod folder_name;
#[cfg(feature = "alloc")]
pub mod formats;
#[cfg(feature = "alloc")]
pub mod html;
mod lesion;
#[cfg(feature = "alloc")]
pub mod metrics;
pub mod rng;

pub use lesion::Lesion;

#[cfg(feature = "std")]
pub mod atomic;
#[cfg(feature = "std")]
pub mod bounded;
#[cfg(feature = "std")]
pub mod cam;
#[cfg(feature = "std")]
pub mod errors;
#[cfg(feature = "std")]
pub mod image;
#[cfg(feature = "std")]
pub mod pipeline;
#[cfg(feature = "std")]
pub mod run_files;
#[cfg(feature = "std")]
pub mod scores;
#[cfg(all(feature = "std", any(test, feature = "test-util")))]
pub mod scratch;
#[cfg(feature = "std")]
pub mod stain;

/// The study's rule: a field whose background fraction exceeds this is dropped.
pub const MAX_BACKGROUND_FRACTION: f32 = 0.40;

/// Side of the square field (patch) the models are trained on, in pixels.
pub const FIELD_SIZE: u32 = 256;
