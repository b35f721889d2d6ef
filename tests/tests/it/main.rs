//! The end-to-end tests across the crates, one binary (linked once; its tests run in parallel):
//! a module for each area, as ripgrep lays out its `tests/tests.rs`.

mod focus;
mod real_data;
mod record_log;
mod screening;
mod stain;
mod trust;
mod tune;
