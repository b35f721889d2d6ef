//! Patch extraction of one slide at one target µm/px.

use super::TissueMask;
use crate::annotations::RegionRaster;
use crate::slide::{LevelPlan, Slide, SlideError};
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
    /// With annotations: a patch is kept when at least this fraction of it lies inside one
    /// included region (and none of it in an exclusion).
    pub min_region_overlap: f32,
    /// Read every region through OpenSlide's `read_region`, even where the slide's tiles can be
    /// read directly (the benchmark's baseline).
    pub via_openslide: bool,
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
            min_region_overlap: 0.5,
            via_openslide: false,
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
    /// With annotations: the region (index into the slide's region list) the patch came from.
    pub region: Option<u32>,
    /// With annotations: the fraction of the patch inside that region.
    pub region_overlap: Option<f32>,
}

/// The outcome for one slide and magnification.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SlidePatches {
    pub records: Vec<PatchRecord>,
    pub grid_cells: usize,
    pub skipped_by_mask: usize,
    pub dropped_background: usize,
    /// With annotations: cells with less than the set fraction inside any included region.
    pub outside_regions: usize,
    /// With annotations: cells touching an exclusion (hole, negative region, exclusion class).
    pub excluded: usize,
    pub region_reads: usize,
}

/// Turns a level region covering one patch into the `patch_size` patch at the target µm/px:
/// the one place that knows the footprint, the shrink and the trim, used by the grid cutter and
/// by re-reading single patches.
struct PatchCutter {
    plan: LevelPlan,
    patch_size: u32,
    /// Level pixels that cover one patch, rounded up so the shrink always yields `patch_size` pixels.
    footprint: u32,
    resampler: Resampler,
    small: RgbImage,
    trimmed: RgbImage,
    path: std::path::PathBuf,
}

impl PatchCutter {
    fn new(slide: &Slide, plan: LevelPlan, patch_size: u32) -> Result<Self, SlideError> {
        let blank = RgbImage::filled(1, 1, [0; 3]).map_err(|e| SlideError::image(slide.path(), e))?;
        Ok(Self {
            plan,
            patch_size,
            footprint: (f64::from(patch_size) * plan.scale - 1e-9).ceil() as u32,
            resampler: Resampler::new(melanoscope_shared::image::DEFAULT_UPSAMPLE_TOLERANCE),
            small: blank.clone(),
            trimmed: blank,
            path: slide.path().to_path_buf(),
        })
    }

    /// The patch cut from `region` (exactly `footprint` square) and its effective µm/px.
    fn cut(&mut self, region: &RgbImage) -> Result<(&RgbImage, f64), SlideError> {
        let from = PixelSpacing { x: self.plan.level_um_per_px, y: self.plan.level_um_per_px };
        let target = self.plan.target_um_per_px.max(self.plan.level_um_per_px);
        let effective = self
            .resampler
            .resample_into(region, from, target, &mut self.small)
            .map_err(|e| SlideError::image(&self.path, e))?
            .x;
        let ps = self.patch_size;
        if self.small.width() == ps && self.small.height() == ps {
            return Ok((&self.small, effective));
        }
        // Rounding can leave the shrunk region a pixel larger than the patch; trim it then.
        self.trimmed = self.small.crop(0, 0, ps, ps).map_err(|e| SlideError::image(&self.path, e))?;
        Ok((&self.trimmed, effective))
    }
}

/// Cuts the non-overlapping grid of `params.patch_size` patches at the target µm/px. Each kept
/// patch is passed to `on_patch` with its pixels (to export images or feed training). With
/// `regions`, only cells inside the delineated regions are read at all.
pub fn patch_slide(
    slide: &Slide,
    mask: &TissueMask,
    regions: Option<&RegionRaster>,
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
    let mut cutter = PatchCutter::new(slide, plan, ps)?;
    let footprint = cutter.footprint;
    let img_err = |e: melanoscope_shared::image::ImageError| SlideError::image(slide.path(), e);
    let mut out = SlidePatches { grid_cells: (cols * rows) as usize, ..Default::default() };
    let per_read = u64::from(params.patches_per_read.max(1));
    for r in 0..rows {
        let y0 = gy + (r as f64 * size0).round() as u64;
        // Runs of neighbouring cells that pass the regions and the mask are read together.
        let mut wanted: Vec<(u64, Option<(u32, f32)>)> = Vec::new();
        for c in 0..cols {
            let x0 = gx + (c as f64 * size0).round() as u64;
            let mut region = None;
            if let Some(raster) = regions {
                let o = raster.overlap(x0, y0, size0.round() as u64);
                if o.excluded > 0.0 {
                    out.excluded += 1;
                    continue;
                }
                match o.region {
                    Some(r) if o.fraction >= params.min_region_overlap => region = Some((r as u32, o.fraction)),
                    _ => {
                        out.outside_regions += 1;
                        continue;
                    }
                }
            }
            if mask.tissue_fraction(native, x0, y0, size0.round() as u64) < params.min_mask_tissue {
                out.skipped_by_mask += 1;
                continue;
            }
            wanted.push((c, region));
        }
        let mut i = 0;
        while i < wanted.len() {
            let mut j = i + 1;
            while j < wanted.len() && wanted[j].0 == wanted[j - 1].0 + 1 && ((j - i) as u64) < per_read {
                j += 1;
            }
            let run = &wanted[i..j];
            let x_first = gx + (run[0].0 as f64 * size0).round() as u64;
            let x_last = gx + (run[run.len() - 1].0 as f64 * size0).round() as u64;
            let run_w = (((x_last - x_first) as f64) / level.downsample).ceil() as u32 + footprint;
            let strip = if params.via_openslide {
                slide.read_rgb_openslide(plan.level, x_first, y0, run_w, footprint)?
            } else {
                slide.read_rgb(plan.level, x_first, y0, run_w, footprint)?
            };
            out.region_reads += 1;
            for &(c, region) in run {
                let x0 = gx + (c as f64 * size0).round() as u64;
                let ox = (((x0 - x_first) as f64) / level.downsample).round() as u32;
                let ox = ox.min(run_w - footprint);
                let crop = strip.crop(ox, 0, footprint, footprint).map_err(img_err)?;
                let (patch, effective) = cutter.cut(&crop)?;
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
                    region: region.map(|r| r.0),
                    region_overlap: region.map(|r| r.1),
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
    let mut cutter = PatchCutter::new(slide, plan, patch_size)?;
    let region = slide.read_rgb(plan.level, x0, y0, cutter.footprint, cutter.footprint)?;
    Ok(cutter.cut(&region)?.0.clone())
}
