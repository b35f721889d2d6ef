//! The Melanoscope edge device: the field report of one image — the same preprocessing the
//! screening loop runs per frame (see `melanoscope_shared::pipeline`), with a QC picture of
//! which fields pass the tissue rule — and the inference engine (tract) that loads a model
//! bundle, checks it (hash, signature, reference fields) and runs batches of fields.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod calibration;
pub mod config;
pub mod engine;
pub mod fields;
pub mod gates;
pub mod records;
pub mod screen;
pub mod sinks;
pub mod source;
