//! Training-time augmentation of one patch, deterministic for a seed: the dihedral group (flips
//! and 90° rotations: tissue has no up), stain jitter in HED space (haematoxylin, eosin and
//! DAB optical densities, Ruifrok–Johnston vectors) as labs stain differently, HSV jitter, and
//! what a microscope camera does to a field: Gaussian blur (focus), JPEG re-compression,
//! vignetting and white-balance shifts. The edge sees camera frames; training on these
//! perturbations is what lets a slide-trained model read them.

use melanoscope_shared::image::{CameraOptics, ImageError, RgbImage, decode_rgb, encode_jpeg};
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

/// Nearest 8-bit value. `+ 0.5` then truncation rounds like `round` for the non-negative
/// values here and, unlike `round` on baseline x86-64, compiles to a few instructions.
fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

fn uniform(rng: &mut SplitMix64, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.next_f64() as f32
}

fn chance(rng: &mut SplitMix64, p: f32) -> bool {
    p > 0.0 && (rng.next_f64() as f32) < p
}

/// One augmented copy of `patch`; the same `seed` gives the same result on every platform.
pub fn augment(patch: &RgbImage, cfg: &AugmentConfig, seed: u64) -> Result<RgbImage, ImageError> {
    augment_timed(patch, cfg, seed, &mut |_, _| {})
}

/// [`augment`], handing `lap` the time each step took (for the pipeline's stage profile).
pub fn augment_timed(
    patch: &RgbImage,
    cfg: &AugmentConfig,
    seed: u64,
    lap: &mut dyn FnMut(&'static str, std::time::Duration),
) -> Result<RgbImage, ImageError> {
    let mut last = std::time::Instant::now();
    let mut mark = |step: &'static str| {
        let now = std::time::Instant::now();
        lap(step, now - last);
        last = now;
    };
    let mut rng = SplitMix64::new(seed);
    let mut img = if cfg.dihedral { dihedral(patch, rng.below(8) as u8)? } else { patch.clone() };
    mark("dihedral");
    if cfg.hed_sigma > 0.0 {
        let s = cfg.hed_sigma;
        let jitter: [(f32, f32); 3] =
            std::array::from_fn(|_| (uniform(&mut rng, 1.0 - s, 1.0 + s), uniform(&mut rng, -s, s)));
        hed_jitter(&mut img, jitter);
    }
    mark("hed");
    let (dh, ds, dv) = cfg.hsv;
    if dh > 0.0 || ds > 0.0 || dv > 0.0 {
        let (h, s, v) =
            (uniform(&mut rng, -dh, dh), uniform(&mut rng, 1.0 - ds, 1.0 + ds), uniform(&mut rng, 1.0 - dv, 1.0 + dv));
        hsv_jitter(&mut img, h, s, v);
    }
    mark("hsv");
    // The camera: defocus, vignetting and white balance drawn at random, then applied through
    // the shared camera model (the one the synthetic frames and the exporter's cameras use).
    let mut camera = CameraOptics::NONE;
    if chance(&mut rng, cfg.blur_probability) {
        camera.blur_sigma_px = uniform(&mut rng, 0.3, cfg.blur_max_sigma.max(0.3));
    }
    if chance(&mut rng, cfg.vignette_probability) {
        camera.vignetting = uniform(&mut rng, 0.0, cfg.vignette_strength);
        camera.vignette_centre = (uniform(&mut rng, 0.3, 0.7), uniform(&mut rng, 0.3, 0.7));
    }
    if cfg.white_balance > 0.0 {
        let w = cfg.white_balance;
        camera.gains = std::array::from_fn(|_| uniform(&mut rng, 1.0 - w, 1.0 + w));
    }
    if camera != CameraOptics::NONE {
        img = camera.apply(&img)?;
    }
    mark("camera");
    if chance(&mut rng, cfg.jpeg_probability) {
        let (lo, hi) = (cfg.jpeg_quality.0.min(cfg.jpeg_quality.1), cfg.jpeg_quality.0.max(cfg.jpeg_quality.1));
        let q = lo + rng.below(u64::from(hi - lo) + 1) as u8;
        img = decode_rgb(&encode_jpeg(&img, q)?)?;
    }
    mark("jpeg");
    Ok(img)
}

/// One of the 8 orientations: `k & 3` quarter turns clockwise, then a horizontal flip if `k & 4`.
pub fn dihedral(img: &RgbImage, k: u8) -> Result<RgbImage, ImageError> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let turns = k & 3;
    let (ow, oh) = if turns % 2 == 1 { (h, w) } else { (w, h) };
    let mut out = RgbImage::filled(ow as u32, oh as u32, [0; 3])?;
    let src = img.as_raw();
    let dst = out.as_raw_mut();
    // Output pixel (ox, oy) from source pixel (x, y): the inverse of the forward map, row by
    // row over the output so that writes are sequential.
    for oy in 0..oh {
        for ox in 0..ow {
            let fx = if k & 4 != 0 { ow - 1 - ox } else { ox };
            let (x, y) = match turns {
                0 => (fx, oy),
                1 => (oy, h - 1 - fx),
                2 => (w - 1 - fx, h - 1 - oy),
                _ => (w - 1 - oy, fx),
            };
            let (s, d) = (3 * (y * w + x), 3 * (oy * ow + ox));
            dst[d..d + 3].copy_from_slice(&src[s..s + 3]);
        }
    }
    Ok(out)
}

/// Scales and shifts each stain's optical density: `jitter[i] = (scale, shift)`.
///
/// The whole map is linear in optical density: d_c = Σ_k A[k][c]·od(v_k) + B[c] with
/// A = M⁻¹·diag(scale)·M and B = shift·M, so the output is 256·e^(−B_c)·Π_k e^(−A[k][c]·od(v_k)) − 1:
/// nine table look-ups per pixel instead of three exponentials.
fn hed_jitter(img: &mut RgbImage, jitter: [(f32, f32); 3]) {
    let hed_from_rgb = invert3(RGB_FROM_HED);
    let a: [[f32; 3]; 3] = std::array::from_fn(|k| {
        std::array::from_fn(|c| (0..3).map(|s| hed_from_rgb[k][s] * jitter[s].0 * RGB_FROM_HED[s][c]).sum())
    });
    let offset: [f32; 3] =
        std::array::from_fn(|c| 256.0 * (-(0..3).map(|s| jitter[s].1 * RGB_FROM_HED[s][c]).sum::<f32>()).exp());
    // factor[k][c][v] = e^(−A[k][c]·od(v)), od(v) = −ln((v + 1)/256): a power of (v + 1)/256.
    let factor: [[[f32; 256]; 3]; 3] = std::array::from_fn(|k| {
        std::array::from_fn(|c| std::array::from_fn(|v| ((v as f32 + 1.0) / 256.0).powf(a[k][c])))
    });
    for px in img.as_raw_mut().chunks_exact_mut(3) {
        let (r, g, b) = (px[0] as usize, px[1] as usize, px[2] as usize);
        for c in 0..3 {
            let v = offset[c] * factor[0][c][r] * factor[1][c][g] * factor[2][c][b] - 1.0;
            px[c] = to_u8(v);
        }
    }
}

fn hsv_jitter(img: &mut RgbImage, hue_deg: f32, sat: f32, val: f32) {
    // Blocks of pixels in channel arrays, and selects instead of branches, so the arithmetic
    // vectorises (the per-pixel branching form cost more than every other step together).
    const L: usize = 16;
    let dh = hue_deg / 60.0;
    for block in img.as_raw_mut().chunks_mut(3 * L) {
        let n = block.len() / 3;
        let mut rgb = [[0f32; L]; 3];
        for (i, px) in block.chunks_exact(3).enumerate() {
            for c in 0..3 {
                rgb[c][i] = f32::from(px[c]) * (1.0 / 255.0);
            }
        }
        let mut out = [[0f32; L]; 3];
        for i in 0..L {
            let (r, g, b) = (rgb[0][i], rgb[1][i], rgb[2][i]);
            let (max, min) = (r.max(g).max(b), r.min(g).min(b));
            let c = max - min;
            let inv = if c > 0.0 { 1.0 / c } else { 0.0 };
            // Hue in sixths of a turn, [0, 6).
            let mut h = if max == r {
                (g - b) * inv
            } else if max == g {
                (b - r) * inv + 2.0
            } else {
                (r - g) * inv + 4.0
            };
            h += dh;
            h = if h < 0.0 { h + 6.0 } else { h };
            h = if h < 0.0 { h + 6.0 } else { h };
            h = if h >= 6.0 { h - 6.0 } else { h };
            let s = if max > 0.0 { (c / max * sat).clamp(0.0, 1.0) } else { 0.0 };
            let v = (max * val).clamp(0.0, 1.0);
            // f(n) = V − V·S·clamp(min(k, 4 − k), 0, 1), k = (n + H) mod 6, n = 5, 3, 1 for R, G, B.
            for (ch, n6) in [5.0f32, 3.0, 1.0].into_iter().enumerate() {
                let k = n6 + h;
                let k = if k >= 6.0 { k - 6.0 } else { k };
                out[ch][i] = (v - v * s * k.min(4.0 - k).clamp(0.0, 1.0)) * 255.0;
            }
        }
        for (i, px) in block.chunks_exact_mut(3).enumerate().take(n) {
            for c in 0..3 {
                px[c] = to_u8(out[c][i]);
            }
        }
    }
}

#[cfg(test)]
mod tests;
