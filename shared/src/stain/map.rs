//! A stain map applied fast: Macenko's normalisation is linear in optical density, so each
//! 8-bit input value's contribution to the output densities is tabled per channel and the
//! output density is turned back into an 8-bit value through one more table. Per pixel: three
//! table rows added, three table reads; no logarithm or exponential (the cost goal is a
//! few milliseconds for a 1080p frame on one core).

use super::od::od_of;
use crate::image::{FieldRect, RgbImage};
use alloc::boxed::Box;
use alloc::vec::Vec;
use std::sync::OnceLock;

/// Steps of the output table per unit of optical density: half a step is 1/4096, at most
/// 0.06 of a grey level at white (where `255·e^-d` is steepest), so rounding decides.
const STEPS_PER_OD: f32 = 2048.0;
/// Densities up to 8 (`255·e^-8` < 0.5 rounds to black).
const OUT_ENTRIES: usize = 8 * 2048;

/// `round(255·e^-d)` at `d = i / STEPS_PER_OD`.
fn out_table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..OUT_ENTRIES)
            .map(|i| (255.0 * (-(i as f64) / f64::from(STEPS_PER_OD)).exp() + 0.5).clamp(0.0, 255.0) as u8)
            .collect()
    })
}

/// A 3x3 map of optical densities, tabled for 8-bit pixels.
#[derive(Debug, Clone)]
pub struct OdMap {
    /// `rows[c][v]`: the output densities (R, G, B) that input channel `c` at value `v` adds,
    /// already in table steps.
    rows: Box<[[[f32; 3]; 256]; 3]>,
}

impl OdMap {
    /// `m[k][c]`: how much input density of channel `c` adds to output channel `k`.
    pub fn new(m: [[f32; 3]; 3]) -> Self {
        let mut rows = Box::new([[[0.0f32; 3]; 256]; 3]);
        for (c, table) in rows.iter_mut().enumerate() {
            for (v, row) in table.iter_mut().enumerate() {
                let od = od_of([v as u8; 3])[0];
                for k in 0..3 {
                    // Rounded to the nearest step when read (`+ 0.5` then truncation).
                    row[k] = m[k][c] * od * STEPS_PER_OD + if c == 0 { 0.5 } else { 0.0 };
                }
            }
        }
        OdMap { rows }
    }

    /// Maps interleaved RGB bytes in place.
    pub fn apply(&self, rgb: &mut [u8]) {
        let out = out_table();
        let [r, g, b] = &*self.rows;
        for px in rgb.chunks_exact_mut(3) {
            let (a, bb, c) = (&r[usize::from(px[0])], &g[usize::from(px[1])], &b[usize::from(px[2])]);
            for k in 0..3 {
                // Negative densities (brighter than the light) and NaN become index 0: white.
                let i = ((a[k] + bb[k] + c[k]).max(0.0) as usize).min(OUT_ENTRIES - 1);
                px[k] = out[i];
            }
        }
    }

    /// Maps the pixels of `rect` of `img` in place (the edge maps only the fields it scores).
    pub fn apply_rect(&self, img: &mut RgbImage, rect: FieldRect) {
        let width = img.width() as usize;
        let (x0, x1) = (rect.x as usize, (rect.x + rect.size).min(img.width()) as usize);
        let (y0, y1) = (rect.y as usize, (rect.y + rect.size).min(img.height()) as usize);
        let raw = img.as_raw_mut();
        for y in y0..y1 {
            let row = &mut raw[3 * (y * width + x0.min(x1))..3 * (y * width + x1)];
            self.apply(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stain::od::rgb_of_od;

    /// The tables give what the exact formula gives, to within one grey level, for every value of
    /// each channel through a mixing matrix.
    #[test]
    fn tables_match_the_exact_formula() {
        let m = [[0.9, 0.2, -0.1], [0.1, 1.1, 0.05], [-0.2, 0.3, 0.8]];
        let map = OdMap::new(m);
        let mut worst = 0u8;
        for v in 0..=255u8 {
            for px in [[v, 128, 200], [30, v, 90], [220, 180, v], [v, v, v]] {
                let od = od_of(px);
                let want = rgb_of_od([0, 1, 2].map(|k| m[k][0] * od[0] + m[k][1] * od[1] + m[k][2] * od[2]));
                let mut got = px;
                map.apply(&mut got);
                for k in 0..3 {
                    worst = worst.max(got[k].abs_diff(want[k]));
                }
            }
        }
        assert!(worst <= 1, "{worst}");
        // The identity leaves every value (0 is taken as 1, as densities are).
        let id = OdMap::new([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
        let mut all: Vec<u8> = (1..=255u8).flat_map(|v| [v, v, v]).collect();
        let before = all.clone();
        id.apply(&mut all);
        assert_eq!(all, before);
        // Only the rectangle changes.
        let mut img = RgbImage::filled(8, 8, [100, 100, 100]).unwrap();
        OdMap::new([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
            .apply_rect(&mut img, FieldRect::square(2, 2, 4));
        assert_eq!(img.get(0, 0), Some([100; 3]));
        assert_eq!(img.get(3, 3), Some([39; 3]));
        assert_eq!(img.get(6, 6), Some([100; 3]));
    }
}
