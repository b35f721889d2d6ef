//! Calibration of an objective: µm per pixel from a stage micrometer, and flat-field and white
//! balance from a blank-field capture (clean slide, no tissue, lamp as for screening).

use crate::config::{FlatFieldMap, ObjectiveCalibration};
use melanoscope_shared::image::RgbImage;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrationError {
    #[error("{what} is {value}; expected {expected}")]
    Bad { what: &'static str, value: String, expected: &'static str },
}

/// µm per pixel from a stage micrometer: `length_um` of scale spans `pixels` on the screen.
pub fn um_per_px_from_micrometer(length_um: f64, pixels: f64) -> Result<f64, CalibrationError> {
    if !(length_um.is_finite() && length_um > 0.0) {
        return Err(CalibrationError::Bad {
            what: "micrometer length",
            value: length_um.to_string(),
            expected: "a positive length in µm (e.g. 100 for ten 10-µm divisions)",
        });
    }
    if !(pixels.is_finite() && pixels >= 10.0) {
        return Err(CalibrationError::Bad {
            what: "measured span",
            value: pixels.to_string(),
            expected: "at least 10 pixels (measure across as many divisions as the view holds)",
        });
    }
    let u = length_um / pixels;
    if !(0.01..=100.0).contains(&u) {
        return Err(CalibrationError::Bad { what: "µm per pixel", value: u.to_string(), expected: "0.01 to 100" });
    }
    Ok(u)
}

/// Flat-field gains on a `cells_x` x `cells_y` grid and white-balance gains from a blank
/// capture: each cell's brightness is brought to the brightest cell's, and the grey of the
/// glass to neutral.
pub fn flat_field_from_blank(
    blank: &RgbImage,
    cells_x: u32,
    cells_y: u32,
) -> Result<(FlatFieldMap, [f32; 3]), CalibrationError> {
    let (w, h) = (blank.width(), blank.height());
    if w < cells_x * 4 || h < cells_y * 4 || !(2..=256).contains(&cells_x) || !(2..=256).contains(&cells_y) {
        return Err(CalibrationError::Bad {
            what: "blank capture",
            value: format!("{w}x{h} for a {cells_x}x{cells_y} grid"),
            expected: "at least 4 pixels per grid cell and 2 to 256 cells a side",
        });
    }
    let mut luma = vec![0f64; (cells_x * cells_y) as usize];
    let mut count = vec![0u32; luma.len()];
    let mut channel = [0f64; 3];
    for y in 0..h {
        let cy = (y * cells_y / h) as usize;
        for (x, px) in blank.row(y).chunks_exact(3).enumerate() {
            let cx = (x as u32 * cells_x / w) as usize;
            let k = cy * cells_x as usize + cx;
            luma[k] += (f64::from(px[0]) + f64::from(px[1]) + f64::from(px[2])) / 3.0;
            count[k] += 1;
            for c in 0..3 {
                channel[c] += f64::from(px[c]);
            }
        }
    }
    let mean: Vec<f64> = luma.iter().zip(&count).map(|(s, n)| s / f64::from((*n).max(1))).collect();
    let peak = mean.iter().cloned().fold(0.0, f64::max);
    let dimmest = mean.iter().cloned().fold(f64::INFINITY, f64::min);
    if peak < 60.0 || dimmest < 0.2 * peak {
        return Err(CalibrationError::Bad {
            what: "blank capture brightness",
            value: format!("cells from {dimmest:.0} to {peak:.0} grey levels"),
            expected: "a lit blank field (all cells above 60 and within 5x of each other); is the lamp on and the slide clear?",
        });
    }
    let gain = mean.iter().map(|m| (peak / m) as f32).collect();
    let grey = (channel[0] + channel[1] + channel[2]) / 3.0;
    let wb = [0, 1, 2].map(|c| (grey / channel[c].max(1.0)) as f32);
    if wb.iter().any(|g| !(0.1..=10.0).contains(g)) {
        return Err(CalibrationError::Bad {
            what: "white balance",
            value: format!("{wb:?}"),
            expected: "gains of 0.1 to 10 (the blank field is far from grey)",
        });
    }
    Ok((FlatFieldMap { width: cells_x, height: cells_y, gain }, wb))
}

/// Per-pixel multipliers for one frame size, built once from an objective's calibration and
/// reused for every frame of that size.
#[derive(Debug, Clone, Default)]
pub struct Correction {
    size: (u32, u32),
    /// Per pixel and channel, fixed-point gains (x 256).
    gains: Vec<u16>,
    identity: bool,
}

impl Correction {
    /// Applies `cal`'s flat field and white balance to `img` in place.
    pub fn apply(&mut self, cal: &ObjectiveCalibration, img: &mut RgbImage) {
        let size = (img.width(), img.height());
        if self.size != size || self.gains.is_empty() {
            self.build(cal, size);
        }
        if self.identity {
            return;
        }
        for (v, g) in img.as_raw_mut().iter_mut().zip(&self.gains) {
            *v = ((u32::from(*v) * u32::from(*g) + 128) >> 8).min(255) as u8;
        }
    }

    fn build(&mut self, cal: &ObjectiveCalibration, (w, h): (u32, u32)) {
        self.size = (w, h);
        let wb = cal.white_balance.unwrap_or([1.0; 3]);
        self.identity = cal.flat_field.is_none() && wb == [1.0; 3];
        self.gains.clear();
        self.gains.reserve(w as usize * h as usize * 3);
        for y in 0..h {
            for x in 0..w {
                let ff = cal.flat_field.as_ref().map_or(1.0, |m| sample(m, x, y, w, h));
                for g in wb {
                    self.gains.push((ff * g * 256.0).round().clamp(0.0, 65535.0) as u16);
                }
            }
        }
    }
}

/// The flat-field gain at pixel (x, y) of a w x h frame, bilinear between cell centres.
fn sample(m: &FlatFieldMap, x: u32, y: u32, w: u32, h: u32) -> f32 {
    let fx = ((x as f32 + 0.5) * m.width as f32 / w as f32 - 0.5).clamp(0.0, (m.width - 1) as f32);
    let fy = ((y as f32 + 0.5) * m.height as f32 / h as f32 - 0.5).clamp(0.0, (m.height - 1) as f32);
    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(m.width as usize - 1), (y0 + 1).min(m.height as usize - 1));
    let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
    let g = |cx: usize, cy: usize| m.gain.get(cy * m.width as usize + cx).copied().unwrap_or(1.0);
    let top = g(x0, y0) * (1.0 - ax) + g(x1, y0) * ax;
    let bottom = g(x0, y1) * (1.0 - ax) + g(x1, y1) * ax;
    top * (1.0 - ay) + bottom * ay
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blank field as a cheap camera sees it: vignetted towards the corners, with a warm cast.
    fn vignetted(w: u32, h: u32, tint: [f32; 3]) -> RgbImage {
        let mut img = RgbImage::filled(w, h, [0; 3]).unwrap();
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        for y in 0..h {
            for x in 0..w {
                let r2 = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)) / (cx * cx + cy * cy);
                let v = 230.0 * (1.0 - 0.4 * r2);
                img.put(x, y, [0, 1, 2].map(|c| (v * tint[c]).round() as u8));
            }
        }
        img
    }

    #[test]
    fn micrometer_gives_um_per_px_and_bad_measurements_are_refused() {
        assert_eq!(um_per_px_from_micrometer(100.0, 200.0).unwrap(), 0.5);
        assert!(um_per_px_from_micrometer(0.0, 200.0).unwrap_err().to_string().contains("micrometer length"));
        assert!(um_per_px_from_micrometer(100.0, 3.0).unwrap_err().to_string().contains("at least 10 pixels"));
    }

    #[test]
    fn blank_capture_flattens_vignetting_and_neutralises_the_cast() {
        let blank = vignetted(320, 240, [1.0, 0.95, 0.85]);
        let (ff, wb) = flat_field_from_blank(&blank, 16, 12).unwrap();
        assert!(wb[2] > wb[0], "a warm cast needs more blue gain: {wb:?}");
        let cal = ObjectiveCalibration { um_per_px: Some(0.5), white_balance: Some(wb), flat_field: Some(ff) };
        let mut frame = vignetted(320, 240, [1.0, 0.95, 0.85]);
        let corner_before = frame.get(10, 10).unwrap();
        Correction::default().apply(&cal, &mut frame);
        let (corner, centre) = (frame.get(10, 10).unwrap(), frame.get(160, 120).unwrap());
        for c in 0..3 {
            assert!((i32::from(corner[c]) - i32::from(centre[c])).abs() <= 8, "{corner:?} vs {centre:?}");
            assert!((i32::from(centre[c]) - i32::from(centre[0])).abs() <= 4, "neutral: {centre:?}");
        }
        assert!(corner[0] > corner_before[0] + 30, "the corner was brightened: {corner_before:?} -> {corner:?}");
        let dark = RgbImage::filled(320, 240, [10, 10, 10]).unwrap();
        assert!(flat_field_from_blank(&dark, 16, 12).unwrap_err().to_string().contains("lamp"));
    }
}
