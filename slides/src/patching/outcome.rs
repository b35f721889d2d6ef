//! What became of each slide of a `patch` run (`report.json`, `done.json`, shard reports): the
//! types both the job that writes them and the shard records that carry them use, below both.

use crate::annotations::AnnotationFormat;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Counts for one slide at one magnification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MagnificationCounts {
    pub kept: usize,
    pub grid_cells: usize,
    pub skipped_by_mask: usize,
    pub dropped_background: usize,
    /// With annotations: cells with less than the set fraction inside one included region.
    #[serde(default)]
    pub outside_regions: usize,
    /// With annotations: cells touching an exclusion (hole, negative region, exclusion class).
    #[serde(default)]
    pub excluded: usize,
    pub refused: Option<String>,
}

/// The annotation file a slide was patched with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationSummary {
    pub file: PathBuf,
    pub format: AnnotationFormat,
    pub included_regions: usize,
    pub excluded_regions: usize,
    pub ignored_objects: usize,
    /// Kept patches per included region, by 1-based position in the file.
    pub patches_per_region: BTreeMap<usize, usize>,
}

/// What became of one slide (`status` in `report.json` and `done.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlideStatus {
    /// Patched by this run.
    Done,
    /// Already done by an earlier run under the same settings.
    Resumed,
    /// Not patched; `error` says why.
    Failed,
}

/// How one slide went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlideOutcome {
    pub slide_id: String,
    pub slide: PathBuf,
    pub status: SlideStatus,
    pub error: Option<String>,
    pub native_um_per_px: Option<f64>,
    pub magnifications: BTreeMap<String, MagnificationCounts>,
    #[serde(default)]
    pub annotations: Option<AnnotationSummary>,
    /// Regions whose label differs from the cohort's label for the slide.
    #[serde(default)]
    pub label_conflicts: Vec<String>,
    /// What the slide was patched under (annotation file and policy); a resumed run redoes a
    /// slide whose settings changed.
    #[serde(default)]
    pub settings: String,
    /// Corrections applied to the slide's pixels (a mislabelled colour space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour_correction: Option<String>,
}

impl SlideOutcome {
    /// A slide that was not patched, and why.
    pub(crate) fn failed(slide_id: &str, slide: PathBuf, error: String) -> Self {
        SlideOutcome {
            slide_id: slide_id.into(),
            slide,
            status: SlideStatus::Failed,
            error: Some(error),
            native_um_per_px: None,
            magnifications: BTreeMap::new(),
            annotations: None,
            label_conflicts: Vec::new(),
            settings: String::new(),
            colour_correction: None,
        }
    }
}
