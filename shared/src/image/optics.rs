//! What a microscope and its camera do to a view, in one model both sides use: the synthetic
//! camera frames of the tests and demo (`melanoscope-synth`), the simulated cameras the
//! exporter sees validation windows through, and the trainer's camera augmentation (which
//! draws the parameters at random). Defocus is a Gaussian blur, the lamp and optics darken
//! towards the corners (vignetting), and the lamp colour and white balance scale each channel.
//! JPEG compression, the last step, is the caller's (its quality belongs to the camera).

use super::{ImageError, RgbImage};

/// One camera's optics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraOptics {
    /// Defocus: the standard deviation of a Gaussian blur, in pixels (at most 0.05: sharp).
    pub blur_sigma_px: f32,
    /// Brightness lost at the corners: gain 1 − v·(r/r_corner)² (0: none, 0.5: half).
    pub vignetting: f32,
    /// The optical axis, as fractions of the width and height (0.5, 0.5: centred).
    pub vignette_centre: (f32, f32),
    /// Per-channel gains (lamp colour, white balance).
    pub gains: [f32; 3],
}

impl CameraOptics {
    /// A perfect camera: the view unchanged.
    pub const NONE: CameraOptics =
        CameraOptics { blur_sigma_px: 0.0, vignetting: 0.0, vignette_centre: (0.5, 0.5), gains: [1.0; 3] };

    /// `img` as this camera delivers it (before compression): defocus, then the optics'
    /// vignette, then the sensor's channel gains, each rounded to 8 bits as a camera's
    /// pipeline does between stages.
    pub fn apply(&self, img: &RgbImage) -> Result<RgbImage, ImageError> {
        let mut out = if self.blur_sigma_px > 0.05 { gaussian_blur(img, self.blur_sigma_px)? } else { img.clone() };
        if self.vignetting != 0.0 {
            self.vignette(&mut out);
        }
        if self.gains != [1.0; 3] {
            let lut: [[u8; 256]; 3] = std::array::from_fn(|c| std::array::from_fn(|v| to_u8(v as f32 * self.gains[c])));
            for px in out.as_raw_mut().chunks_exact_mut(3) {
                for (c, v) in px.iter_mut().enumerate() {
                    *v = lut[c][usize::from(*v)];
                }
            }
        }
        Ok(out)
    }

    /// Gain 1 − v·(r/r_corner)² about the optical axis.
    fn vignette(&self, img: &mut RgbImage) {
        let (w, h) = (img.width() as f32, img.height() as f32);
        let (cx, cy) = (self.vignette_centre.0 * w, self.vignette_centre.1 * h);
        let k = self.vignetting / ((w * w + h * h) / 4.0).max(f32::MIN_POSITIVE);
        let width = img.width() as usize;
        // The x part of the radius is the same on every row.
        let dx2: Vec<f32> = (0..width).map(|x| (x as f32 + 0.5 - cx).powi(2)).collect();
        for (y, line) in img.as_raw_mut().chunks_exact_mut(3 * width.max(1)).enumerate() {
            let dy2 = (y as f32 + 0.5 - cy).powi(2);
            for (px, d) in line.chunks_exact_mut(3).zip(&dx2) {
                let fall = (1.0 - k * (d + dy2)).max(0.0);
                for v in px.iter_mut() {
                    *v = to_u8(f32::from(*v) * fall);
                }
            }
        }
    }
}

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

/// Separable Gaussian blur of standard deviation `sigma` pixels, edges clamped. Rows are
/// padded once so the inner loops run without bounds checks (and vectorise).
pub fn gaussian_blur(img: &RgbImage, sigma: f32) -> Result<RgbImage, ImageError> {
    let radius = (3.0 * sigma).ceil().max(1.0) as usize;
    let mut weights: Vec<f32> =
        (0..=2 * radius).map(|i| (-((i as f32 - radius as f32).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    let (w, h) = (img.width() as usize, img.height() as usize);
    let src = img.as_raw();
    let row = 3 * w;
    let mut tmp = vec![0f32; src.len()];
    let mut padded = vec![0f32; 3 * (w + 2 * radius)];
    for y in 0..h {
        let line = &src[y * row..(y + 1) * row];
        for (i, p) in padded.iter_mut().enumerate() {
            let x = (i / 3).saturating_sub(radius).min(w - 1);
            *p = f32::from(line[3 * x + i % 3]);
        }
        let out = &mut tmp[y * row..(y + 1) * row];
        for (k, wt) in weights.iter().enumerate() {
            for (o, p) in out.iter_mut().zip(&padded[3 * k..3 * k + row]) {
                *o += wt * p;
            }
        }
    }
    let mut out = RgbImage::filled(img.width(), img.height(), [0; 3])?;
    let dst = out.as_raw_mut();
    let mut acc = vec![0f32; row];
    for y in 0..h {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for (k, wt) in weights.iter().enumerate() {
            let yy = (y + k).saturating_sub(radius).min(h - 1);
            for (a, t) in acc.iter_mut().zip(&tmp[yy * row..(yy + 1) * row]) {
                *a += wt * t;
            }
        }
        for (d, a) in dst[y * row..(y + 1) * row].iter_mut().zip(&acc) {
            *d = to_u8(*a);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_flat_images_vignetting_darkens_corners_and_gains_scale_channels() {
        let flat = RgbImage::filled(9, 9, [7, 8, 9]).unwrap();
        assert_eq!(gaussian_blur(&flat, 1.0).unwrap().get(4, 4), Some([7, 8, 9]));
        assert_eq!(CameraOptics::NONE.apply(&flat).unwrap(), flat);
        let grey = RgbImage::filled(64, 48, [200; 3]).unwrap();
        let shaded = CameraOptics { vignetting: 0.5, ..CameraOptics::NONE }.apply(&grey).unwrap();
        let (centre, corner) = (shaded.get(32, 24).unwrap()[0], shaded.get(0, 0).unwrap()[0]);
        assert!(centre >= 199 && (98..=106).contains(&corner), "centre {centre}, corner {corner}");
        let cast = CameraOptics { gains: [1.1, 1.0, 0.5], ..CameraOptics::NONE }.apply(&grey).unwrap();
        assert_eq!(cast.get(5, 5), Some([220, 200, 100]));
        // A vertical edge spreads over about ±3σ.
        let mut edge = RgbImage::filled(40, 4, [0; 3]).unwrap();
        for y in 0..4 {
            for x in 20..40 {
                edge.put(x, y, [255; 3]);
            }
        }
        let b = gaussian_blur(&edge, 2.0).unwrap();
        assert!(b.get(13, 1).unwrap()[0] < 3 && b.get(26, 1).unwrap()[0] > 252);
        assert!((100..156).contains(&b.get(19, 1).unwrap()[0]) || (100..156).contains(&b.get(20, 1).unwrap()[0]));
    }
}
