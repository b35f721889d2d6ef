//! The tissue test: which pixels are stained tissue and which are background.
//!
//! A pixel is **tissue** when all of these hold (8-bit RGB, `max`/`min` over the channels):
//! - `max >= min_value` — not black (slide edge, vignetted corner, dust);
//! - `max - min >= min_chroma` and `(max - min) / max >= min_saturation` — stained,
//!   not the grey-white of glass or an empty field;
//! - not green/cyan ink: hue outside `ink_hue_degrees` (70°–200° by default;
//!   haematoxylin is blue-purple ~220°–300° and eosin pink ~300°–350°, so no H&E stain is green);
//! - not red ink: not `r > red_ink_ratio * g && r > red_ink_ratio * b` with saturation above
//!   `red_ink_min_saturation` (eosin is pink, carrying blue; marker red does not).
//!   Red blood cells look like red ink and are counted as background too: they carry no
//!   diagnostic morphology for melanocytic lesions.
//!
//! Everything else is background. The thresholds were chosen on the labelled TCGA tiles in
//! `../shared/data/tiles` (a tile with at least 10% tissue pixels is called tissue; 24 of 25 tiles agree
//! with their labels — the miss is an out-of-focus red/black marker blob whose black part looks like nuclei).

use super::{FieldRect, ImageError, RgbImage};
use serde::{Deserialize, Serialize};

/// Thresholds of the tissue test (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TissueTest {
    pub min_value: u8,
    pub min_chroma: u8,
    pub min_saturation: f32,
    pub ink_hue_degrees: (f32, f32),
    pub red_ink_ratio: f32,
    pub red_ink_min_saturation: f32,
}

impl Default for TissueTest {
    fn default() -> Self {
        Self {
            min_value: 40,
            min_chroma: 12,
            min_saturation: 0.10,
            ink_hue_degrees: (70.0, 200.0),
            red_ink_ratio: 1.8,
            red_ink_min_saturation: 0.5,
        }
    }
}

impl TissueTest {
    /// Whether one RGB pixel is tissue.
    #[inline]
    pub fn is_tissue(&self, [r, g, b]: [u8; 3]) -> bool {
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        let chroma = max - min;
        if max < self.min_value || chroma < self.min_chroma {
            return false;
        }
        let (rf, gf, bf, cf) = (f32::from(r), f32::from(g), f32::from(b), f32::from(chroma));
        let saturation = cf / f32::from(max);
        if saturation < self.min_saturation {
            return false;
        }
        if saturation > self.red_ink_min_saturation && rf > self.red_ink_ratio * gf && rf > self.red_ink_ratio * bf {
            return false;
        }
        let hue = if max == r {
            60.0 * ((gf - bf) / cf).rem_euclid(6.0)
        } else if max == g {
            60.0 * ((bf - rf) / cf + 2.0)
        } else {
            60.0 * ((rf - gf) / cf + 4.0)
        };
        !(self.ink_hue_degrees.0..=self.ink_hue_degrees.1).contains(&hue)
    }
}

/// Fraction (0..=1) of the pixels of `rect` in `image` that are background.
pub fn background_fraction(image: &RgbImage, rect: FieldRect, test: &TissueTest) -> Result<f32, ImageError> {
    check_rect(image, rect)?;
    let mut tissue = 0usize;
    for y in rect.y..rect.y + rect.size {
        let row = &image.row(y)[rect.x as usize * 3..(rect.x + rect.size) as usize * 3];
        tissue += row.chunks_exact(3).filter(|p| test.is_tissue([p[0], p[1], p[2]])).count();
    }
    let total = rect.size as usize * rect.size as usize;
    Ok(1.0 - tissue as f32 / total as f32)
}

/// A per-pixel tissue mask (255 tissue, 0 background), row-major.
pub fn tissue_mask(image: &RgbImage, test: &TissueTest) -> Vec<u8> {
    image.as_raw().chunks_exact(3).map(|p| if test.is_tissue([p[0], p[1], p[2]]) { 255 } else { 0 }).collect()
}

pub(crate) fn check_rect(image: &RgbImage, rect: FieldRect) -> Result<(), ImageError> {
    let inside = rect.size > 0
        && rect.x.checked_add(rect.size).is_some_and(|r| r <= image.width())
        && rect.y.checked_add(rect.size).is_some_and(|b| b <= image.height());
    if inside {
        Ok(())
    } else {
        Err(ImageError::FieldOutOfBounds {
            x: rect.x,
            y: rect.y,
            w: rect.size,
            h: rect.size,
            width: image.width(),
            height: image.height(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stains_glass_black_and_ink() {
        let t = TissueTest::default();
        assert!(t.is_tissue([120, 60, 160]), "haematoxylin purple");
        assert!(t.is_tissue([230, 150, 200]), "eosin pink");
        assert!(!t.is_tissue([242, 240, 244]), "glass");
        assert!(!t.is_tissue([10, 5, 20]), "black");
        assert!(!t.is_tissue([40, 160, 120]), "green marker");
        assert!(!t.is_tissue([220, 30, 50]), "red marker");
    }

    #[test]
    fn half_tissue_field_is_half_background() {
        let mut img = RgbImage::filled(4, 4, [245, 245, 245]).unwrap();
        for y in 0..2 {
            for x in 0..4 {
                img.put(x, y, [150, 80, 170]);
            }
        }
        assert_eq!(background_fraction(&img, FieldRect::square(0, 0, 4), &TissueTest::default()).unwrap(), 0.5);
        assert!(background_fraction(&img, FieldRect::square(1, 1, 4), &TissueTest::default()).is_err());
        assert_eq!(tissue_mask(&img, &TissueTest::default()).iter().filter(|v| **v == 255).count(), 8);
    }

    proptest! {
        #[test]
        fn background_fraction_is_a_fraction(
            w in 1u32..40, h in 1u32..40, seed in any::<u64>(), size in 1u32..40
        ) {
            let mut rng = crate::rng::SplitMix64::new(seed);
            let data = (0..w * h * 3).map(|_| rng.next_u64() as u8).collect();
            let img = RgbImage::from_raw(w, h, data).unwrap();
            match background_fraction(&img, FieldRect::square(0, 0, size), &TissueTest::default()) {
                Ok(f) => {
                    prop_assert!(size <= w && size <= h);
                    prop_assert!((0.0..=1.0).contains(&f));
                }
                Err(_) => prop_assert!(size > w || size > h),
            }
        }
    }
}
