//! Slides to patches: a tissue mask from a low-resolution read, the non-overlapping 256×256
//! grid at a target µm/px in level-0 coordinates, and the study's keep rule (background
//! fraction at most 0.40, measured by the shared tissue test on the patch itself).

mod bench;
mod extract;
pub(crate) mod job;
mod mask;
pub mod outcome;
mod qc;
pub mod shard_record;

pub use bench::BenchError;
pub use bench::{PatchBenchReport, peak_rss_mib, run_patch_bench};
pub use extract::{PatchParams, PatchRecord, SlidePatches, patch_slide, read_patch};
pub use job::{JobError, PatchImageFormat, PatchJob, RunReport, run_patch_job};
pub use mask::{TissueMask, build_tissue_mask};
pub use outcome::{AnnotationSummary, MagnificationCounts, SlideOutcome, SlideStatus};
pub use qc::qc_thumbnail;
