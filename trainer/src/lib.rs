//! The Melanoscope trainer: patch sets from `melanoscope-slides` (slides, annotations,
//! patching, manifests, splits, shards; no libtorch) → ResNet/VGG networks trained with libtorch (`model`, `data`, `train`) → the
//! study's evaluation tables and experiment grids (`train::evaluate`, `experiment`) → Grad-CAM
//! maps (`explain`) → ONNX model bundles checked in the shared inference engine (`export`).
//! Experiment grids split into shards for independent tasks and back (`merge`).
//! Synthetic cohorts come from `melanoscope-synth`; inference from `melanoscope-engine`.
//!
//! Errors: typed per module (`thiserror`), each keeping the library error it came from as its
//! `source`; [`error_chain`] renders a whole chain where an error becomes report text (a
//! failed slide in `report.json`, a skipped patch, a failed grid run).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub use melanoscope_shared::errors::error_chain;

pub mod data;
pub mod device;
pub mod experiment;
pub mod explain;
pub mod export;
pub mod merge;
pub mod model;
pub mod ood;
pub mod progress;
pub mod report;
pub mod train;
