//! Patch extraction of one slide at one target µm/px.

use super::TissueMask;
use crate::slide::{Slide, SlideError};
use melanoscope_shared::image::{FieldRect, PixelSpacing, Resampler, RgbImage, TissueTest, background_fraction};
use serde::Serialize;

/// What to cut.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchParams {
    pub magnification: String,
    pub target_um_per_px: f64,
    pub patch_size: u32,
    /// The study's rule: drop a patch whose background fraction exceeds this.
    pub max_background: f32,
    /// Grid cells whose low-resolution mask holds less tissue than this are not read at all.
    pub min_mask_tissue: f32,
    pub tissue: TissueTest,
    /// Neighbouring patches read with one region read (1 = one read per patch, the naive way).
    pub patches_per_read: u32,
}

impl PatchParams {
    pub fn study(magnification: &str, target_um_per_px: f64) -> Self {
        Self {
            magnification: magnification.into(),
            target_um_per_px,
            patch_size: melanoscope_shared::FIELD_SIZE,
            max_background: melanoscope_shared::MAX_BACKGROUND_FRACTION,
            min_mask_tissue: 0.3,
            tissue: TissueTest::default(),
            patches_per_read: 16,
        }
    }
}

/// One kept patch, located in level-0 pixels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchRecord {
    pub magnification: String,
    pub requested_um_per_px: f64,
    pub effective_um_per_px: f64,
    pub level: u32,
    pub x0: u64,
    pub y0: u64,
    /// Side of the patch in level-0 pixels.
    pub size0: u64,
    pub background: f32,
}

/// The outcome for one slide and magnification.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SlidePatches {
    pub records: Vec<PatchRecord>,
    pub grid_cells: usize,
    pub skipped_by_mask: usize,
    pub dropped_background: usize,
    pub region_reads: usize,
}

/// Cuts the non-overlapping grid of `params.patch_size` patches at the target µm/px. Each kept
/// patch is passed to `on_patch` with its pixels (to export images or feed training).
pub fn patch_slide(
    slide: &Slide,
    mask: &TissueMask,
    params: &PatchParams,
    mut on_patch: impl FnMut(&PatchRecord, &RgbImage) -> Result<(), SlideError>,
) -> Result<SlidePatches, SlideError> {
    let plan = slide.plan_level(params.target_um_per_px)?;
    let native = slide.native_um_per_px();
    let level = slide.levels()[plan.level as usize];
    let l0 = slide.levels()[0];
    let ps = params.patch_size;
    let size0 = f64::from(ps) * plan.target_um_per_px.max(native) / native;
    // The grid starts at the tissue's top-left corner (as far as whole cells still fit in the
    // slide), so cells are not wasted on the empty margin a slide usually has.
    let (bx, by, _, _) = mask.tissue_bounds(native).unwrap_or((0, 0, 0, 0));
    // ... snapped down to the scan's tile grid, so patches start on tile boundaries.
    let tile = u64::from(slide.tile_width());
    let (bx, by) = (bx / tile * tile, by / tile * tile);
    let fit = |start: u64, len: u64| -> (u64, u64) {
        let n_from_start = ((len.saturating_sub(start)) as f64 / size0) as u64;
        let n_total = (len as f64 / size0) as u64;
        if n_from_start == n_total {
            (start, n_total)
        } else {
            ((len as f64 - n_total as f64 * size0).max(0.0) as u64, n_total)
        }
    };
    let ((gx, cols), (gy, rows)) = (fit(bx, l0.width), fit(by, l0.height));
    // Level pixels that cover one patch, rounded up so the shrink always yields `ps` pixels.
    let footprint = (f64::from(ps) * plan.scale - 1e-9).ceil() as u32;
    let from = PixelSpacing { x: plan.level_um_per_px, y: plan.level_um_per_px };
    let img_err = |e: melanoscope_shared::image::ImageError| SlideError::Image {
        path: slide.path().to_path_buf(),
        detail: e.to_string(),
    };
    let mut resampler = Resampler::new(melanoscope_shared::image::DEFAULT_UPSAMPLE_TOLERANCE);
    let mut small = RgbImage::filled(1, 1, [0; 3]).map_err(img_err)?;
    let mut out = SlidePatches { grid_cells: (cols * rows) as usize, ..Default::default() };
    let per_read = u64::from(params.patches_per_read.max(1));
    for r in 0..rows {
        let y0 = gy + (r as f64 * size0).round() as u64;
        // Runs of neighbouring cells that pass the mask are read together.
        let wanted: Vec<u64> = (0..cols)
            .filter(|&c| {
                let x0 = gx + (c as f64 * size0).round() as u64;
                let keep = mask.tissue_fraction(native, x0, y0, size0.round() as u64) >= params.min_mask_tissue;
                if !keep {
                    out.skipped_by_mask += 1;
                }
                keep
            })
            .collect();
        let mut i = 0;
        while i < wanted.len() {
            let mut j = i + 1;
            while j < wanted.len() && wanted[j] == wanted[j - 1] + 1 && ((j - i) as u64) < per_read {
                j += 1;
            }
            let run = &wanted[i..j];
            let x_first = gx + (run[0] as f64 * size0).round() as u64;
            let x_last = gx + (run[run.len() - 1] as f64 * size0).round() as u64;
            let run_w = (((x_last - x_first) as f64) / level.downsample).ceil() as u32 + footprint;
            let strip = slide.read_rgb(plan.level, x_first, y0, run_w, footprint)?;
            out.region_reads += 1;
            for &c in run {
                let x0 = gx + (c as f64 * size0).round() as u64;
                let ox = (((x0 - x_first) as f64) / level.downsample).round() as u32;
                let ox = ox.min(run_w - footprint);
                let crop = strip.crop(ox, 0, footprint, footprint).map_err(img_err)?;
                let effective = resampler
                    .resample_into(&crop, from, plan.target_um_per_px.max(plan.level_um_per_px), &mut small)
                    .map_err(img_err)?
                    .x;
                // Rounding can leave the shrunk crop a pixel larger than the patch; trim it then.
                let trimmed;
                let patch = if small.width() == ps && small.height() == ps {
                    &small
                } else {
                    trimmed = small.crop(0, 0, ps, ps).map_err(img_err)?;
                    &trimmed
                };
                let background =
                    background_fraction(patch, FieldRect::square(0, 0, ps), &params.tissue).map_err(img_err)?;
                if background > params.max_background {
                    out.dropped_background += 1;
                    continue;
                }
                let record = PatchRecord {
                    magnification: params.magnification.clone(),
                    requested_um_per_px: params.target_um_per_px,
                    effective_um_per_px: effective,
                    level: plan.level,
                    x0,
                    y0,
                    size0: size0.round() as u64,
                    background,
                };
                on_patch(&record, patch)?;
                out.records.push(record);
            }
            i = j;
        }
    }
    Ok(out)
}

/// Reads one patch of `patch_size` pixels at `target_um` µm/px whose level-0 top-left is
/// (`x0`, `y0`), the same way [`patch_slide`] cuts it (to re-read patches from a manifest).
pub fn read_patch(slide: &Slide, target_um: f64, x0: u64, y0: u64, patch_size: u32) -> Result<RgbImage, SlideError> {
    let plan = slide.plan_level(target_um)?;
    let footprint = (f64::from(patch_size) * plan.scale - 1e-9).ceil() as u32;
    let img_err = |e: melanoscope_shared::image::ImageError| SlideError::Image {
        path: slide.path().to_path_buf(),
        detail: e.to_string(),
    };
    let region = slide.read_rgb(plan.level, x0, y0, footprint, footprint)?;
    let from = PixelSpacing { x: plan.level_um_per_px, y: plan.level_um_per_px };
    let mut out = RgbImage::filled(1, 1, [0; 3]).map_err(img_err)?;
    Resampler::new(melanoscope_shared::image::DEFAULT_UPSAMPLE_TOLERANCE)
        .resample_into(&region, from, plan.target_um_per_px.max(plan.level_um_per_px), &mut out)
        .map_err(img_err)?;
    if out.width() == patch_size && out.height() == patch_size {
        Ok(out)
    } else {
        out.crop(0, 0, patch_size, patch_size).map_err(img_err)
    }
}
