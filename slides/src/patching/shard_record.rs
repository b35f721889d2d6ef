//! What a shard of a `patch` run leaves beside its manifest and report, for `merge`: the
//! settings it cut under and the order of the whole cohort, so merged output comes out in the
//! order an unsharded run writes.

use super::outcome::SlideOutcome;
use crate::shard::Shard;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The record's name in the shard folder; written last, so its presence means the shard ended.
pub const SHARD_RECORD: &str = "shard.json";

/// Everything that decides a shard's rows: shards that differ in any of it are not merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchSettings {
    pub cohort: PathBuf,
    pub cohort_sha256: String,
    /// Name and µm/px of each magnification, in the order asked.
    pub magnifications: Vec<(String, f64)>,
    pub mask_um_per_px: f64,
    pub export_images: Option<String>,
    pub default_um_per_px: Option<f64>,
    /// The annotation policy's fingerprint (`None`: tissue mask only).
    pub annotations: Option<String>,
}

/// `shards/K-of-N/shard.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchShardRecord {
    pub shard: Shard,
    pub settings: PatchSettings,
    /// Every outcome id of the cohort (its slides, then its rejected rows) in report order.
    pub order: Vec<String>,
}

/// `report.json` of a run or a shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFile {
    pub slides: Vec<SlideOutcome>,
    pub total_patches: u64,
    pub failed: usize,
}
