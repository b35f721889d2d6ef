//! Training-time augmentation of one patch, deterministic for a seed: the dihedral group (flips
//! and 90° rotations: tissue has no up), stain jitter in HED space (haematoxylin, eosin and
//! DAB optical densities, Ruifrok–Johnston vectors) as labs stain differently, HSV jitter, and
//! what a microscope camera does to a field: Gaussian blur (focus), JPEG re-compression,
//! vignetting and white-balance shifts. The edge sees camera frames; training on these
//! perturbations is what lets a slide-trained model read them.

use melanoscope_shared::image::{ImageError, RgbImage, decode_rgb, encode_jpeg};
use melanoscope_shared::rng::SplitMix64;

/// What to apply; each probability or amplitude of 0 turns its step off.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentConfig {
    /// Random flip and 90° rotation (all 8 orientations equally likely).
    pub dihedral: bool,
    /// Each HED channel is scaled by U(1−σ, 1+σ) and shifted by U(−σ, σ) (Tellez et al. use 0.05).
    pub hed_sigma: f32,
    /// Hue shift in degrees (±), saturation and value scale (±fraction).
    pub hsv: (f32, f32, f32),
    pub blur_probability: f32,
    pub blur_max_sigma: f32,
    pub jpeg_probability: f32,
    /// JPEG quality range (inclusive).
    pub jpeg_quality: (u8, u8),
    pub vignette_probability: f32,
    /// Darkening at the corners, up to this fraction.
    pub vignette_strength: f32,
    /// Per-channel gains U(1−w, 1+w).
    pub white_balance: f32,
}

impl AugmentConfig {
    /// Nothing changes the patch.
    pub fn none() -> Self {
        Self {
            dihedral: false,
            hed_sigma: 0.0,
            hsv: (0.0, 0.0, 0.0),
            blur_probability: 0.0,
            blur_max_sigma: 0.0,
            jpeg_probability: 0.0,
            jpeg_quality: (90, 90),
            vignette_probability: 0.0,
            vignette_strength: 0.0,
            white_balance: 0.0,
        }
    }

    /// Defaults for training on slides for use on microscope cameras.
    pub fn microscope() -> Self {
        Self {
            dihedral: true,
            hed_sigma: 0.05,
            hsv: (6.0, 0.1, 0.1),
            blur_probability: 0.3,
            blur_max_sigma: 1.5,
            jpeg_probability: 0.5,
            jpeg_quality: (60, 95),
            vignette_probability: 0.3,
            vignette_strength: 0.25,
            white_balance: 0.06,
        }
    }
}

/// Ruifrok & Johnston stain vectors (rows: haematoxylin, eosin, DAB) in optical density.
const RGB_FROM_HED: [[f32; 3]; 3] = [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]];

fn invert3(m: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let c = |r0: usize, c0: usize, r1: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    [
        [c(1, 1, 2, 2) / det, -c(0, 1, 2, 2) / det, c(0, 1, 1, 2) / det],
        [-c(1, 0, 2, 2) / det, c(0, 0, 2, 2) / det, -c(0, 0, 1, 2) / det],
        [c(1, 0, 2, 1) / det, -c(0, 0, 2, 1) / det, c(0, 0, 1, 1) / det],
    ]
}

fn uniform(rng: &mut SplitMix64, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.next_f64() as f32
}

fn chance(rng: &mut SplitMix64, p: f32) -> bool {
    p > 0.0 && (rng.next_f64() as f32) < p
}

/// One augmented copy of `patch`; the same `seed` gives the same result on every platform.
pub fn augment(patch: &RgbImage, cfg: &AugmentConfig, seed: u64) -> Result<RgbImage, ImageError> {
    let mut rng = SplitMix64::new(seed);
    let mut img = if cfg.dihedral { dihedral(patch, rng.below(8) as u8)? } else { patch.clone() };
    if cfg.hed_sigma > 0.0 {
        let s = cfg.hed_sigma;
        let jitter: [(f32, f32); 3] =
            std::array::from_fn(|_| (uniform(&mut rng, 1.0 - s, 1.0 + s), uniform(&mut rng, -s, s)));
        hed_jitter(&mut img, jitter);
    }
    let (dh, ds, dv) = cfg.hsv;
    if dh > 0.0 || ds > 0.0 || dv > 0.0 {
        let (h, s, v) =
            (uniform(&mut rng, -dh, dh), uniform(&mut rng, 1.0 - ds, 1.0 + ds), uniform(&mut rng, 1.0 - dv, 1.0 + dv));
        hsv_jitter(&mut img, h, s, v);
    }
    if chance(&mut rng, cfg.blur_probability) {
        let sigma = uniform(&mut rng, 0.3, cfg.blur_max_sigma.max(0.3));
        img = gaussian_blur(&img, sigma)?;
    }
    if chance(&mut rng, cfg.vignette_probability) {
        let strength = uniform(&mut rng, 0.0, cfg.vignette_strength);
        let centre = (uniform(&mut rng, 0.3, 0.7), uniform(&mut rng, 0.3, 0.7));
        vignette(&mut img, strength, centre);
    }
    if cfg.white_balance > 0.0 {
        let w = cfg.white_balance;
        let gains: [f32; 3] = std::array::from_fn(|_| uniform(&mut rng, 1.0 - w, 1.0 + w));
        for px in img.as_raw_mut().chunks_exact_mut(3) {
            for c in 0..3 {
                px[c] = (f32::from(px[c]) * gains[c]).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    if chance(&mut rng, cfg.jpeg_probability) {
        let (lo, hi) = (cfg.jpeg_quality.0.min(cfg.jpeg_quality.1), cfg.jpeg_quality.0.max(cfg.jpeg_quality.1));
        let q = lo + rng.below(u64::from(hi - lo) + 1) as u8;
        img = decode_rgb(&encode_jpeg(&img, q)?)?;
    }
    Ok(img)
}

/// One of the 8 orientations: `k & 3` quarter turns clockwise, then a horizontal flip if `k & 4`.
pub fn dihedral(img: &RgbImage, k: u8) -> Result<RgbImage, ImageError> {
    let (w, h) = (img.width(), img.height());
    let turns = k & 3;
    let (ow, oh) = if turns % 2 == 1 { (h, w) } else { (w, h) };
    let mut out = RgbImage::filled(ow, oh, [0; 3])?;
    for y in 0..h {
        for x in 0..w {
            let (mut ox, oy) = match turns {
                0 => (x, y),
                1 => (h - 1 - y, x),
                2 => (w - 1 - x, h - 1 - y),
                _ => (y, w - 1 - x),
            };
            if k & 4 != 0 {
                ox = ow - 1 - ox;
            }
            if let Some(p) = img.get(x, y) {
                out.put(ox, oy, p);
            }
        }
    }
    Ok(out)
}

/// Scales and shifts each stain's optical density: `jitter[i] = (scale, shift)`.
fn hed_jitter(img: &mut RgbImage, jitter: [(f32, f32); 3]) {
    let hed_from_rgb = invert3(RGB_FROM_HED);
    // Optical density of every 8-bit value, computed once.
    let od: [f32; 256] = std::array::from_fn(|v| -((v as f32 + 1.0) / 256.0).ln());
    for px in img.as_raw_mut().chunks_exact_mut(3) {
        let o = [od[px[0] as usize], od[px[1] as usize], od[px[2] as usize]];
        let hed: [f32; 3] = std::array::from_fn(|s| {
            let v = o[0] * hed_from_rgb[0][s] + o[1] * hed_from_rgb[1][s] + o[2] * hed_from_rgb[2][s];
            v * jitter[s].0 + jitter[s].1
        });
        for c in 0..3 {
            let d = hed[0] * RGB_FROM_HED[0][c] + hed[1] * RGB_FROM_HED[1][c] + hed[2] * RGB_FROM_HED[2][c];
            px[c] = (256.0 * (-d).exp() - 1.0).round().clamp(0.0, 255.0) as u8;
        }
    }
}

fn hsv_jitter(img: &mut RgbImage, hue_deg: f32, sat: f32, val: f32) {
    for px in img.as_raw_mut().chunks_exact_mut(3) {
        let [r, g, b] = [px[0], px[1], px[2]].map(|v| f32::from(v) / 255.0);
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        let c = max - min;
        let mut h = if c == 0.0 {
            0.0
        } else if max == r {
            60.0 * ((g - b) / c).rem_euclid(6.0)
        } else if max == g {
            60.0 * ((b - r) / c + 2.0)
        } else {
            60.0 * ((r - g) / c + 4.0)
        };
        let s = if max == 0.0 { 0.0 } else { (c / max * sat).clamp(0.0, 1.0) };
        let v = (max * val).clamp(0.0, 1.0);
        h = (h + hue_deg).rem_euclid(360.0);
        let chroma = v * s;
        let x = chroma * (1.0 - ((h / 60.0).rem_euclid(2.0) - 1.0).abs());
        let (r1, g1, b1) = match (h / 60.0) as u32 {
            0 => (chroma, x, 0.0),
            1 => (x, chroma, 0.0),
            2 => (0.0, chroma, x),
            3 => (0.0, x, chroma),
            4 => (x, 0.0, chroma),
            _ => (chroma, 0.0, x),
        };
        let m = v - chroma;
        for (c, v) in [r1, g1, b1].into_iter().enumerate() {
            px[c] = ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Separable Gaussian blur, edges clamped.
pub fn gaussian_blur(img: &RgbImage, sigma: f32) -> Result<RgbImage, ImageError> {
    let radius = (3.0 * sigma).ceil().max(1.0) as i64;
    let weights: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = weights.iter().sum();
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let src = img.as_raw();
    let mut tmp = vec![0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut acc = 0.0;
                for (k, wt) in weights.iter().enumerate() {
                    let xx = (x + k as i64 - radius).clamp(0, w - 1);
                    acc += wt * f32::from(src[((y * w + xx) * 3 + c) as usize]);
                }
                tmp[((y * w + x) * 3 + c) as usize] = acc / total;
            }
        }
    }
    let mut out = RgbImage::filled(img.width(), img.height(), [0; 3])?;
    let dst = out.as_raw_mut();
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut acc = 0.0;
                for (k, wt) in weights.iter().enumerate() {
                    let yy = (y + k as i64 - radius).clamp(0, h - 1);
                    acc += wt * tmp[((yy * w + x) * 3 + c) as usize];
                }
                dst[((y * w + x) * 3 + c) as usize] = (acc / total).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok(out)
}

/// Darkens towards the corners: gain 1 − strength·(r/r_max)², centred at `centre` (fractions).
fn vignette(img: &mut RgbImage, strength: f32, centre: (f32, f32)) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (cx, cy) = (centre.0 * w, centre.1 * h);
    let r_max2 = (w * w + h * h) / 4.0;
    let width = img.width() as usize;
    for (i, px) in img.as_raw_mut().chunks_exact_mut(3).enumerate() {
        let (x, y) = ((i % width) as f32 + 0.5, (i / width) as f32 + 0.5);
        let gain = (1.0 - strength * ((x - cx).powi(2) + (y - cy).powi(2)) / r_max2).max(0.0);
        for v in px.iter_mut() {
            *v = (f32::from(*v) * gain).round() as u8;
        }
    }
}

#[cfg(test)]
mod tests;
