//! `tune`'s table (`screen/tune.json` in a run folder, and `model.tuned.report`): every
//! runtime, form, batch and thread count timed on the device, and the one chosen. The edge
//! writes it; the trainer's report reads it.

use crate::formats::{BackendKind, Form};
use serde::{Deserialize, Serialize};

/// What became of one combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    /// Self-tested and timed.
    Passed,
    /// The self-test or loading failed: never chosen.
    Failed,
    /// Not tried here (`reason` says why).
    Skipped,
}

impl RowStatus {
    pub fn name(self) -> &'static str {
        match self {
            RowStatus::Passed => "passed",
            RowStatus::Failed => "failed",
            RowStatus::Skipped => "skipped",
        }
    }
}

/// One combination's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneRow {
    pub backend: BackendKind,
    pub form: Form,
    pub batch: usize,
    pub threads: usize,
    pub status: RowStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub ms_per_batch: Option<f64>,
    /// Milliseconds per field of a full batch (a frame's fields are padded to whole batches).
    pub ms_per_field: Option<f64>,
}

/// The whole table and its choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneReport {
    pub cpu: String,
    /// SHA-256 of the chosen form's ONNX graph (of the first form when none passed).
    pub onnx_sha256: String,
    pub forms: Vec<Form>,
    pub reference_fields: usize,
    pub rows: Vec<TuneRow>,
    /// Index into `rows` of the fastest passing combination.
    pub chosen: Option<usize>,
}

impl TuneReport {
    pub fn choice(&self) -> Option<&TuneRow> {
        self.chosen.and_then(|i| self.rows.get(i))
    }
}
