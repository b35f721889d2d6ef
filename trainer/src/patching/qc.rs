//! QC thumbnail per slide: what the tissue mask called background is tinted blue, kept patches
//! are outlined, so a technician sees at a glance whether patching took the lesion.

use super::{PatchRecord, TissueMask};
use melanoscope_shared::image::{RgbImage, outline_rect};

const BACKGROUND_TINT: [u8; 3] = [70, 110, 200];
const PATCH_OUTLINE: [u8; 3] = [0, 170, 0];

/// The mask's thumbnail with background tinted and `records` (level-0 boxes) outlined.
pub fn qc_thumbnail(mask: &TissueMask, native_um: f64, records: &[PatchRecord]) -> RgbImage {
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
        };
        // Native 0.5 µm/px: 32 level-0 px = 2 mask px; 64 = 4.
        let qc = qc_thumbnail(&mask, 0.5, &[rec]);
        assert_eq!(qc.get(2, 2), Some(PATCH_OUTLINE));
        assert_eq!(qc.get(3, 3), Some([200, 100, 150]));
        assert_eq!(qc.get(9, 9), Some([135, 105, 175]));
    }
}
