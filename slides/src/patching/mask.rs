//! The low-resolution tissue mask that decides which grid cells are worth reading at full
//! resolution. It is built strip by strip, so memory stays bounded whatever the slide size.

use crate::slide::{Slide, SlideError};
use melanoscope_shared::image::{PixelSpacing, Resampler, RgbImage, TissueTest, tissue_mask};

/// Tissue (255) or background (0) per mask pixel, row-major; one pixel is `um_per_px` wide.
#[derive(Debug, Clone)]
pub struct TissueMask {
    pub width: u32,
    pub height: u32,
    pub um_per_px: f64,
    pub data: Vec<u8>,
    /// The RGB image the mask was computed from (for QC thumbnails).
    pub thumbnail: RgbImage,
}

impl TissueMask {
    /// Level-0 bounding box (x, y, width, height) of the tissue, or `None` for an empty mask.
    pub fn tissue_bounds(&self, native_um: f64) -> Option<(u64, u64, u64, u64)> {
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
        for y in 0..self.height {
            for x in 0..self.width {
                if self.data[(y * self.width + x) as usize] > 0 {
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
                }
            }
        }
        let f = self.um_per_px / native_um;
        let to0 = |v: u32| (f64::from(v) * f) as u64;
        (x1 > 0).then(|| (to0(x0), to0(y0), to0(x1) - to0(x0), to0(y1) - to0(y0)))
    }

    /// Fraction of tissue in the level-0 rectangle (`x0`, `y0`, `size0`×`size0`) of a slide
    /// whose level 0 is `native_um` µm/px.
    pub fn tissue_fraction(&self, native_um: f64, x0: u64, y0: u64, size0: u64) -> f32 {
        let f = native_um / self.um_per_px;
        let to_mask = |v: u64| ((v as f64 * f) as u64).min(u64::from(u32::MAX)) as u32;
        let (mx0, my0) = (to_mask(x0), to_mask(y0));
        let (mx1, my1) =
            (to_mask(x0 + size0).max(mx0 + 1).min(self.width), to_mask(y0 + size0).max(my0 + 1).min(self.height));
        if mx0 >= self.width || my0 >= self.height {
            return 0.0;
        }
        let mut tissue = 0u64;
        for y in my0..my1 {
            let row = &self.data[(y * self.width) as usize..((y + 1) * self.width) as usize];
            tissue += row[mx0 as usize..mx1 as usize].iter().filter(|v| **v > 0).count() as u64;
        }
        tissue as f32 / ((mx1 - mx0) as u64 * (my1 - my0) as u64) as f32
    }
}

/// Level rows read at once while building the mask (bounds memory for un-pyramided slides).
const STRIP_ROWS: u32 = 1024;
/// Level pixels read at once while building the mask (fewer rows per strip on wide levels).
const MAX_STRIP_PIXELS: u64 = 64 << 20;
/// Mask pixels: at the mask's µm/px a 75 × 50 mm glass slide is a few million; a header that
/// claims more is damaged or hostile, and refused before anything is allocated.
const MAX_MASK_PIXELS: u64 = 64 << 20;

/// Builds the mask at about `mask_um` µm/px (coarser when the slide itself is coarser).
pub fn build_tissue_mask(slide: &Slide, mask_um: f64, test: &TissueTest) -> Result<TissueMask, SlideError> {
    let native = slide.native_um_per_px();
    let target = mask_um.max(native);
    let plan = slide.plan_level(target)?;
    let level = slide.levels()[plan.level as usize];
    let (lw, lh) = (u32::try_from(level.width).unwrap_or(u32::MAX), u32::try_from(level.height).unwrap_or(u32::MAX));
    let from = PixelSpacing { x: plan.level_um_per_px, y: plan.level_um_per_px };
    let mut resampler = Resampler::new(0.0);
    let mut strip_out = RgbImage::filled(1, 1, [0; 3]).map_err(|e| SlideError::image(slide.path(), e))?;
    let out_w = ((f64::from(lw) / plan.scale) + 1e-9).floor().max(1.0) as u32;
    let out_h = ((f64::from(lh) / plan.scale) + 1e-9).floor().max(1.0) as u32;
    let too_large = |detail: String| SlideError::TooLarge { path: slide.path().to_path_buf(), detail };
    let mask_px = u64::from(out_w) * u64::from(out_h);
    if mask_px > MAX_MASK_PIXELS {
        return Err(too_large(format!(
            "a {lw}x{lh} px level makes a {out_w}x{out_h} px tissue mask at {:.2} µm/px ({mask_px} px; at most \
             {MAX_MASK_PIXELS})",
            plan.level_um_per_px * plan.scale
        )));
    }
    // Whole mask rows per strip, so strips join without gaps; fewer on a wide level.
    let level_rows_per_mask_row = plan.scale.ceil().max(1.0) as u64;
    let by_pixels = MAX_STRIP_PIXELS / (u64::from(lw).max(1) * level_rows_per_mask_row);
    if by_pixels == 0 {
        return Err(too_large(format!("one mask row reads {lw} x {level_rows_per_mask_row} level pixels")));
    }
    let mask_rows_per_strip = ((f64::from(STRIP_ROWS) / plan.scale).floor() as u32).clamp(1, by_pixels as u32);
    let mut thumb = Vec::new();
    thumb
        .try_reserve_exact(mask_px as usize * 3)
        .map_err(|e| too_large(format!("tissue mask of {mask_px} px: {e}")))?;
    let mut row = 0u32;
    while row < out_h {
        let rows = mask_rows_per_strip.min(out_h - row);
        let y_start = (f64::from(row) * plan.scale).floor() as u32;
        let y_end = ((f64::from(row + rows) * plan.scale).ceil() as u32).min(lh);
        let x_end = ((f64::from(out_w) * plan.scale).ceil() as u32).min(lw);
        let y0 = (f64::from(y_start) * level.downsample) as u64;
        let strip = slide.read_rgb(plan.level, 0, y0, x_end, y_end - y_start)?;
        resampler
            .resample_into(&strip, from, target, &mut strip_out)
            .map_err(|e| SlideError::image(slide.path(), e))?;
        // Rounding may give one row more or less than planned; take exactly `rows`, padding with the last row.
        for r in 0..rows {
            let src_row = r.min(strip_out.height() - 1);
            let line = strip_out.row(src_row);
            let take = (out_w as usize * 3).min(line.len());
            thumb.extend_from_slice(&line[..take]);
            thumb.resize(thumb.len() + out_w as usize * 3 - take, 255);
        }
        row += rows;
    }
    let thumbnail = RgbImage::from_raw(out_w, out_h, thumb).map_err(|e| SlideError::image(slide.path(), e))?;
    let data = tissue_mask(&thumbnail, test);
    Ok(TissueMask { width: out_w, height: out_h, um_per_px: plan.level_um_per_px * plan.scale, data, thumbnail })
}
