//! The study's figure panels for one patch, side by side: the tissue around it with the patch
//! outlined, the patch, its grayscale, the heatmap alone and the heatmap over the patch.

use super::ExplainError;
use super::cam::PatchCam;
use melanoscope_shared::cam::{overlay, upsample_bilinear, viridis};
use melanoscope_shared::image::{RgbImage, outline_rect};
use melanoscope_slides::patching::read_patch;
use melanoscope_slides::slide::Slide;

const GAP: u32 = 8;
const PATCH_OUTLINE: [u8; 3] = [0, 200, 0];

/// Luma (Rec. 601) as grey RGB.
pub fn grayscale(img: &RgbImage) -> RgbImage {
    let mut out = img.clone();
    for px in out.as_raw_mut().chunks_exact_mut(3) {
        let y = (0.299 * f32::from(px[0]) + 0.587 * f32::from(px[1]) + 0.114 * f32::from(px[2]) + 0.5) as u8;
        px.copy_from_slice(&[y; 3]);
    }
    out
}

/// `images` (all `side`×`side`) left to right on white with a gap between them.
fn strip(images: &[RgbImage], side: u32) -> Result<RgbImage, ExplainError> {
    let n = images.len() as u32;
    let mut out = RgbImage::filled(n * side + n.saturating_sub(1) * GAP, side, [255; 3])?;
    for (i, img) in images.iter().enumerate() {
        let x0 = i as u32 * (side + GAP);
        for y in 0..side.min(img.height()) {
            for x in 0..side.min(img.width()) {
                if let Some(p) = img.get(x, y) {
                    out.put(x0 + x, y, p);
                }
            }
        }
    }
    Ok(out)
}

/// The five panels of the patch of `slide` at level-0 (`x0`, `y0`), `size0` level-0 pixels
/// wide, cut at `um_per_px` into `patch_size` pixels, with its `cam`.
pub fn patch_panels(
    slide: &Slide,
    um_per_px: f64,
    x0: u64,
    y0: u64,
    size0: u64,
    patch_size: u32,
    cam: &PatchCam,
) -> Result<RgbImage, ExplainError> {
    let patch = read_patch(slide, um_per_px, x0, y0, patch_size)?;
    // Three patch widths around it, shrunk to one panel.
    let (cx, cy) = (x0.saturating_sub(size0), y0.saturating_sub(size0));
    let mut context = read_patch(slide, um_per_px * 3.0, cx, cy, patch_size)?;
    let f = f64::from(patch_size) / (3.0 * size0 as f64);
    let (px, py) = (((x0 - cx) as f64 * f) as u32, ((y0 - cy) as f64 * f) as u32);
    let side = (size0 as f64 * f).round() as u32;
    outline_rect(&mut context, px, py, side, side, PATCH_OUTLINE, 2);
    let s = patch_size as usize;
    let heat = upsample_bilinear(&cam.map, cam.height, cam.width, s, s)?;
    let black = RgbImage::filled(patch_size, patch_size, [0; 3])?;
    let heatmap = overlay(&black, &heat, &viridis(), 1.0, 0.0)?;
    let blended = overlay(&patch, &heat, &viridis(), 0.5, 0.0)?;
    strip(&[context, patch.clone(), grayscale(&patch), heatmap, blended], patch_size)
}
