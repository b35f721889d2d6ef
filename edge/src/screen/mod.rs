//! Live screening: frames in, verdicts, overlays, LEDs and log records out.

pub mod analyse;
pub mod objective;
pub mod render;
pub mod session;
pub mod setup;
pub mod stats;
pub mod verdict;
