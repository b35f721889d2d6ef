//! Reinhard's colour transfer in CIELAB: each channel of the image is shifted and scaled to the
//! target's mean and standard deviation (Reinhard, Ashikhmin, Gooch and Shirley 2001; in CIELAB
//! as TIAToolbox and staintools apply it to stained tissue).

use super::StainError;
use super::lab::{lab_to_rgb_fast, rgb_to_lab_fast};
pub use crate::formats::LabStats;
use crate::image::RgbImage;

const CHANNELS: [&str; 3] = ["L*", "a*", "b*"];

/// The image's statistics; refused for an image without spread in a channel (one colour).
pub fn fit(img: &RgbImage) -> Result<LabStats, StainError> {
    let pixels: Vec<[u8; 3]> = img.as_raw().chunks_exact(3).map(|px| [px[0], px[1], px[2]]).collect();
    fit_pixels(&pixels)
}

/// The statistics of a sample of pixels (of one image or of many: a training set's target).
pub fn fit_pixels(pixels: &[[u8; 3]]) -> Result<LabStats, StainError> {
    let n = pixels.len() as f64;
    let (mut sum, mut sq) = ([0.0f64; 3], [0.0f64; 3]);
    for px in pixels {
        let lab = rgb_to_lab_fast(*px).map(f64::from);
        for c in 0..3 {
            sum[c] += lab[c];
            sq[c] += lab[c] * lab[c];
        }
    }
    if n < 1.0 {
        return Err(StainError::NoSpread { channel: CHANNELS[0] });
    }
    let mean = sum.map(|s| s / n);
    let mut std = [0.0f64; 3];
    for c in 0..3 {
        std[c] = (sq[c] / n - mean[c] * mean[c]).max(0.0).sqrt();
        if std[c] < 1e-3 {
            return Err(StainError::NoSpread { channel: CHANNELS[c] });
        }
    }
    Ok(LabStats { mean: mean.map(|m| m as f32), std: std.map(|s| s as f32) })
}

/// `img` with `source`'s statistics (the image's own, from [`fit`]) moved to `target`'s.
pub fn apply(img: &RgbImage, source: &LabStats, target: &LabStats) -> RgbImage {
    let mut out = img.clone();
    let scale: [f32; 3] = [0, 1, 2].map(|c| target.std[c] / source.std[c].max(1e-3));
    // Each channel as `lab * scale + offset`.
    let offset: [f32; 3] = [0, 1, 2].map(|c| target.mean[c] - source.mean[c] * scale[c]);
    for px in out.as_raw_mut().chunks_exact_mut(3) {
        let lab = rgb_to_lab_fast([px[0], px[1], px[2]]);
        let moved = [0, 1, 2].map(|c| lab[c] * scale[c] + offset[c]);
        px.copy_from_slice(&lab_to_rgb_fast(moved));
    }
    out
}

/// `img` fitted and moved to `target`.
pub fn normalise(img: &RgbImage, target: &LabStats) -> Result<RgbImage, StainError> {
    Ok(apply(img, &fit(img)?, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(tint: [i32; 3]) -> RgbImage {
        let mut img = RgbImage::filled(64, 48, [0; 3]).unwrap();
        for y in 0..48 {
            for x in 0..64 {
                let v = |base: i32, k: i32| (base + k).clamp(0, 255) as u8;
                img.put(x, y, [v(tint[0], x as i32 * 2), v(tint[1], y as i32 * 3), v(tint[2], (x + y) as i32)]);
            }
        }
        img
    }

    #[test]
    fn the_image_takes_the_targets_statistics() {
        let target = fit(&gradient([150, 60, 140])).unwrap();
        let moved = normalise(&gradient([90, 100, 60]), &target).unwrap();
        let got = fit(&moved).unwrap();
        for c in 0..3 {
            assert!((got.mean[c] - target.mean[c]).abs() < 1.0, "mean {c}: {got:?} vs {target:?}");
            assert!((got.std[c] - target.std[c]).abs() < 0.1 * target.std[c] + 0.5, "std {c}: {got:?} vs {target:?}");
        }
        // Fitting an image to its own statistics leaves it (up to rounding through CIELAB).
        let img = gradient([120, 80, 130]);
        let same = normalise(&img, &fit(&img).unwrap()).unwrap();
        let diff = img.as_raw().iter().zip(same.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(diff <= 1, "{diff}");
    }

    #[test]
    fn one_colour_is_refused_by_channel() {
        let e = fit(&RgbImage::filled(8, 8, [200, 100, 180]).unwrap()).unwrap_err();
        assert_eq!(e, StainError::NoSpread { channel: "L*" });
    }
}
