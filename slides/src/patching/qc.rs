//! QC thumbnail per slide: what the tissue mask called background is tinted blue, kept patches
//! are outlined green, delineated regions yellow and exclusions red, so a technician sees at a
//! glance whether patching took the lesion.

use super::{PatchRecord, TissueMask};
use crate::annotations::{RegionRole, SlideAnnotations};
use melanoscope_shared::image::{RgbImage, draw_line, outline_rect};

const BACKGROUND_TINT: [u8; 3] = [70, 110, 200];
const PATCH_OUTLINE: [u8; 3] = [0, 170, 0];
const REGION_OUTLINE: [u8; 3] = [250, 210, 0];
const EXCLUSION_OUTLINE: [u8; 3] = [220, 0, 0];

/// The mask's thumbnail with background tinted, `records` (level-0 boxes) outlined, and the
/// regions of `annotations` drawn over both.
pub fn qc_thumbnail(
    mask: &TissueMask,
    native_um: f64,
    records: &[PatchRecord],
    annotations: Option<&SlideAnnotations>,
) -> RgbImage {
    let mut img = mask.thumbnail.clone();
    for (px, m) in img.as_raw_mut().chunks_exact_mut(3).zip(&mask.data) {
        if *m == 0 {
            for c in 0..3 {
                px[c] = ((u16::from(px[c]) + u16::from(BACKGROUND_TINT[c])) / 2) as u8;
            }
        }
    }
    let f = native_um / mask.um_per_px;
    for r in records {
        let to_thumb = |v: u64| (v as f64 * f).round() as u32;
        let side = to_thumb(r.size0).max(2);
        outline_rect(&mut img, to_thumb(r.x0), to_thumb(r.y0), side, side, PATCH_OUTLINE, 1);
    }
    for region in annotations.iter().flat_map(|a| &a.regions) {
        let colour = if region.role == RegionRole::Include { REGION_OUTLINE } else { EXCLUSION_OUTLINE };
        for shape in &region.raw.shapes {
            for (k, ring) in std::iter::once(&shape.outer).chain(&shape.holes).enumerate() {
                // Holes of an included region are exclusions.
                let colour = if k > 0 { EXCLUSION_OUTLINE } else { colour };
                for i in 0..ring.len() {
                    let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
                    draw_line(&mut img, (a.x * f, a.y * f), (b.x * f, b.y * f), colour);
                }
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tints_background_and_outlines_patches() {
        let thumbnail = RgbImage::filled(10, 10, [200, 100, 150]).unwrap();
        let mut data = vec![255u8; 100];
        data[99] = 0;
        let mask = TissueMask { width: 10, height: 10, um_per_px: 8.0, data, thumbnail };
        let rec = PatchRecord {
            magnification: "20X".into(),
            requested_um_per_px: 0.5,
            effective_um_per_px: 0.5,
            level: 0,
            x0: 32,
            y0: 32,
            size0: 64,
            background: 0.1,
            region: None,
            region_overlap: None,
        };
        // Native 0.5 µm/px: 32 level-0 px = 2 mask px; 64 = 4.
        let qc = qc_thumbnail(&mask, 0.5, &[rec], None);
        assert_eq!(qc.get(2, 2), Some(PATCH_OUTLINE));
        assert_eq!(qc.get(3, 3), Some([200, 100, 150]));
        assert_eq!(qc.get(9, 9), Some([135, 105, 175]));
    }
}
