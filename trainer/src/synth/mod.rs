//! The synthetic skin-lesion cohort: H&E-like slides with known lesions, for tests and the demo.
//! Scenes and the camera-frame renderer live in `melanoscope_shared::synth`.

pub mod cohort;
pub mod colour_baseline;
pub mod frames;
pub mod slide;
pub mod tiff;

pub use melanoscope_shared::synth::scene;

#[cfg(test)]
mod scene_tests;
