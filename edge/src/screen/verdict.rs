//! From per-frame probabilities to what the screen says: an exponential moving average over
//! recent frames, restarted when the view changes (the slide moved) or a gate fired, mapped
//! with the bundle's validation-chosen threshold and uncertainty band, with hysteresis so a
//! probability hovering at a boundary does not make the verdict flicker.

use crate::gates::Gate;
use melanoscope_shared::formats::Verdict;
use melanoscope_shared::image::RgbImage;

const THUMB_W: u32 = 32;
const THUMB_H: u32 = 18;

/// Settings of the tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerSettings {
    pub threshold: f64,
    pub uncertain_band: f64,
    pub ema_alpha: f64,
    pub view_change: f64,
    pub hysteresis: f64,
}

/// The outcome of one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerdictUpdate {
    pub verdict: Verdict,
    /// The averaged probability behind a screening verdict (None for a gate).
    pub probability: Option<f64>,
    pub changed: bool,
    /// The view changed (or a gate fired) and the average restarted.
    pub restarted: bool,
}

#[derive(Debug, Clone)]
pub struct VerdictTracker {
    s: TrackerSettings,
    average: Option<f64>,
    verdict: Option<Verdict>,
    thumb: Vec<f32>,
    last_thumb: Vec<f32>,
    /// Pixels summed into each thumbnail cell (reused frame after frame).
    counts: Vec<u32>,
}

impl VerdictTracker {
    pub fn new(s: TrackerSettings) -> Self {
        Self { s, average: None, verdict: None, thumb: Vec::new(), last_thumb: Vec::new(), counts: Vec::new() }
    }

    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    fn zone(&self, p: f64) -> Verdict {
        if p >= self.s.threshold + self.s.uncertain_band {
            Verdict::MelanomaSuspected
        } else if p < self.s.threshold - self.s.uncertain_band {
            Verdict::Nevus
        } else {
            Verdict::Uncertain
        }
    }

    /// Grey thumbnail of `frame` (box means), into `self.thumb`.
    fn thumbnail(&mut self, frame: &RgbImage) {
        self.thumb.clear();
        self.thumb.resize((THUMB_W * THUMB_H) as usize, 0.0);
        let (w, h) = (frame.width().max(1), frame.height().max(1));
        self.counts.clear();
        self.counts.resize(self.thumb.len(), 0);
        let counts = &mut self.counts;
        for y in (0..h).step_by(2) {
            let ty = (y * THUMB_H / h) as usize;
            for (x, px) in frame.row(y).chunks_exact(3).enumerate().step_by(2) {
                let tx = (x as u32 * THUMB_W / w) as usize;
                let k = ty * THUMB_W as usize + tx;
                self.thumb[k] += (f32::from(px[0]) + f32::from(px[1]) + f32::from(px[2])) / (3.0 * 255.0);
                counts[k] += 1;
            }
        }
        self.thumb.iter_mut().zip(counts.iter()).for_each(|(v, n)| *v /= (*n).max(1) as f32);
    }

    /// Mean absolute difference (0-1) between this frame's thumbnail and the last one.
    fn view_moved(&self) -> bool {
        if self.last_thumb.len() != self.thumb.len() {
            return true;
        }
        let d: f32 = self.thumb.iter().zip(&self.last_thumb).map(|(a, b)| (a - b).abs()).sum();
        f64::from(d / self.thumb.len() as f32) > self.s.view_change
    }

    /// Takes one frame: its gate verdict, or its screened probability.
    pub fn update(&mut self, frame: &RgbImage, gate: Option<Gate>, probability: Option<f64>) -> VerdictUpdate {
        self.thumbnail(frame);
        let moved = self.view_moved();
        std::mem::swap(&mut self.thumb, &mut self.last_thumb);
        let before = self.verdict;
        let mut restarted = moved && self.average.is_some();
        let (verdict, shown) = match (gate, probability) {
            (None, Some(p)) => {
                let avg = match self.average {
                    Some(a) if !moved => self.s.ema_alpha * p + (1.0 - self.s.ema_alpha) * a,
                    _ => p,
                };
                self.average = Some(avg);
                let zone = self.zone(avg);
                // Hold a screening verdict while the average is within the hysteresis of its zone.
                let hold = match before {
                    Some(v @ (Verdict::MelanomaSuspected | Verdict::Nevus | Verdict::Uncertain)) if v != zone => {
                        (self.zone(avg + self.s.hysteresis) == v || self.zone(avg - self.s.hysteresis) == v)
                            .then_some(v)
                    }
                    _ => None,
                };
                (hold.unwrap_or(zone), Some(avg))
            }
            (g, _) => {
                restarted |= self.average.is_some();
                self.average = None;
                (g.map_or(Verdict::InsufficientTissue, Gate::verdict), None)
            }
        };
        self.verdict = Some(verdict);
        VerdictUpdate { verdict, probability: shown, changed: before != Some(verdict), restarted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TrackerSettings {
        TrackerSettings { threshold: 0.5, uncertain_band: 0.1, ema_alpha: 0.5, view_change: 0.08, hysteresis: 0.03 }
    }

    #[test]
    fn average_smooths_and_thresholds_with_the_band() {
        let frame = RgbImage::filled(64, 36, [200, 120, 170]).unwrap();
        let mut t = VerdictTracker::new(settings());
        let u = t.update(&frame, None, Some(0.9));
        assert_eq!((u.verdict, u.changed), (Verdict::MelanomaSuspected, true));
        // One low frame moves the average to 0.5 (uncertain band), not straight to nevus.
        let u = t.update(&frame, None, Some(0.1));
        assert_eq!((u.verdict, u.probability), (Verdict::Uncertain, Some(0.5)));
        let u = t.update(&frame, None, Some(0.1));
        assert_eq!(u.verdict, Verdict::Nevus, "0.3 is below 0.4");
        assert!(!t.update(&frame, None, Some(0.1)).changed, "a steady verdict is not a change");
    }

    #[test]
    fn hysteresis_holds_a_verdict_at_the_boundary() {
        let frame = RgbImage::filled(64, 36, [200, 120, 170]).unwrap();
        let mut t = VerdictTracker::new(TrackerSettings { ema_alpha: 1.0, ..settings() });
        assert_eq!(t.update(&frame, None, Some(0.61)).verdict, Verdict::MelanomaSuspected);
        assert_eq!(t.update(&frame, None, Some(0.59)).verdict, Verdict::MelanomaSuspected, "within the hysteresis");
        assert_eq!(t.update(&frame, None, Some(0.56)).verdict, Verdict::Uncertain, "past it");
    }

    #[test]
    fn a_new_view_or_a_gate_restarts_the_average() {
        let a = RgbImage::filled(64, 36, [200, 120, 170]).unwrap();
        let b = RgbImage::filled(64, 36, [120, 60, 110]).unwrap();
        let mut t = VerdictTracker::new(settings());
        t.update(&a, None, Some(0.9));
        let u = t.update(&b, None, Some(0.1));
        assert!(u.restarted && u.probability == Some(0.1) && u.verdict == Verdict::Nevus, "{u:?}");
        let u = t.update(&b, Some(Gate::OutOfFocus), None);
        assert_eq!((u.verdict, u.probability, u.changed), (Verdict::OutOfFocus, None, true));
        let u = t.update(&b, None, Some(0.9));
        assert_eq!((u.verdict, u.probability), (Verdict::MelanomaSuspected, Some(0.9)), "fresh start after the gate");
    }
}
