//! Checks a frame must pass before any verdict: exposure (over the whole frame), tissue (enough
//! fields under the study's background limit) and focus (sharpness over the tissue fields, at
//! the model's µm/px, where the model looks).

use melanoscope_shared::formats::Verdict;
use melanoscope_shared::image::{FieldRect, RgbImage};

/// Mean grey level (0-255) and the fraction of pixels clipped at 0 or 255 in any channel,
/// over every 4th pixel of every 4th row.
pub fn exposure(img: &RgbImage) -> (f64, f64) {
    let (mut sum, mut clipped, mut n) = (0u64, 0u64, 0u64);
    for y in (0..img.height()).step_by(4) {
        for px in img.row(y).chunks_exact(3).step_by(4) {
            sum += u64::from(px[0]) + u64::from(px[1]) + u64::from(px[2]);
            clipped += u64::from(px.iter().any(|v| *v == 0 || *v == 255));
            n += 1;
        }
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    (sum as f64 / (3 * n) as f64, clipped as f64 / n as f64)
}

/// Focus of the tissue in `rects` of `img`: the mean squared grey-level gradient (central
/// differences) over the variance of the grey levels, at the model's µm/px. Defocus takes the
/// gradient down faster than the contrast, so the measure falls steadily with blur; dividing by
/// the variance keeps it from depending on how much stain the view holds, and sensor or JPEG
/// noise adds little against a field's contrast. (An earlier measure, the Laplacian's variance
/// at 2 px over that at 1 px, rose with slight defocus and scored sharp real H&E lowest.)
///
/// Measured on one 256 px field of each real H&E view of `../shared/data` (tests/tests/it/focus.rs
/// prints the table): in focus 0.34 to 2.4 (scanned tiles and photomicrographs), synthetic
/// camera frames 0.087 to 0.84; blurred by a Gaussian of 3 px 0.061 to 0.22, of 5 px 0.028 to
/// 0.122, of 8 px 0.010 to 0.062. Flat views score 0.
pub fn sharpness(img: &RgbImage, rects: impl Iterator<Item = FieldRect>) -> f64 {
    let grey = |x: u32, y: u32| {
        let p = img.get(x, y).unwrap_or([0; 3]);
        (f64::from(p[0]) * 0.299) + (f64::from(p[1]) * 0.587) + (f64::from(p[2]) * 0.114)
    };
    let (mut g1, mut g2, mut energy, mut n) = (0f64, 0f64, 0f64, 0u64);
    for r in rects {
        let (x1, y1) = ((r.x + r.size).min(img.width()), (r.y + r.size).min(img.height()));
        // Every other pixel of every other row, 2 px in from the field's edges.
        for y in (r.y + 2..y1.saturating_sub(2)).step_by(2) {
            for x in (r.x + 2..x1.saturating_sub(2)).step_by(2) {
                let g = grey(x, y);
                let (gx, gy) = (grey(x + 1, y) - grey(x - 1, y), grey(x, y + 1) - grey(x, y - 1));
                g1 += g;
                g2 += g * g;
                energy += gx * gx + gy * gy;
                n += 1;
            }
        }
    }
    if n == 0 {
        return 0.0;
    }
    let variance = g2 / n as f64 - (g1 / n as f64).powi(2);
    // A flat view (under one grey level of contrast) has nothing to focus on.
    if variance < 1.0 { 0.0 } else { energy / n as f64 / variance }
}

/// A check that stopped a frame before any verdict. Its own type, so that only these can
/// stand where a gate is expected (a melanoma or nevus verdict cannot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Gate {
    Underexposed,
    Overexposed,
    InsufficientTissue,
    OutOfFocus,
    /// Smaller than one field at the model's µm/px (not a tissue problem: the frame is).
    FrameTooSmall,
    /// Most tissue fields are unlike the model's training data (decided after inference, from
    /// the features it already computed; before any verdict).
    UnfamiliarTissue,
}

impl Gate {
    /// The verdict the screen, LEDs and log show for this gate.
    pub fn verdict(self) -> Verdict {
        match self {
            Gate::Underexposed => Verdict::Underexposed,
            Gate::Overexposed => Verdict::Overexposed,
            Gate::InsufficientTissue => Verdict::InsufficientTissue,
            Gate::OutOfFocus => Verdict::OutOfFocus,
            Gate::FrameTooSmall => Verdict::FrameTooSmall,
            Gate::UnfamiliarTissue => Verdict::UnfamiliarTissue,
        }
    }
}

/// Limits of the gates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateLimits {
    pub min_mean_luma: f64,
    pub max_mean_luma: f64,
    pub max_clipped_fraction: f64,
    pub min_tissue_fields: usize,
    pub min_sharpness: f64,
}

/// What the gates measured on one frame.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GateReadings {
    pub mean_luma: f64,
    pub clipped_fraction: f64,
    /// Fields the frame holds at the model's µm/px, tissue or not.
    pub grid_fields: usize,
    pub tissue_fields: usize,
    pub sharpness: f64,
}

impl GateLimits {
    /// The gate verdict that stops screening this frame, if any, in the order a technician
    /// fixes them: light first, then the slide's position, then focus.
    pub fn check(&self, r: &GateReadings) -> Option<Gate> {
        if r.mean_luma < self.min_mean_luma {
            Some(Gate::Underexposed)
        } else if r.mean_luma > self.max_mean_luma || r.clipped_fraction > self.max_clipped_fraction {
            Some(Gate::Overexposed)
        } else if r.grid_fields == 0 {
            Some(Gate::FrameTooSmall)
        } else if r.tissue_fields < self.min_tissue_fields {
            Some(Gate::InsufficientTissue)
        } else if r.sharpness < self.min_sharpness {
            Some(Gate::OutOfFocus)
        } else {
            None
        }
    }
}

/// Paints what lies outside the circle inscribed in the frame white (glass), so fields that
/// the eyepiece's round field of view cuts fail the background rule like any empty field.
pub fn mask_outside_circle(img: &mut RgbImage) {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let (cx, cy, r) = (w / 2.0, h / 2.0, w.min(h) / 2.0);
    let width = img.width() as usize;
    for (y, row) in img.as_raw_mut().chunks_exact_mut(width * 3).enumerate() {
        let dy = y as f64 + 0.5 - cy;
        let half = (r * r - dy * dy).max(0.0).sqrt();
        let (x0, x1) = ((cx - half).max(0.0) as usize, ((cx + half).ceil() as usize).min(width));
        row[..x0 * 3].fill(255);
        row[x1 * 3..].fill(255);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn focus_falls_with_defocus_for_every_lesion_and_ignores_contrast() {
        use melanoscope_shared::Lesion;
        use melanoscope_synth::frames::{FrameOptics, lesion_centre, render_frame};
        use melanoscope_synth::scene::Scene;
        let all = || std::iter::once(FieldRect::square(0, 0, 192));
        let score = |lesion, blur_px| {
            let scene = Scene::new(lesion, 1600.0, 1200.0, 3, 0);
            let c = lesion_centre(&scene).unwrap();
            let optics = FrameOptics { vignetting: 0.0, blur_px, colour_cast: [1.0; 3], jpeg_quality: 90 };
            let img = render_frame(&scene, c, 1.0, 192, 192, &optics).unwrap();
            (sharpness(&img, all()), img)
        };
        // The default threshold (config/default.toml).
        let threshold = 0.065;
        for lesion in [Lesion::MM, Lesion::IN, Lesion::CN, Lesion::JN] {
            let series: Vec<f64> = [0.4, 1.5, 3.0, 6.0, 10.0].iter().map(|b| score(lesion, *b).0).collect();
            assert!(series.windows(2).all(|w| w[1] < w[0]), "{lesion:?}: {series:?}");
            assert!(series[0] > 1.5 * threshold, "{lesion:?} in focus: {series:?}");
            assert!(series[4] < threshold, "{lesion:?} defocused by 10 px: {series:?}");
        }
        // Halving the contrast of the same view leaves the measure (nearly) unchanged.
        let (mm, mm_img) = score(Lesion::MM, 0.4);
        let mut faint = mm_img.clone();
        faint.as_raw_mut().iter_mut().for_each(|v| *v = 128 + (*v / 2));
        let f = sharpness(&faint, all());
        assert!((f - mm).abs() < 0.15 * mm, "{f} vs {mm}");
        let flat = sharpness(&RgbImage::filled(64, 64, [180, 120, 160]).unwrap(), all());
        assert_eq!((flat, sharpness(&mm_img, std::iter::empty())), (0.0, 0.0));
    }

    #[test]
    fn gates_fire_in_order() {
        let limits = GateLimits {
            min_mean_luma: 35.0,
            max_mean_luma: 245.0,
            max_clipped_fraction: 0.25,
            min_tissue_fields: 2,
            min_sharpness: 0.065,
        };
        let ok =
            GateReadings { mean_luma: 150.0, clipped_fraction: 0.0, grid_fields: 12, tissue_fields: 4, sharpness: 0.5 };
        // No field fits: its own state, not "insufficient tissue".
        assert_eq!(limits.check(&GateReadings { grid_fields: 0, tissue_fields: 0, ..ok }), Some(Gate::FrameTooSmall));
        assert_eq!(limits.check(&ok), None);
        assert_eq!(limits.check(&GateReadings { mean_luma: 20.0, ..ok }), Some(Gate::Underexposed));
        assert_eq!(limits.check(&GateReadings { clipped_fraction: 0.5, ..ok }), Some(Gate::Overexposed));
        assert_eq!(
            limits.check(&GateReadings { tissue_fields: 1, sharpness: 0.01, ..ok }),
            Some(Gate::InsufficientTissue)
        );
        assert_eq!(limits.check(&GateReadings { sharpness: 0.03, ..ok }), Some(Gate::OutOfFocus));
        assert_eq!(Gate::OutOfFocus.verdict(), Verdict::OutOfFocus);
        let (mean, clipped) = exposure(&RgbImage::filled(40, 40, [255, 255, 255]).unwrap());
        assert_eq!((mean, clipped), (255.0, 1.0));
    }

    #[test]
    fn circle_mask_whitens_the_corners_only() {
        let mut img = RgbImage::filled(200, 100, [100, 50, 120]).unwrap();
        mask_outside_circle(&mut img);
        assert_eq!(img.get(0, 0), Some([255; 3]));
        assert_eq!(img.get(100, 50), Some([100, 50, 120]));
        assert_eq!(img.get(55, 50), Some([100, 50, 120]), "inside the circle on the middle row");
        assert_eq!(img.get(45, 50), Some([255; 3]), "outside the circle of radius 50");
    }
}
