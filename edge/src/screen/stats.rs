//! How long the last frame took, stage by stage (what a session counted is
//! `melanoscope_shared::run_files::screen::SessionStats`, the type `screen`'s summary is written in).

use crate::analysis::StageTimes;

/// Milliseconds of each stage of the last frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct FrameTimes {
    pub capture_ms: f64,
    pub stages: StageTimes,
    pub render_ms: f64,
    pub output_ms: f64,
}
