//! Viridis: perceptually uniform and readable by people with colour-vision deficiency,
//! unlike the rainbow "jet" map, whose false bands suggest boundaries that are not there.

/// A 256-entry colour lookup table.
#[derive(Debug, Clone)]
pub struct Colormap {
    lut: [[u8; 3]; 256],
}

/// Viridis sampled at nine evenly spaced points; values between are interpolated linearly.
const VIRIDIS_ANCHORS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [72, 40, 120],
    [62, 73, 137],
    [49, 104, 142],
    [38, 130, 142],
    [31, 158, 137],
    [53, 183, 121],
    [110, 206, 88],
    [253, 231, 37],
];

/// The viridis colormap.
pub fn viridis() -> Colormap {
    let mut lut = [[0u8; 3]; 256];
    let segments = (VIRIDIS_ANCHORS.len() - 1) as f32;
    for (i, entry) in lut.iter_mut().enumerate() {
        let t = i as f32 / 255.0 * segments;
        let k = (t.floor() as usize).min(VIRIDIS_ANCHORS.len() - 2);
        let f = t - k as f32;
        let (a, b) = (VIRIDIS_ANCHORS[k], VIRIDIS_ANCHORS[k + 1]);
        *entry = core::array::from_fn(|c| (f32::from(a[c]) * (1.0 - f) + f32::from(b[c]) * f + 0.5) as u8);
    }
    Colormap { lut }
}

impl Colormap {
    /// Colour for `v` in 0..1 (clamped; NaN maps to the low end).
    pub fn color(&self, v: f32) -> [u8; 3] {
        let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        self.lut[(v * 255.0 + 0.5) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lightness_rises_monotonically() {
        // Relative luminance (Rec. 709 weights on linearised sRGB) must increase along the map.
        let lin = |c: u8| {
            let c = f32::from(c) / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        let map = viridis();
        let lum: Vec<f32> = (0..=255)
            .map(|i| {
                let [r, g, b] = map.color(i as f32 / 255.0);
                0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
            })
            .collect();
        // 8-bit rounding of each channel may dip by a fraction of one code value; 1e-3 of the
        // 0..1 luminance range is well below one step of the map (~3e-3 on average).
        assert!(lum.windows(2).all(|w| w[1] >= w[0] - 1e-3), "luminance must not decrease");
        assert!(lum[255] - lum[0] > 0.7);
        assert_eq!(map.color(0.0), [68, 1, 84]);
        assert_eq!(map.color(1.0), [253, 231, 37]);
        assert_eq!(map.color(f32::NAN), [68, 1, 84]);
    }
}
