//! Checks a frame must pass before any verdict: exposure (over the whole frame), tissue (enough
//! fields under the study's background limit) and focus (sharpness over the tissue fields, at
//! the model's µm/px, where the model looks).

use melanoscope_shared::formats::Verdict;
use melanoscope_shared::image::{FieldRect, RgbImage};

/// How a frame is lit: its mean grey level, and highlight clipping in what is not background.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Exposure {
    /// Mean grey level (0-255).
    pub mean_luma: f64,
    /// Share of the non-background pixels with a channel at 255.
    pub clipped_fraction: f64,
    /// The same per channel (red, green, blue).
    pub clipped_channels: [f64; 3],
}

/// Levels (each channel) within which a pixel is the frame's background.
const BACKGROUND_LEVELS: u8 = 16;

/// The exposure of `img`, over every 4th pixel of every 4th row. Clipping is counted where it
/// loses detail: in the pixels that are not the frame's background. The background colour is
/// the per-channel median of the brightest tenth of the samples (glass, whatever its colour
/// cast), and a pixel within 16 levels of it in every channel is background. So glass at 255, or
/// a blue cast that puts the glass at 255 in blue, is not overexposure; tissue washed out to
/// 255 is. (Before, any channel at 0 or 255 anywhere counted, glass included, and colour-cast
/// photographs read as OVEREXPOSED.) A frame all background has no clipping to count; its mean
/// level still gates it.
pub fn exposure(img: &RgbImage) -> Exposure {
    let samples = || {
        (0..img.height())
            .step_by(4)
            .flat_map(move |y| img.row(y).chunks_exact(3).step_by(4).map(|p| [p[0], p[1], p[2]]))
    };
    let luma = |p: [u8; 3]| ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as usize;
    let (mut sum, mut n, mut by_luma) = (0u64, 0u64, [0u32; 256]);
    for p in samples() {
        sum += u64::from(p[0]) + u64::from(p[1]) + u64::from(p[2]);
        by_luma[luma(p).min(255)] += 1;
        n += 1;
    }
    if n == 0 {
        return Exposure::default();
    }
    // The brightest tenth: samples at or above this grey level.
    let (mut bright, mut from) = (0u64, 255usize);
    while from > 0 && bright * 10 < n {
        bright += u64::from(by_luma[from]);
        from -= 1;
    }
    let mut channels = [[0u32; 256]; 3];
    let mut counted = 0u32;
    for p in samples().filter(|p| luma(*p) > from) {
        for c in 0..3 {
            channels[c][usize::from(p[c])] += 1;
        }
        counted += 1;
    }
    let background = channels.map(|h| {
        let (mut seen, mut level) = (0u32, 0usize);
        while level < 255 && seen + h[level] <= counted / 2 {
            seen += h[level];
            level += 1;
        }
        level as u8
    });
    let (mut tissue, mut clipped, mut per_channel) = (0u64, 0u64, [0u64; 3]);
    for p in samples() {
        if (0..3).all(|c| p[c].abs_diff(background[c]) <= BACKGROUND_LEVELS) {
            continue;
        }
        tissue += 1;
        clipped += u64::from(p.contains(&255));
        for c in 0..3 {
            per_channel[c] += u64::from(p[c] == 255);
        }
    }
    let share = |k: u64| if tissue == 0 { 0.0 } else { k as f64 / tissue as f64 };
    Exposure {
        mean_luma: sum as f64 / (3 * n) as f64,
        clipped_fraction: share(clipped),
        clipped_channels: per_channel.map(share),
    }
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
    /// Share of the non-background pixels with a channel at 255 ([`exposure`]).
    pub clipped_fraction: f64,
    /// The same per channel (red, green, blue).
    pub clipped_channels: [f64; 3],
    /// Fields the frame holds at the model's µm/px, tissue or not.
    pub grid_fields: usize,
    pub tissue_fields: usize,
    pub sharpness: f64,
}

impl GateLimits {
    /// What `gate` measured against its limit, and what to do: shown on the screen's status line
    /// (and the web view) while the frame is gated.
    pub fn reason(&self, gate: Gate, r: &GateReadings) -> String {
        let pct = |v: f64| format!("{:.0}%", v * 100.0);
        match gate {
            Gate::Underexposed => format!(
                "mean brightness {:.0} below {:.0}: raise the light or the exposure",
                r.mean_luma, self.min_mean_luma
            ),
            Gate::Overexposed if r.mean_luma > self.max_mean_luma => format!(
                "mean brightness {:.0} above {:.0}: lower the light or the exposure",
                r.mean_luma, self.max_mean_luma
            ),
            Gate::Overexposed => {
                let [red, green, blue] = r.clipped_channels.map(pct);
                format!(
                    "{} of the tissue at 255 (red {red}, green {green}, blue {blue}; limit {}): lower the light or \
                     the exposure",
                    pct(r.clipped_fraction),
                    pct(self.max_clipped_fraction)
                )
            }
            Gate::FrameTooSmall => "the frame holds no whole field at the model's µm/px".into(),
            Gate::InsufficientTissue => format!(
                "{} tissue fields of {} (at least {} needed): move the tissue into view",
                r.tissue_fields, r.grid_fields, self.min_tissue_fields
            ),
            Gate::OutOfFocus => {
                format!("focus {:.2} below {:.2}: focus the microscope", r.sharpness, self.min_sharpness)
            }
            Gate::UnfamiliarTissue => "most tissue fields are unlike the model's training data".into(),
        }
    }

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
        let ok = GateReadings {
            mean_luma: 150.0,
            clipped_fraction: 0.0,
            clipped_channels: [0.0; 3],
            grid_fields: 12,
            tissue_fields: 4,
            sharpness: 0.5,
        };
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
        // A white frame has no tissue to clip; its brightness gates it.
        let white = exposure(&RgbImage::filled(40, 40, [255, 255, 255]).unwrap());
        assert_eq!((white.mean_luma, white.clipped_fraction), (255.0, 0.0));
        let over = GateReadings { clipped_fraction: 0.31, clipped_channels: [0.28, 0.0, 0.31], ..ok };
        let why = limits.reason(Gate::Overexposed, &over);
        assert!(
            why.contains("31% of the tissue at 255") && why.contains("red 28%") && why.contains("limit 25%"),
            "{why}"
        );
        let why = limits.reason(Gate::Overexposed, &GateReadings { mean_luma: 250.0, ..ok });
        assert!(why.contains("mean brightness 250 above 245"), "{why}");
    }

    /// A frame `glass` share of whose pixels are `glass` and the rest `tissue`, in stripes.
    fn frame_of(glass: [u8; 3], tissue: [u8; 3], glass_share: f64) -> RgbImage {
        let mut img = RgbImage::filled(200, 100, tissue).unwrap();
        for y in 0..(100.0 * glass_share) as u32 {
            for x in 0..200 {
                img.put(x, y, glass);
            }
        }
        img
    }

    /// Glass at 255 and a colour cast that puts the glass at 255 in one channel are not
    /// overexposure (both were, counted as 60% clipped); tissue washed out to 255 is, with the
    /// channels named.
    #[test]
    fn clipping_is_counted_in_the_tissue_not_the_glass() {
        let limits = 0.25;
        let white_glass = exposure(&frame_of([255, 255, 255], [150, 80, 160], 0.6));
        assert_eq!(white_glass.clipped_fraction, 0.0, "{white_glass:?}");
        let blue_cast = exposure(&frame_of([200, 220, 255], [110, 70, 200], 0.6));
        assert_eq!(blue_cast.clipped_fraction, 0.0, "{blue_cast:?}");
        let washed = exposure(&frame_of([255, 255, 255], [255, 200, 255], 0.4));
        assert!(washed.clipped_fraction > 0.99 && washed.clipped_fraction > limits, "{washed:?}");
        assert_eq!(washed.clipped_channels.map(|v| v > 0.99), [true, false, true]);
        // Dark nuclei at 0 in red (a strong stain) are not overexposure either.
        let dark = exposure(&frame_of([240, 238, 242], [0, 30, 90], 0.5));
        assert_eq!(dark.clipped_fraction, 0.0);
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
