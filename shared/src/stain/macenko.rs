//! Macenko's method (Macenko et al., "A method for normalizing histology slides for quantitative
//! analysis", ISBI 2009): the two stain vectors are found as the extreme angles, in the plane of
//! the two largest principal directions of the stained pixels' optical densities, at robust
//! percentiles; each pixel's stain concentrations are its least-squares coordinates on them,
//! scaled so that each stain's 99th-percentile concentration matches the target's.

use super::StainError;
use super::eigen::symmetric_eigen;
use super::od::od_of;
use super::percentile::percentile;
pub use crate::formats::MacenkoStain;
use crate::image::RgbImage;

/// The method's settings (Macenko's published values as defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacenkoParams {
    /// A pixel is stained when each channel's optical density is at least this (glass and
    /// faint pixels are left out of the fit).
    pub beta: f32,
    /// The angle percentiles taken as the stain directions: `alpha` and `100 - alpha`.
    pub alpha: f64,
    /// The concentration percentile taken as a stain's maximum.
    pub max_percentile: f64,
    /// Fewest stained pixels a fit is made from.
    pub min_pixels: usize,
}

impl Default for MacenkoParams {
    fn default() -> Self {
        MacenkoParams { beta: 0.15, alpha: 1.0, max_percentile: 99.0, min_pixels: 100 }
    }
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn unit(v: [f64; 3]) -> Option<[f64; 3]> {
    let n = dot(v, v).sqrt();
    (n > 1e-12).then(|| v.map(|x| x / n))
}

/// Least-squares coordinates of optical densities on two unit stain vectors.
struct Unmixer {
    h: [f64; 3],
    e: [f64; 3],
    d: f64,
    det: f64,
}

impl Unmixer {
    fn new(stains: [[f64; 3]; 2]) -> Result<Self, StainError> {
        let [h, e] = stains;
        let d = dot(h, e);
        let det = 1.0 - d * d;
        if det < 1e-6 {
            return Err(StainError::Degenerate);
        }
        Ok(Unmixer { h, e, d, det })
    }

    fn concentrations(&self, od: [f32; 3]) -> [f64; 2] {
        let od = od.map(f64::from);
        let (ho, eo) = (dot(self.h, od), dot(self.e, od));
        [(ho - self.d * eo) / self.det, (eo - self.d * ho) / self.det]
    }
}

/// The image's stains, fitted on every pixel.
pub fn fit(img: &RgbImage, p: &MacenkoParams) -> Result<MacenkoStain, StainError> {
    let pixels: Vec<[u8; 3]> = img.as_raw().chunks_exact(3).map(|px| [px[0], px[1], px[2]]).collect();
    fit_pixels(&pixels, p)
}

/// The stains of a sample of an image's pixels (the edge fits on a spread sample of its tissue
/// fields: the percentiles of 50,000 pixels move the vectors by hundredths of a degree).
pub fn fit_pixels(pixels: &[[u8; 3]], p: &MacenkoParams) -> Result<MacenkoStain, StainError> {
    let stained: Vec<[f32; 3]> =
        pixels.iter().map(|px| od_of(*px)).filter(|od| od.iter().all(|d| *d >= p.beta)).collect();
    if stained.len() < p.min_pixels.max(3) {
        return Err(StainError::TooFewStainedPixels {
            found: stained.len(),
            needed: p.min_pixels.max(3),
            beta: p.beta,
        });
    }
    let n = stained.len() as f64;
    let mut mean = [0.0f64; 3];
    for od in &stained {
        for c in 0..3 {
            mean[c] += f64::from(od[c]) / n;
        }
    }
    let mut cov = [[0.0f64; 3]; 3];
    for od in &stained {
        let d = [0, 1, 2].map(|c| f64::from(od[c]) - mean[c]);
        for r in 0..3 {
            for c in 0..3 {
                cov[r][c] += d[r] * d[c] / (n - 1.0);
            }
        }
    }
    let (values, vectors) = symmetric_eigen(cov);
    if values[1] <= 1e-12 * values[2].max(1e-300) {
        return Err(StainError::Degenerate);
    }
    // The two largest directions, each turned to point into positive red density.
    let column = |k: usize| {
        let v = [vectors[0][k], vectors[1][k], vectors[2][k]];
        if v[0] < 0.0 { v.map(|x| -x) } else { v }
    };
    let (e1, e2) = (column(2), column(1));
    let mut angles: Vec<f32> = stained
        .iter()
        .map(|od| {
            let od = od.map(f64::from);
            dot(od, e2).atan2(dot(od, e1)) as f32
        })
        .collect();
    let lo = percentile(&mut angles, p.alpha).ok_or(StainError::Degenerate)?;
    let hi = percentile(&mut angles, 100.0 - p.alpha).ok_or(StainError::Degenerate)?;
    let along = |phi: f32| {
        let (s, c) = f64::from(phi).sin_cos();
        [0, 1, 2].map(|i| e1[i] * c + e2[i] * s)
    };
    let (v_lo, v_hi) = (along(lo), along(hi));
    // Haematoxylin absorbs red more than eosin does.
    let (h, e) = if v_lo[0] > v_hi[0] { (v_lo, v_hi) } else { (v_hi, v_lo) };
    let stains = [unit(h).ok_or(StainError::Degenerate)?, unit(e).ok_or(StainError::Degenerate)?];
    let unmix = Unmixer::new(stains)?;
    // Concentrations over every pixel, as the stains are applied to every pixel.
    let (mut ch, mut ce): (Vec<f32>, Vec<f32>) = pixels
        .iter()
        .map(|px| {
            let [h, e] = unmix.concentrations(od_of(*px));
            (h as f32, e as f32)
        })
        .unzip();
    let max_h = percentile(&mut ch, p.max_percentile).ok_or(StainError::Degenerate)?;
    let max_e = percentile(&mut ce, p.max_percentile).ok_or(StainError::Degenerate)?;
    if !(max_h > 1e-6 && max_e > 1e-6) {
        return Err(StainError::Degenerate);
    }
    Ok(MacenkoStain { stains: stains.map(|v| v.map(|x| x as f32)), max_concentrations: [max_h, max_e] })
}

/// The linear map in optical density that takes `source`'s stains to `target`'s, as a 3x3
/// matrix (row: output channel, column: input channel): concentrations are least-squares
/// coordinates on the source stains, scaled by the ratio of maxima, recomposed with the
/// target's stains.
pub fn od_matrix(source: &MacenkoStain, target: &MacenkoStain) -> Result<[[f32; 3]; 3], StainError> {
    let unmix = Unmixer::new(source.stains.map(|v| v.map(f64::from)))?;
    let scale =
        [0, 1].map(|k| f64::from(target.max_concentrations[k]) / f64::from(source.max_concentrations[k]).max(1e-6));
    let [th, te] = target.stains.map(|v| v.map(f64::from));
    // Concentration k of OD is row k of `unmix` dotted with it.
    let rows = [
        [0, 1, 2].map(|c| (unmix.h[c] - unmix.d * unmix.e[c]) / unmix.det),
        [0, 1, 2].map(|c| (unmix.e[c] - unmix.d * unmix.h[c]) / unmix.det),
    ];
    let mut m = [[0.0f32; 3]; 3];
    for (k, row) in m.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = (th[k] * scale[0] * rows[0][c] + te[k] * scale[1] * rows[1][c]) as f32;
        }
    }
    Ok(m)
}

/// `img`, whose stains are `source` (from [`fit`]), re-rendered in `target`'s stains.
pub fn apply(img: &RgbImage, source: &MacenkoStain, target: &MacenkoStain) -> Result<RgbImage, StainError> {
    let map = super::OdMap::new(od_matrix(source, target)?);
    let mut out = img.clone();
    map.apply(out.as_raw_mut());
    Ok(out)
}

/// `img` fitted and re-rendered in `target`'s stains.
pub fn normalise(img: &RgbImage, target: &MacenkoStain, p: &MacenkoParams) -> Result<RgbImage, StainError> {
    apply(img, &fit(img, p)?, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::stain::od::rgb_of_od;

    const H: [f64; 3] = [0.65, 0.70, 0.29];
    const E: [f64; 3] = [0.07, 0.99, 0.11];

    /// An image mixed from two known stains with random concentrations, and some glass.
    fn mixed(h: [f64; 3], e: [f64; 3], seed: u64) -> RgbImage {
        let (h, e) = (unit(h).unwrap(), unit(e).unwrap());
        let mut rng = SplitMix64::new(seed);
        let mut img = RgbImage::filled(96, 64, [0; 3]).unwrap();
        for y in 0..64 {
            for x in 0..96 {
                // Glass at the left; then nuclei (haematoxylin alone), stroma (eosin alone) and
                // mixtures, as in a section.
                let (ch, ce) = match (x < 8, rng.below(5)) {
                    (true, _) => (0.0, 0.0),
                    (false, 0) => (0.3 + rng.next_f64() * 0.9, 0.0),
                    (false, 1) => (0.0, 0.4 + rng.next_f64() * 0.6),
                    _ => (rng.next_f64() * 1.2, rng.next_f64() * 0.9),
                };
                let od = [0, 1, 2].map(|c| (ch * h[c] + ce * e[c]) as f32);
                img.put(x, y, rgb_of_od(od));
            }
        }
        img
    }

    fn angle(a: [f32; 3], b: [f64; 3]) -> f64 {
        let b = unit(b).unwrap();
        dot(a.map(f64::from), b).clamp(-1.0, 1.0).acos().to_degrees()
    }

    #[test]
    fn known_stains_are_recovered_and_transferred() {
        // Eosin alone absorbs little red (0.07 of its density): with the published β of 0.15 in
        // every channel, pure-eosin pixels would need a density of 2 to be kept, and the fit sees
        // eosin only mixed with haematoxylin. A low β keeps them, so the geometry is tested.
        let p = MacenkoParams { beta: 0.02, ..MacenkoParams::default() };
        let stain = fit(&mixed(H, E, 1), &p).unwrap();
        // Within a few degrees (8-bit rounding of faint pixels tilts the extremes).
        assert!(angle(stain.stains[0], H) < 3.0, "{stain:?}");
        assert!(angle(stain.stains[1], E) < 3.0, "{stain:?}");
        // A lab with a bluer haematoxylin, normalised to the first: its stains become the first's.
        let other = [0.55, 0.60, 0.58];
        let img = mixed(other, E, 2);
        let source = fit(&img, &p).unwrap();
        assert!(angle(source.stains[0], other) < 3.0, "{source:?}");
        let moved = apply(&img, &source, &stain).unwrap();
        let refit = fit(&moved, &p).unwrap();
        assert!(angle(refit.stains[0], H) < 3.0, "{refit:?}");
        for k in 0..2 {
            let (a, b) = (refit.max_concentrations[k], stain.max_concentrations[k]);
            assert!((a - b).abs() < 0.05 * b, "stain {k}: {a} vs {b}");
        }
    }

    #[test]
    fn glass_one_stain_and_one_colour_are_refused_without_nan() {
        let p = MacenkoParams::default();
        let glass = RgbImage::filled(32, 32, [250, 250, 248]).unwrap();
        assert!(matches!(fit(&glass, &p), Err(StainError::TooFewStainedPixels { found: 0, .. })));
        let flat = RgbImage::filled(32, 32, [120, 40, 110]).unwrap();
        assert_eq!(fit(&flat, &p), Err(StainError::Degenerate));
        let black = RgbImage::filled(32, 32, [0, 0, 0]).unwrap();
        assert_eq!(fit(&black, &p), Err(StainError::Degenerate));
        // A source with a zero concentration range never divides by zero.
        let target = fit(&mixed(H, E, 3), &p).unwrap();
        let broken = MacenkoStain { max_concentrations: [0.0, 0.0], ..target };
        let out = apply(&mixed(H, E, 4), &broken, &target).unwrap();
        assert_eq!(out.width(), 96);
        let same = MacenkoStain { stains: [target.stains[0]; 2], ..target };
        assert_eq!(apply(&flat, &same, &target), Err(StainError::Degenerate));
    }
}
