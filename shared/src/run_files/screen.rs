//! `screen --summary` (`screen/summary.json` in a run folder): what a session counted, every
//! replayed frame's verdict, and with `--truth` each judged against the lesion it shows. The
//! edge writes these types; the trainer's report reads them.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The summary `screen` prints and writes. Fields in name order (the order the file has
/// always had).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScreenSummary {
    /// Every frame screened, for a replay (none for a camera, which runs for hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<FrameRow>>,
    pub log: PathBuf,
    pub snapshots: PathBuf,
    pub stats: SessionStats,
    /// What the session did with the stain (`check`, `normalise`); absent when it did nothing
    /// (off, or a bundle without a stain target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stain: Option<String>,
    /// The frames judged against `--truth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<TruthTable>,
}

/// Counts of one session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
/// The exit status when records were never written to the log (a log that failed to the
/// end): what was shown is not all kept, which whoever reads the exit status must learn.
pub const EXIT_RECORDS_LOST: i32 = 5;

impl SessionStats {
    /// The process's exit status after a session that read from a camera stream (`stream`)
    /// or a replay: records lost are [`EXIT_RECORDS_LOST`]; a stream that ended is
    /// [`EXIT_STREAM_ENDED`] (`rpicam-vid | screen` after the camera process died must be
    /// restarted, not end quietly); anything else 0.
    pub fn exit_status(&self, stream: bool) -> i32 {
        if self.records_dropped > 0 {
            EXIT_RECORDS_LOST
        } else if stream && self.source_ended {
            EXIT_STREAM_ENDED
        } else {
            0
        }
    }
}

/// One screened frame as the session saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRow {
    pub frame: u64,
    /// Where the frame came from (the file, for a replay).
    pub file: String,
    /// What the screen showed after this frame.
    pub verdict: String,
    /// The averaged melanoma probability behind the verdict (none when a gate stopped it).
    pub probability: Option<f64>,
    /// This frame's own melanoma probability (its fields aggregated).
    pub frame_probability: Option<f64>,
    pub tissue_fields: usize,
    /// The highest familiarity score of this frame's fields (above the bundle's threshold a
    /// field is unfamiliar), and how many were; none without the gate or fields.
    #[serde(default)]
    pub max_familiarity: Option<f32>,
    #[serde(default)]
    pub unfamiliar_fields: usize,
}

/// A frame beside its truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgedFrame {
    #[serde(flatten)]
    pub row: FrameRow,
    pub lesion: String,
    /// The verdict that would be right.
    pub expected: String,
    pub right: bool,
}

/// Every frame judged, and how many were right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthTable {
    pub truth: PathBuf,
    pub frames: Vec<JudgedFrame>,
    pub right: usize,
    pub total: usize,
}

/// The file name a frame origin or truth row is matched by.
pub fn file_name(s: &str) -> &str {
    s.rsplit(['/', '\\']).next().unwrap_or(s)
}

impl TruthTable {
    /// The table as plain text, one frame a line, for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{:>5}  {:<24} {:<6} {:<20} {:>11} {:>7}  {}\n",
            "frame", "file", "truth", "verdict", "probability", "frame p", "right"
        );
        let p = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        for j in &self.frames {
            out.push_str(&format!(
                "{:>5}  {:<24} {:<6} {:<20} {:>11} {:>7}  {}\n",
                j.row.frame,
                file_name(&j.row.file),
                j.lesion,
                j.row.verdict,
                p(j.row.probability),
                p(j.row.frame_probability),
                if j.right { "yes" } else { "no" }
            ));
        }
        out.push_str(&format!("{} of {} frames right\n", self.right, self.total));
        out
    }
}
