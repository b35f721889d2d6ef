//! "Microscope camera frames" from the same scenes as the slides: a field of view at the
//! camera's µm/px with what a cheap camera on a lab microscope adds — vignetting, defocus blur,
//! a colour cast from the lamp and white balance, and JPEG compression.

use super::scene::Scene;
use melanoscope_shared::image::{CameraOptics, ImageError, RgbImage, encode_jpeg};
use melanoscope_shared::rng::SplitMix64;

/// The camera and optics of one microscope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameOptics {
    /// Brightness lost at the frame corners (0 = none, 0.5 = half).
    pub vignetting: f32,
    /// Defocus in pixels (0 = sharp); the Gaussian it stands for is [`FrameOptics::camera`]'s.
    pub blur_px: f32,
    /// Per-channel gains of lamp colour and white balance.
    pub colour_cast: [f32; 3],
    pub jpeg_quality: u8,
}

impl FrameOptics {
    /// The camera model these optics describe: the vignette centred, the colour cast as channel
    /// gains, and the defocus a Gaussian of the variance the synthetic frames have always had:
    /// `blur_px` was rendered as three box passes of radius r = round(√(blur_px² + 1)), whose
    /// variance is r(r + 1); keeping it keeps every frame fixture, demo frame and focus
    /// threshold as sharp as before.
    pub fn camera(&self) -> CameraOptics {
        let r = if self.blur_px > 0.05 { (self.blur_px * self.blur_px + 1.0).sqrt().round().max(1.0) } else { 0.0 };
        CameraOptics {
            blur_sigma_px: (r * (r + 1.0)).sqrt(),
            vignetting: self.vignetting,
            vignette_centre: (0.5, 0.5),
            gains: self.colour_cast,
        }
    }

    /// A plausible microscope for `site`, deterministic.
    pub fn for_site(site: u64) -> Self {
        let mut rng = SplitMix64::new(site ^ 0xF7A3);
        let mut u = || rng.next_f64() as f32;
        Self {
            vignetting: 0.15 + 0.25 * u(),
            blur_px: 0.3 + 0.9 * u(),
            colour_cast: [0.92 + 0.16 * u(), 0.92 + 0.16 * u(), 0.92 + 0.16 * u()],
            jpeg_quality: 70 + (20.0 * u()) as u8,
        }
    }
}

/// Centre of the scene's first lesion region (where a pathologist would look).
pub fn lesion_centre(scene: &Scene) -> Option<(f32, f32)> {
    let region = scene.lesion_regions.first()?;
    let n = region.len() as f32;
    Some((region.iter().map(|p| p.0).sum::<f32>() / n, region.iter().map(|p| p.1).sum::<f32>() / n))
}

/// Renders a `width`x`height` frame centred at `centre_um` at `um_per_px`, with `optics`.
pub fn render_frame(
    scene: &Scene,
    centre_um: (f32, f32),
    um_per_px: f64,
    width: u32,
    height: u32,
    optics: &FrameOptics,
) -> Result<RgbImage, ImageError> {
    let px = um_per_px as f32;
    let (x0, y0) = (centre_um.0 - width as f32 * px / 2.0, centre_um.1 - height as f32 * px / 2.0);
    let mut data = vec![0u8; width as usize * height as usize * 3];
    for (y, line) in data.chunks_mut(width as usize * 3).enumerate() {
        for (x, p) in line.chunks_exact_mut(3).enumerate() {
            let rgb = scene.color(x0 + (x as f32 + 0.5) * px, y0 + (y as f32 + 0.5) * px, px);
            p.copy_from_slice(&rgb);
        }
    }
    let mut img = RgbImage::from_raw(width, height, data)?;
    apply_optics(&mut img, optics)?;
    Ok(img)
}

/// What the microscope and camera do to a view: defocus blur, vignetting and colour cast (the
/// JPEG is [`frame_jpeg`]), through the shared camera model. Also used on windows of slides to
/// make them camera-like.
pub fn apply_optics(img: &mut RgbImage, optics: &FrameOptics) -> Result<(), ImageError> {
    *img = optics.camera().apply(img)?;
    Ok(())
}

/// The frame as the camera would deliver it (JPEG bytes).
pub fn frame_jpeg(img: &RgbImage, optics: &FrameOptics) -> Result<Vec<u8>, ImageError> {
    encode_jpeg(img, optics.jpeg_quality)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lesion;

    #[test]
    fn frames_show_the_lesion_with_camera_effects() {
        let scene = Scene::new(Lesion::MM, 3000.0, 1000.0, 5, 1);
        let centre = lesion_centre(&scene).unwrap();
        let clean = FrameOptics { vignetting: 0.0, blur_px: 0.0, colour_cast: [1.0; 3], jpeg_quality: 95 };
        let sharp = render_frame(&scene, centre, 1.0, 320, 240, &clean).unwrap();
        let optics = FrameOptics { vignetting: 0.5, blur_px: 1.5, ..clean };
        let soft = render_frame(&scene, centre, 1.0, 320, 240, &optics).unwrap();
        let mean = |img: &RgbImage, x0: u32, y0: u32| {
            let mut s = 0u32;
            for y in y0..y0 + 20 {
                for x in x0..x0 + 20 {
                    s += img.get(x, y).unwrap().iter().map(|v| u32::from(*v)).sum::<u32>();
                }
            }
            s as f32 / 1200.0
        };
        // Vignetting darkens the corner relative to the centre.
        let corner_ratio = |i: &RgbImage| mean(i, 0, 0) / mean(i, 150, 110);
        assert!(
            corner_ratio(&soft) < corner_ratio(&sharp) * 0.8,
            "{} vs {}",
            corner_ratio(&soft),
            corner_ratio(&sharp)
        );
        // Blur lowers local contrast (sum of neighbour differences).
        let contrast = |i: &RgbImage| {
            i.as_raw().windows(4).map(|w| (i32::from(w[3]) - i32::from(w[0])).unsigned_abs()).sum::<u32>()
        };
        assert!(contrast(&soft) < contrast(&sharp));
        // Centred on the melanoma, the frame is crowded with nuclei; away from it, dermis is not.
        let nuclear = |i: &RgbImage| {
            i.as_raw().chunks_exact(3).filter(|p| p.iter().map(|v| u32::from(*v)).sum::<u32>() < 330).count() as f32
                / (i.width() * i.height()) as f32
        };
        let away = (if centre.0 > 1500.0 { centre.0 - 1100.0 } else { centre.0 + 1100.0 }, centre.1);
        assert!(!scene.in_lesion(away.0, away.1));
        let dermis = render_frame(&scene, away, 1.0, 320, 240, &clean).unwrap();
        assert!(nuclear(&sharp) > 2.0 * nuclear(&dermis), "{} vs {}", nuclear(&sharp), nuclear(&dermis));
        let jpeg = frame_jpeg(&soft, &optics).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(render_frame(&scene, centre, 1.0, 320, 240, &optics).unwrap(), soft, "deterministic");
    }
}
