//! The edge's stain, frame after frame: fitted on a spread sample of the frame's tissue
//! fields, checked against the bundle's target, and folded into a running estimate so that
//! one odd field (a fold, a bubble) does not swing the normalisation. A frame whose stain
//! cannot be fitted (no tissue, one colour, a single stain) is normalised with the running
//! estimate, or the target itself when there is none yet, and says so; an implausible
//! stain is not folded in.

use super::check::{StainDeviation, StainLimits};
use super::macenko::{MacenkoParams, fit_pixels, od_matrix};
use super::map::OdMap;
use super::{MacenkoStain, StainError};
use crate::image::{FieldRect, RgbImage};
use alloc::vec::Vec;

/// What the edge does with the stain (a site setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StainMode {
    /// Fields go to the network as the camera gives them; no check.
    Off,
    /// The frame's stain is fitted and checked (an implausible one stops the verdict); fields
    /// go to the network as the camera gives them.
    #[default]
    Check,
    /// Checked, and fields are normalised to the bundle's stain before the network.
    Normalise,
}

impl StainMode {
    /// As the site file spells it.
    pub fn name(self) -> &'static str {
        match self {
            StainMode::Off => "off",
            StainMode::Check => "check",
            StainMode::Normalise => "normalise",
        }
    }
}

/// Tracker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerSettings {
    pub params: MacenkoParams,
    /// Largest angles of fitted vectors from the target's that are still H&E.
    pub limits: StainLimits,
    /// Weight of a new frame in the running estimate (0–1).
    pub weight: f32,
    /// Pixels sampled from a frame's tissue fields for the fit.
    pub samples: usize,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        TrackerSettings {
            params: MacenkoParams::default(),
            limits: StainLimits::default(),
            weight: 0.25,
            samples: 50_000,
        }
    }
}

/// One frame's stain reading.
#[derive(Debug, Clone, PartialEq)]
pub struct StainReading {
    /// The frame's own fit, when one could be made.
    pub fitted: Option<MacenkoStain>,
    /// How far the frame's fit lies from the target.
    pub deviation: Option<StainDeviation>,
    /// Why the frame could not be fitted (the estimate or the target was used instead).
    pub fallback: Option<StainError>,
    /// False when the frame's fit is too far from the target to be H&E.
    pub plausible: bool,
}

/// The running estimate and its buffers (reused from frame to frame).
#[derive(Debug, Clone)]
pub struct StainTracker {
    settings: TrackerSettings,
    target: MacenkoStain,
    estimate: Option<MacenkoStain>,
    samples: Vec<[u8; 3]>,
}

fn blend(old: &MacenkoStain, new: &MacenkoStain, w: f32) -> MacenkoStain {
    let unit = |v: [f32; 3]| {
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-12);
        v.map(|x| x / n)
    };
    let mix = |a: f32, b: f32| (1.0 - w) * a + w * b;
    MacenkoStain {
        stains: [0, 1].map(|k| unit([0, 1, 2].map(|c| mix(old.stains[k][c], new.stains[k][c])))),
        max_concentrations: [0, 1].map(|k| mix(old.max_concentrations[k], new.max_concentrations[k])),
    }
}

impl StainTracker {
    pub fn new(target: MacenkoStain, settings: TrackerSettings) -> Self {
        StainTracker { settings, target, estimate: None, samples: Vec::new() }
    }

    pub fn settings(&self) -> &TrackerSettings {
        &self.settings
    }

    pub fn target(&self) -> &MacenkoStain {
        &self.target
    }

    /// The stain fields are taken to have now: the running estimate, or the target before any.
    pub fn estimate(&self) -> &MacenkoStain {
        self.estimate.as_ref().unwrap_or(&self.target)
    }

    /// Fits the stain of `rects` of `img`, checks it, and folds a plausible one in.
    pub fn observe(&mut self, img: &RgbImage, rects: &[FieldRect]) -> StainReading {
        self.sample(img, rects);
        let fit = fit_pixels(&self.samples, &self.settings.params);
        match fit {
            Ok(fitted) => {
                let deviation = StainDeviation::of(&fitted, &self.target);
                let plausible = deviation.plausible(&self.settings.limits);
                if plausible {
                    self.estimate = Some(match &self.estimate {
                        Some(old) => blend(old, &fitted, self.settings.weight),
                        None => fitted,
                    });
                }
                StainReading { fitted: Some(fitted), deviation: Some(deviation), fallback: None, plausible }
            }
            // Nothing to judge by: the frame is not refused for its stain.
            Err(e) => StainReading { fitted: None, deviation: None, fallback: Some(e), plausible: true },
        }
    }

    /// Maps `rects` of `img` from the running estimate to the target.
    pub fn normalise(&self, img: &mut RgbImage, rects: &[FieldRect]) -> Result<(), StainError> {
        let map = OdMap::new(od_matrix(self.estimate(), &self.target)?);
        for r in rects {
            map.apply_rect(img, *r);
        }
        Ok(())
    }

    /// A spread sample of the rectangles' pixels: every `step`-th pixel, `step` odd so that
    /// it does not fall on the same columns row after row.
    fn sample(&mut self, img: &RgbImage, rects: &[FieldRect]) {
        self.samples.clear();
        let total: usize = rects.iter().map(|r| r.size as usize * r.size as usize).sum();
        let step = (total / self.settings.samples.max(1)).max(1) | 1;
        let (w, h) = (img.width(), img.height());
        let raw = img.as_raw();
        let mut skip = 0usize;
        for r in rects {
            for y in r.y..(r.y + r.size).min(h) {
                let row = 3 * (y as usize * w as usize);
                let (x0, x1) = (r.x as usize, (r.x + r.size).min(w) as usize);
                let mut x = x0 + skip;
                while x < x1 {
                    let i = row + 3 * x;
                    self.samples.push([raw[i], raw[i + 1], raw[i + 2]]);
                    x += step;
                }
                skip = x - x1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stain::macenko::fit;
    use crate::stain::od::rgb_of_od;

    /// A field of nuclei and stroma mixed from two stains (the eosin strong enough in red for
    /// the published β to keep it).
    fn field(h: [f32; 3], e: [f32; 3], strength: f32) -> RgbImage {
        let mut img = RgbImage::filled(128, 128, [0; 3]).unwrap();
        for y in 0..128u32 {
            for x in 0..128u32 {
                let a = ((x * 7 + y * 13) % 29) as f32 / 29.0;
                let b = ((x * 11 + y * 5) % 31) as f32 / 31.0;
                let (ch, ce) = (0.2 + 0.9 * a, 0.3 + 0.7 * b);
                let od = [0, 1, 2].map(|c| strength * (ch * h[c] + ce * e[c]));
                img.put(x, y, rgb_of_od(od));
            }
        }
        img
    }

    const H: [f32; 3] = [0.65, 0.70, 0.29];
    const E: [f32; 3] = [0.27, 0.92, 0.28];

    #[test]
    fn a_running_estimate_checks_falls_back_and_normalises() {
        let p = TrackerSettings::default();
        let target = fit(&field(H, E, 1.0), &p.params).unwrap();
        let all = [FieldRect::square(0, 0, 128)];
        let mut t = StainTracker::new(target, p);
        // A fainter lab: plausible, folded in, and normalised back to the target's strength.
        let mut faint = field(H, E, 0.6);
        let r = t.observe(&faint, &all);
        assert!(r.plausible && r.fallback.is_none(), "{r:?}");
        let d = r.deviation.unwrap();
        assert!(d.strength[0] < 0.7 && d.worst_angle() < 1.0, "{d:?}");
        t.normalise(&mut faint, &all).unwrap();
        let back = StainDeviation::of(&fit(&faint, &p.params).unwrap(), &target);
        assert!((back.strength[0] - 1.0).abs() < 0.05 && back.worst_angle() < 1.5, "{back:?}");
        // Brown DAB in eosin's place (IHC): implausible and not folded in.
        let before = *t.estimate();
        let r = t.observe(&field(H, [0.27, 0.57, 0.78], 1.0), &all);
        assert!(!r.plausible, "{r:?}");
        assert_eq!(*t.estimate(), before);
        // Glass: no fit, the estimate stays, and it says why.
        let glass = RgbImage::filled(128, 128, [245, 245, 247]).unwrap();
        let r = t.observe(&glass, &all);
        assert!(r.plausible && matches!(r.fallback, Some(StainError::TooFewStainedPixels { .. })), "{r:?}");
        assert_eq!(*t.estimate(), before);
        // No rectangles at all: the same, never a panic.
        assert!(t.observe(&glass, &[]).fallback.is_some());
    }

    #[test]
    fn the_sample_is_spread_and_bounded() {
        let settings = TrackerSettings { samples: 1000, ..TrackerSettings::default() };
        let img = field(H, E, 1.0);
        let mut t = StainTracker::new(fit(&img, &settings.params).unwrap(), settings);
        t.sample(&img, &[FieldRect::square(0, 0, 64), FieldRect::square(64, 64, 64)]);
        // 8,192 pixels, every 9th: 911 or 912.
        assert!((900..=1000).contains(&t.samples.len()), "{}", t.samples.len());
        // A rectangle past the image's edge is cut to it.
        t.sample(&img, &[FieldRect::square(100, 100, 64)]);
        assert!(!t.samples.is_empty() && t.samples.len() < 64 * 64);
    }
}
