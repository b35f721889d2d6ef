//! The Melanoscope trainer. At this stage: the bridge from `melanoscope_shared`'s field
//! tensors to libtorch tensors, and the device report; patching, training, evaluation and
//! export arrive with their issues.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod annotations;
pub mod batch;
pub mod cohort;
pub mod data;
pub mod device;
pub mod experiment;
pub mod explain;
pub mod export;
pub mod import;
pub mod manifest;
pub mod model;
pub mod patching;
pub mod slide;
pub mod split;
pub mod synth;
pub mod train;
