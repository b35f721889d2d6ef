//! `melanoscope-edge bench` (`screen/bench.json` in a run folder): one camera frame screened
//! again and again, each stage's median time, the same fields through onnxruntime, memory,
//! operation counts and board projections. The edge writes it; the trainer's report reads it.
//! Fields in name order (the order the file has always had).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeBenchReport {
    pub backend: String,
    pub batch: usize,
    pub bundle: BenchBundle,
    pub familiarity_gate: FamiliarityCost,
    pub fields_kept_by_extractor: usize,
    pub fields_per_frame: usize,
    pub frame: BenchFrame,
    pub frames_per_second: f64,
    /// The gate that stopped the bench frame, if one did (its label).
    pub gate: Option<String>,
    pub median_ms: StageMedians,
    pub onnxruntime_same_fields: OnnxRuntimeComparison,
    pub operations: Operations,
    pub peak_rss_mib: Option<f64>,
    pub per_frame_ms: PerFrame,
    pub projection_boards: Vec<BoardProjection>,
    pub steady_state: SteadyState,
    pub threads: usize,
    pub timed_frames: usize,
    /// Against `tune`'s choice, when screening runs it (`model.backend = "auto"`).
    pub tuned: Option<AgainstTuned>,
    /// The whole loop's frame with the window and the web view against none (`bench --views`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<ViewsCost>,
    /// The stain check and normalisation per frame (absent in reports written before them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stain: Option<StainCost>,
}

/// What fitting, checking and (when normalising) mapping the frame's stain costs, or why it
/// is off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StainCost {
    On { mode: String, median_ms: f64, share_of_frame: f64 },
    Off { off: String },
}

/// What showing frames in a window or to browsers adds to a screened frame: the loop (decode,
/// analysis, render at the frame's size, then the sinks) timed in interleaved rounds of each
/// set-up, in one process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewsCost {
    /// Frames timed per set-up (rounds x frames a round).
    pub frames_each: usize,
    /// Median ms of a frame with no display sink (the snapshot-less loop): the baseline.
    pub none_ms: f64,
    pub setups: Vec<ViewSetup>,
}

/// One set-up's frames against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ViewSetup {
    Timed {
        setup: String,
        median_ms: f64,
        /// Median frame over the baseline's (goal: at most 1.05).
        over_none: f64,
        /// Stream frames the well-behaved viewers received, in all.
        frames_to_viewers: Option<u64>,
        /// Stream requests refused (503) and viewers dropped for not reading.
        refused: Option<u64>,
        dropped: Option<u64>,
    },
    Skipped {
        setup: String,
        skipped: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchBundle {
    pub architecture: String,
    pub file: PathBuf,
    pub quantization: String,
    pub um_per_px: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchFrame {
    pub file: PathBuf,
    pub height: u32,
    pub um_per_px: f64,
    pub width: u32,
}

/// Median milliseconds of each stage of a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageMedians {
    pub cam: f64,
    pub capture_decode: f64,
    pub familiarity: f64,
    pub frame_total: f64,
    pub inference: f64,
    pub preprocess: f64,
    pub render: f64,
}

impl StageMedians {
    /// The stages as (name, ms) in the file's order.
    pub fn stages(&self) -> [(&'static str, f64); 7] {
        [
            ("cam", self.cam),
            ("capture_decode", self.capture_decode),
            ("familiarity", self.familiarity),
            ("frame_total", self.frame_total),
            ("inference", self.inference),
            ("preprocess", self.preprocess),
            ("render", self.render),
        ]
    }
}

/// What scoring familiarity costs, or why it is off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FamiliarityCost {
    On { ms_per_field: f64, multiply_adds_per_field: Option<u64>, share_of_inference: f64 },
    Off { off: String },
}

/// The same fields through onnxruntime in the same process, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OnnxRuntimeComparison {
    Timed { inference_ms: f64, library: PathBuf, tract_over_onnxruntime: f64 },
    Skipped { skipped: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operations {
    pub host_gmac_per_s_tract: f64,
    pub multiply_adds_per_field: u64,
    pub multiply_adds_per_frame: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerFrame {
    pub frame_total: Vec<f64>,
    pub inference: Vec<f64>,
}

/// A board's frame from counted instructions, or why there is no count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BoardProjection {
    Projected {
        board: Option<String>,
        cpu: String,
        frames_per_second: f64,
        inference_ms: f64,
        method: String,
        ms_per_field_one_core: f64,
        other_stages_ms: f64,
    },
    Skipped {
        cpu: String,
        skipped: String,
    },
}

/// Allocations of a frame once buffers have grown (medians).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteadyState {
    pub allocations_per_frame: f64,
    pub bytes_allocated_per_frame: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgainstTuned {
    pub frame_over_tuned_inference: f64,
    pub inference_over_tuned: f64,
    pub ms_per_field: f64,
}
