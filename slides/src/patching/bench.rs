//! Patch-extraction benchmark: batched region reads against the naive one-read-per-patch
//! baseline, on the same slide in the same process, one thread.

use super::{PatchParams, build_tissue_mask, patch_slide};
use crate::annotations::{AnnotationPolicy, RegionRaster, find_beside, load_annotations};
use crate::slide::Slide;
use melanoscope_shared::image::TissueTest;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct PatchBenchReport {
    pub slide: String,
    pub width: u64,
    pub height: u64,
    pub magnification: String,
    pub mask_seconds: f64,
    pub patches: usize,
    /// Whether the production path assembles regions from the TIFF's tiles directly.
    pub direct_tiles: bool,
    /// The production path: batched reads (direct tiles where the slide allows).
    pub batched_seconds: f64,
    pub batched_reads: usize,
    pub batched_patches_per_second_per_core: f64,
    /// Batched reads through OpenSlide's `read_region` (what batching alone gains).
    pub batched_openslide_seconds: f64,
    /// The baseline: one OpenSlide `read_region` per patch.
    pub naive_seconds: f64,
    pub naive_reads: usize,
    pub naive_patches_per_second_per_core: f64,
    pub speedup_vs_naive: f64,
    /// With an annotation file beside the slide: the same batched patching restricted to its
    /// regions (loading and rasterising the regions included in the time).
    pub annotated: Option<AnnotatedBench>,
    /// Peak resident memory before the slide was opened (the binary and libtorch alone).
    pub rss_before_mib: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

/// Patching inside delineated regions, next to the tissue-only run above.
#[derive(Debug, Clone, Serialize)]
pub struct AnnotatedBench {
    pub file: String,
    pub regions: usize,
    pub load_and_raster_seconds: f64,
    pub raster_mib: f64,
    pub seconds: f64,
    pub patches: usize,
    pub region_reads: usize,
    /// Annotated time over tissue-only time (below 1: fewer cells are read).
    pub time_ratio_to_tissue_only: f64,
    /// Share of the annotated time spent loading and rasterising the regions.
    pub region_share_of_time: f64,
}

/// Why the patching benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Slide(#[from] crate::slide::SlideError),
    #[error(transparent)]
    Annotation(#[from] crate::annotations::AnnotationError),
    #[error("{path}: batched and naive extraction disagree")]
    Disagree { path: std::path::PathBuf },
}

/// Peak resident memory of this process (Linux `VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs both strategies on `path` at `magnification` (`target_um` µm/px) on the calling thread.
pub fn run_patch_bench(path: &Path, magnification: &str, target_um: f64) -> Result<PatchBenchReport, BenchError> {
    let rss_before_mib = peak_rss_mib();
    let slide = Slide::open(path, None)?;
    let start = Instant::now();
    let mask = build_tissue_mask(&slide, 8.0, &TissueTest::default())?;
    let mask_seconds = start.elapsed().as_secs_f64();
    let params = PatchParams::study(magnification, target_um);
    let time = |params: &PatchParams| -> Result<(f64, super::SlidePatches), BenchError> {
        let t = Instant::now();
        let out = patch_slide(&slide, &mask, None, params, |_, _| Ok(()))?;
        Ok((t.elapsed().as_secs_f64(), out))
    };
    let (naive_seconds, naive) = time(&PatchParams { patches_per_read: 1, via_openslide: true, ..params.clone() })?;
    let (batched_openslide_seconds, batched_openslide) = time(&PatchParams { via_openslide: true, ..params.clone() })?;
    let (batched_seconds, batched) = time(&params)?;
    if naive.records != batched.records || batched_openslide.records != batched.records {
        return Err(BenchError::Disagree { path: path.to_path_buf() });
    }
    let n = batched.records.len();
    let l0 = slide.levels()[0];
    let annotated = match find_beside(path) {
        None => None,
        Some(file) => {
            let t = Instant::now();
            let ann = load_annotations(&file, l0.width, l0.height, &AnnotationPolicy::default())?;
            let native = slide.native_um_per_px();
            let raster = RegionRaster::for_patches(&ann, f64::from(params.patch_size) * target_um.max(native) / native);
            let load_and_raster_seconds = t.elapsed().as_secs_f64();
            let out = patch_slide(&slide, &mask, Some(&raster), &params, |_, _| Ok(()))?;
            let seconds = t.elapsed().as_secs_f64();
            Some(AnnotatedBench {
                file: file.display().to_string(),
                regions: ann.regions.len(),
                load_and_raster_seconds,
                raster_mib: raster.bytes() as f64 / (1024.0 * 1024.0),
                seconds,
                patches: out.records.len(),
                region_reads: out.region_reads,
                time_ratio_to_tissue_only: seconds / batched_seconds,
                region_share_of_time: load_and_raster_seconds / seconds,
            })
        }
    };
    Ok(PatchBenchReport {
        slide: path.display().to_string(),
        width: l0.width,
        height: l0.height,
        magnification: magnification.into(),
        mask_seconds,
        patches: n,
        direct_tiles: slide.has_direct_tiles(),
        batched_seconds,
        batched_openslide_seconds,
        batched_reads: batched.region_reads,
        batched_patches_per_second_per_core: n as f64 / batched_seconds,
        naive_seconds,
        naive_reads: naive.region_reads,
        naive_patches_per_second_per_core: n as f64 / naive_seconds,
        speedup_vs_naive: naive_seconds / batched_seconds,
        annotated,
        rss_before_mib,
        peak_rss_mib: peak_rss_mib(),
    })
}
