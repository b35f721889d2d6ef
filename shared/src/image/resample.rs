//! Area-averaging resampling from a source µm/px to a coarser target µm/px.
//!
//! Each output pixel is the exact area average of the source pixels it covers
//! (fractional overlaps weighted), computed separably: rows first, then columns.
//! Enlarging is refused beyond a tolerance because a 20X scan cannot give 40X detail.

use super::spacing::check_um;
use super::{ImageError, PixelSpacing, RgbImage};

/// A resampled image and the spacing its pixels actually have.
#[derive(Debug, Clone)]
pub struct Resampled {
    pub image: RgbImage,
    pub effective: PixelSpacing,
}

/// Weights for one axis: output pixel `i` is the sum over `k` of
/// `weights[offsets[i] + k] * source[starts[i] + k]`.
#[derive(Debug, Clone, Default, PartialEq)]
struct AxisPlan {
    source_len: u32,
    starts: Vec<u32>,
    offsets: Vec<usize>,
    weights: Vec<f32>,
    effective_um: f64,
}

impl AxisPlan {
    fn output_len(&self) -> u32 {
        self.starts.len() as u32
    }

    /// Source pixels up to the last one any output pixel reads (the remainder is dropped).
    fn used_len(&self) -> usize {
        self.starts.len().checked_sub(1).map_or(0, |last| {
            let (start, w) = self.taps(last);
            start + w.len()
        })
    }

    fn is_identity(&self) -> bool {
        self.weights.len() == self.source_len as usize && self.starts.len() == self.source_len as usize
    }

    fn taps(&self, i: usize) -> (usize, &[f32]) {
        let end = self.offsets.get(i + 1).copied().unwrap_or(self.weights.len());
        (self.starts[i] as usize, &self.weights[self.offsets[i]..end])
    }

    fn build(n: u32, source_um: f64, target_um: f64, tolerance: f64) -> Result<Self, ImageError> {
        if target_um < source_um * (1.0 - tolerance) {
            return Err(ImageError::WouldUpsample { source_um, target: target_um, tolerance });
        }
        let mut plan = AxisPlan { source_len: n, ..Default::default() };
        if target_um <= source_um {
            // Within tolerance of the scan's own resolution: keep its pixels as they are.
            for i in 0..n {
                plan.starts.push(i);
                plan.offsets.push(plan.weights.len());
                plan.weights.push(1.0);
            }
            plan.effective_um = source_um;
            return Ok(plan);
        }
        let scale = target_um / source_um;
        // Source pixels that do not fill a whole output pixel at the far edge are dropped,
        // so every output pixel covers exactly `target_um`.
        let m = (f64::from(n) / scale + 1e-9).floor() as u32;
        if m == 0 {
            return Err(ImageError::EmptyAfterResample { width: n, height: n, source_um, target: target_um });
        }
        for i in 0..m {
            let lo = f64::from(i) * scale;
            let hi = (lo + scale).min(f64::from(n));
            let first = lo.floor() as u32;
            let last = (hi.ceil() as u32).min(n);
            plan.starts.push(first);
            plan.offsets.push(plan.weights.len());
            for j in first..last {
                let overlap = (f64::from(j + 1).min(hi) - f64::from(j).max(lo)).max(0.0);
                plan.weights.push((overlap / scale) as f32);
            }
        }
        plan.effective_um = target_um;
        Ok(plan)
    }
}

/// Resamples with cached weights and scratch buffers, so a stream of equally
/// sized frames (the edge camera) allocates nothing after the first frame.
#[derive(Debug, Clone)]
pub struct Resampler {
    tolerance: f64,
    key: Option<(u32, u32, u64, u64, u64)>,
    x: AxisPlan,
    y: AxisPlan,
    rows: Vec<f32>,
    acc: Vec<f32>,
}

impl Resampler {
    /// `tolerance` is how much finer than the source a target may be (see [`super::DEFAULT_UPSAMPLE_TOLERANCE`]).
    pub fn new(tolerance: f64) -> Self {
        Self { tolerance, key: None, x: AxisPlan::default(), y: AxisPlan::default(), rows: Vec::new(), acc: Vec::new() }
    }

    fn plan(&mut self, width: u32, height: u32, from: PixelSpacing, target_um: f64) -> Result<(), ImageError> {
        check_um("source x", from.x)?;
        check_um("source y", from.y)?;
        check_um("target", target_um)?;
        let key = (width, height, from.x.to_bits(), from.y.to_bits(), target_um.to_bits());
        if self.key == Some(key) {
            return Ok(());
        }
        self.key = None;
        let x = AxisPlan::build(width, from.x, target_um, self.tolerance)?;
        let y = AxisPlan::build(height, from.y, target_um, self.tolerance)?;
        self.x = x;
        self.y = y;
        self.key = Some(key);
        Ok(())
    }

    /// Resamples `src` into `out` (its allocation reused) and returns the effective spacing.
    pub fn resample_into(
        &mut self,
        src: &RgbImage,
        from: PixelSpacing,
        target_um: f64,
        out: &mut RgbImage,
    ) -> Result<PixelSpacing, ImageError> {
        self.plan(src.width(), src.height(), from, target_um).map_err(|e| match e {
            // Report the whole image, not the one axis that came out empty.
            ImageError::EmptyAfterResample { source_um, target, .. } => {
                ImageError::EmptyAfterResample { width: src.width(), height: src.height(), source_um, target }
            }
            other => other,
        })?;
        let (ow, oh) = (self.x.output_len(), self.y.output_len());
        out.reshape(ow, oh)?;
        let effective = PixelSpacing { x: self.x.effective_um, y: self.y.effective_um };
        if self.x.is_identity() && self.y.is_identity() {
            // Already at the target resolution (within tolerance): the pixels are the answer.
            out.as_raw_mut().copy_from_slice(src.as_raw());
            return Ok(effective);
        }
        let row_len = ow as usize * 3;
        // Horizontal pass over the source rows that some output row reads.
        let src_rows = self.y.used_len();
        self.rows.resize(src_rows * row_len, 0.0);
        for y in 0..src_rows {
            let srow = src.row(y as u32);
            let drow = &mut self.rows[y * row_len..(y + 1) * row_len];
            for i in 0..ow as usize {
                let (start, w) = self.x.taps(i);
                let mut acc = [0.0f32; 3];
                for (k, wk) in w.iter().enumerate() {
                    let p = (start + k) * 3;
                    acc[0] += wk * f32::from(srow[p]);
                    acc[1] += wk * f32::from(srow[p + 1]);
                    acc[2] += wk * f32::from(srow[p + 2]);
                }
                drow[i * 3..i * 3 + 3].copy_from_slice(&acc);
            }
        }
        // Vertical pass, rounding to the nearest 8-bit value.
        let dst = out.as_raw_mut();
        let acc = &mut self.acc;
        acc.resize(row_len, 0.0);
        for j in 0..oh as usize {
            let (start, w) = self.y.taps(j);
            acc.iter_mut().for_each(|a| *a = 0.0);
            for (k, wk) in w.iter().enumerate() {
                let r = &self.rows[(start + k) * row_len..(start + k + 1) * row_len];
                for (a, v) in acc.iter_mut().zip(r) {
                    *a += wk * v;
                }
            }
            for (d, a) in dst[j * row_len..(j + 1) * row_len].iter_mut().zip(acc.iter()) {
                *d = (a + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
        Ok(effective)
    }
}

/// One-off resampling of `src` from `from` to `target_um` µm/px.
pub fn resample(src: &RgbImage, from: PixelSpacing, target_um: f64, tolerance: f64) -> Result<Resampled, ImageError> {
    let mut out = RgbImage::filled(1, 1, [0; 3])?;
    let effective = Resampler::new(tolerance).resample_into(src, from, target_um, &mut out)?;
    Ok(Resampled { image: out, effective })
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_UPSAMPLE_TOLERANCE as TOL;
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        let mut img = RgbImage::filled(w, h, [0; 3]).unwrap();
        for y in 0..h {
            for x in 0..w {
                img.put(x, y, [(x * 10) as u8, (y * 10) as u8, 100]);
            }
        }
        img
    }

    #[test]
    fn halving_averages_2x2_blocks() {
        let img = gradient(4, 4);
        let r = resample(&img, PixelSpacing::isotropic(0.5).unwrap(), 1.0, TOL).unwrap();
        assert_eq!((r.image.width(), r.image.height()), (2, 2));
        // Block (0..2, 0..2): x values 0,10 -> 5; y values 0,10 -> 5.
        assert_eq!(r.image.get(0, 0), Some([5, 5, 100]));
        assert_eq!(r.image.get(1, 1), Some([25, 25, 100]));
        assert_eq!(r.effective, PixelSpacing { x: 1.0, y: 1.0 });
    }

    #[test]
    fn fractional_scale_weights_partial_pixels() {
        // 3 source pixels of 1 µm to 1.5 µm: output 0 = p0 + half p1, output 1 = half p1 + p2.
        let mut img = RgbImage::filled(3, 1, [0; 3]).unwrap();
        img.put(0, 0, [0, 0, 0]);
        img.put(1, 0, [90, 90, 90]);
        img.put(2, 0, [180, 180, 180]);
        let from = PixelSpacing { x: 1.0, y: 1.5 };
        let r = resample(&img, from, 1.5, TOL).unwrap();
        assert_eq!(r.image.width(), 2);
        assert_eq!(r.image.get(0, 0), Some([30, 30, 30]));
        assert_eq!(r.image.get(1, 0), Some([150, 150, 150]));
    }

    #[test]
    fn refuses_upsampling_beyond_tolerance() {
        let img = gradient(8, 8);
        let err = resample(&img, PixelSpacing::isotropic(0.5).unwrap(), 0.25, TOL).unwrap_err();
        assert!(matches!(err, ImageError::WouldUpsample { .. }));
        assert!(err.to_string().contains("0.5"));
        // 0.499 -> 0.5 is a (tiny) shrink; 0.5 -> 0.49 is within tolerance and kept as is.
        let same = resample(&img, PixelSpacing::isotropic(0.5).unwrap(), 0.49, TOL).unwrap();
        assert_eq!(same.image, img);
        assert_eq!(same.effective.x, 0.5);
    }

    #[test]
    fn rejects_bad_spacing_and_empty_results() {
        let img = gradient(4, 4);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                resample(&img, PixelSpacing { x: bad, y: 1.0 }, 1.0, TOL),
                Err(ImageError::BadSpacing { .. })
            ));
            assert!(matches!(
                resample(&img, PixelSpacing::isotropic(1.0).unwrap(), bad, TOL),
                Err(ImageError::BadSpacing { .. })
            ));
        }
        assert!(matches!(
            resample(&img, PixelSpacing::isotropic(1.0).unwrap(), 10.0, TOL),
            Err(ImageError::EmptyAfterResample { width: 4, height: 4, .. })
        ));
    }

    #[test]
    fn area_average_preserves_mean_for_integer_scales() {
        let img = gradient(12, 9);
        let r = resample(&img, PixelSpacing::isotropic(1.0).unwrap(), 3.0, TOL).unwrap();
        let mean = |i: &RgbImage| i.as_raw().iter().map(|v| f64::from(*v)).sum::<f64>() / i.as_raw().len() as f64;
        assert!((mean(&img) - mean(&r.image)).abs() < 0.5);
    }

    #[test]
    fn reused_resampler_matches_one_off() {
        let mut rs = Resampler::new(TOL);
        let mut out = RgbImage::filled(1, 1, [0; 3]).unwrap();
        let from = PixelSpacing::isotropic(0.5).unwrap();
        for _ in 0..2 {
            rs.resample_into(&gradient(10, 6), from, 1.3, &mut out).unwrap();
            assert_eq!(out, resample(&gradient(10, 6), from, 1.3, TOL).unwrap().image);
        }
    }
}
