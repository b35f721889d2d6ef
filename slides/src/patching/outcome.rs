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
    /// Why no patch was kept at this magnification (none when some were, or it was refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_patches: Option<String>,
}

impl MagnificationCounts {
    /// Why these counts hold no patch, in the terms a lab can act on: no cell at all, every
    /// cell ruled out by the tissue mask (not H&E: IHC, an unstained or faded slide), by
    /// background, or by the annotations.
    pub fn why_none(&self) -> Option<String> {
        if self.kept > 0 || self.refused.is_some() {
            return None;
        }
        let c = self;
        Some(if c.grid_cells == 0 {
            "the slide holds no whole patch at this magnification (smaller than one patch)".into()
        } else if c.skipped_by_mask == c.grid_cells {
            format!(
                "the tissue mask ruled out all {} cells: it looks for H&E-stained tissue, so an IHC, special-stain, \
                 unstained or faded slide, or one mostly glass, gives none",
                c.grid_cells
            )
        } else if c.outside_regions + c.excluded > 0 && c.dropped_background == 0 {
            format!(
                "of {} cells, {} lie outside the annotated regions and {} touch exclusions; {} ruled out by the tissue mask",
                c.grid_cells, c.outside_regions, c.excluded, c.skipped_by_mask
            )
        } else {
            format!(
                "of {} cells, {} were ruled out by the tissue mask and {} had over 40% background",
                c.grid_cells, c.skipped_by_mask, c.dropped_background
            )
        })
    }
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
