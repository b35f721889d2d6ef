//! What a session counted (frames, gates, faults, cases, verdicts shown) and how long the last
//! frame took, for the summary `screen` prints and the exit status it returns.

use crate::analysis::StageTimes;

/// Counts of one session.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SessionStats {
    pub frames: u64,
    pub screened: u64,
    pub gated: u64,
    pub corrupt: u64,
    /// Frames larger than the source accepts, refused from their header.
    pub oversized: u64,
    pub source_errors: u64,
    pub analysis_errors: u64,
    pub sink_errors: u64,
    pub verdict_changes: u64,
    pub snapshots: u64,
    /// Appends to the record log that failed (each retried on the next frame).
    pub log_errors: u64,
    /// Records given up on after [`MAX_PENDING_RECORDS`] waited for the log.
    pub records_dropped: u64,
    /// Frames gated as UNFAMILIAR TISSUE, and tissue fields scored unfamiliar.
    pub unfamiliar_frames: u64,
    pub unfamiliar_fields: u64,
    /// Case folder writes that failed (the case goes on; its page may miss a field).
    pub case_errors: u64,
    /// Cases opened and closed.
    pub cases_opened: u64,
    pub cases_closed: u64,
    /// Every verdict shown, in order, with the frame index (changes only).
    pub verdicts: Vec<(u64, String)>,
    /// The source ended (a replay ran out, or a camera stream closed).
    pub source_ended: bool,
}

/// The exit status when a camera stream ends: a fault, so that the service restarts it.
pub const EXIT_STREAM_ENDED: i32 = 4;

impl SessionStats {
    /// The process's exit status after a session that read from a camera stream (`stream`)
    /// or a replay: a stream that ended is [`EXIT_STREAM_ENDED`] (`rpicam-vid | screen` after
    /// the camera process died must be restarted, not end quietly); anything else 0.
    pub fn exit_status(&self, stream: bool) -> i32 {
        if stream && self.source_ended { EXIT_STREAM_ENDED } else { 0 }
    }
}

/// Milliseconds of each stage of the last frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct FrameTimes {
    pub capture_ms: f64,
    pub stages: StageTimes,
    pub render_ms: f64,
    pub output_ms: f64,
}
