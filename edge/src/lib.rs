//! The Melanoscope edge device: camera frames (`source`) → calibration and gates
//! (`calibration`, `gates`) → fields, inference and CAMs (`screen::analyse`, on the
//! `melanoscope-engine` bundle, into an `analysis::Analysis`) → averaged verdicts
//! (`screen::verdict`) → the screen, LEDs and record log (`screen::render`, `sinks`,
//! `records`, whose `queue` every record goes through), wired from the validated settings
//! (`config`, `screen::setup`, `screen::session`, which only screens). Around the loop: cases
//! (`cases`: the case book, the control socket and the desk that answers it between frames,
//! case pages, exports and review), `tune` (the fastest runtime, form, batch and threads on this
//! device), `truth` (replayed frames judged against what they show), `rollback` (the accepted
//! bundles, so an older one is refused) and `notify` (the service manager's watchdog). Boards
//! are reached only through the embedded-hal traits of `melanoscope-boards`.
//!
//! Errors: typed (`thiserror`) per module, each keeping its cause as the source, not in its
//! message; shown to people as one chain (`melanoscope_shared::errors::error_chain`).
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
pub mod web;
