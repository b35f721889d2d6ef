//! The Melanoscope edge device. At this stage: the field report of one image — the same
//! preprocessing the screening loop runs per frame (see `melanoscope_shared::pipeline`),
//! with a QC picture of which fields pass the tissue rule.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod fields;
