//! One module per command: each turns its arguments into library calls.

pub mod alloc_count;
pub mod bench;
mod bench_views;
pub mod calibrate;
pub mod case;
pub mod check_bundle;
pub mod check_config;
pub mod fields;
pub mod log;
pub mod screen;
pub mod tune;
