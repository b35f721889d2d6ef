use super::{CamError, Colormap};
use crate::image::RgbImage;

/// Blends `colormap(heat)` over `image`: `out = (1 - a) * image + a * colour`, where
/// `a = alpha` for heat at or above `min_heat` and 0 below it, so cold regions keep the
/// tissue visible for the pathologist. `heat` is row-major, one value per pixel, in 0..1.
pub fn overlay(
    image: &RgbImage,
    heat: &[f32],
    colormap: &Colormap,
    alpha: f32,
    min_heat: f32,
) -> Result<RgbImage, CamError> {
    let n = image.width() as usize * image.height() as usize;
    if heat.len() != n {
        return Err(CamError::Shape {
            what: "heat map",
            expected: n,
            actual: heat.len(),
            detail: format!("one value per pixel of the {}x{} image", image.width(), image.height()),
        });
    }
    let alpha = if alpha.is_finite() { alpha.clamp(0.0, 1.0) } else { 0.0 };
    let mut out = image.clone();
    for (px, h) in out.as_raw_mut().chunks_exact_mut(3).zip(heat) {
        if *h >= min_heat {
            let color = colormap.color(*h);
            for c in 0..3 {
                px[c] = (f32::from(px[c]) * (1.0 - alpha) + f32::from(color[c]) * alpha + 0.5) as u8;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::viridis;
    use super::*;

    #[test]
    fn blends_only_hot_pixels() {
        let img = RgbImage::filled(2, 1, [200, 100, 0]).unwrap();
        let out = overlay(&img, &[1.0, 0.1], &viridis(), 0.5, 0.2).unwrap();
        // (200+253)/2, (100+231)/2, (0+37)/2, rounded.
        assert_eq!(out.get(0, 0), Some([227, 166, 19]));
        assert_eq!(out.get(1, 0), Some([200, 100, 0]));
        assert!(overlay(&img, &[1.0], &viridis(), 0.5, 0.0).is_err());
    }
}
