//! Optical density: the Beer–Lambert absorbance of each channel, `-ln(I / 255)`, with `I`
//! taken as at least 1 so that a black pixel has a large, finite density.

use std::sync::OnceLock;

/// `-ln(max(v, 1) / 255)` for every 8-bit value.
fn table() -> &'static [f32; 256] {
    static TABLE: OnceLock<[f32; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0.0f32; 256];
        for (v, od) in t.iter_mut().enumerate() {
            *od = -((v.max(1) as f64) / 255.0).ln() as f32;
        }
        t
    })
}

/// The optical density of one pixel.
pub fn od_of(rgb: [u8; 3]) -> [f32; 3] {
    let t = table();
    [t[usize::from(rgb[0])], t[usize::from(rgb[1])], t[usize::from(rgb[2])]]
}

/// The pixel of an optical density, rounded and held to 0–255 (a negative density, brighter
/// than the light, is white).
pub fn rgb_of_od(od: [f32; 3]) -> [u8; 3] {
    od.map(|d| {
        let v = 255.0 * (-d.max(0.0)).exp();
        // NaN never gets here from our fits; `as` would make it 0 anyway.
        (v + 0.5).clamp(0.0, 255.0) as u8
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn densities_are_finite_and_round_trip() {
        assert_eq!(od_of([255, 255, 255]), [0.0; 3]);
        assert!(od_of([0, 0, 0]).iter().all(|d| d.is_finite() && *d > 5.0));
        for v in 1..=255u8 {
            assert_eq!(rgb_of_od(od_of([v, v, v])), [v, v, v]);
        }
        assert_eq!(rgb_of_od([-1.0, f32::INFINITY, 0.0]), [255, 0, 255]);
    }
}
