//! The Melanoscope edge device: camera frames (`source`) → calibration and gates
//! (`calibration`, `gates`) → fields, inference and CAMs (`screen::analyse`, on the
//! `melanoscope-engine` bundle) → averaged verdicts (`screen::verdict`) → the screen, LEDs and
//! record log (`screen::render`, `sinks`, `records`), wired from the validated settings
//! (`config`, `screen::setup`, `screen::session`). Boards are reached only through the
//! embedded-hal traits of `melanoscope-boards`.
//!
//! Errors: typed (`thiserror`) per module, each keeping its cause as the source.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod analysis;
pub mod calibration;
pub mod cases;
pub mod config;
pub mod fields;
pub mod gates;
pub mod notify;
pub mod records;
pub mod rollback;
pub mod screen;
pub mod sinks;
pub mod source;
pub mod truth;
pub mod tune;
