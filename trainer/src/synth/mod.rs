//! The synthetic skin-lesion cohort: H&E-like slides with known lesions, for tests and the demo.

pub mod cohort;
pub mod colour_baseline;
pub mod frames;
pub mod scene;
pub mod slide;
pub mod tiff;
