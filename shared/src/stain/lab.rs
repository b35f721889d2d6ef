//! sRGB (D65) to CIE 1976 L*a*b* and back, in f64, by the CIE and IEC 61966-2-1 formulas.
//! L* is 0–100; a* and b* roughly −128–127.

const M: [[f64; 3]; 3] = [
    [0.412_456_4, 0.357_576_1, 0.180_437_5],
    [0.212_672_9, 0.715_152_2, 0.072_175_0],
    [0.019_333_9, 0.119_192_0, 0.950_304_1],
];
const M_INV: [[f64; 3]; 3] = [
    [3.240_454_2, -1.537_138_5, -0.498_531_4],
    [-0.969_266_0, 1.876_010_8, 0.041_556_0],
    [0.055_643_4, -0.204_025_9, 1.057_225_2],
];
const WHITE: [f64; 3] = [0.950_47, 1.0, 1.088_83];
const DELTA: f64 = 6.0 / 29.0;

fn linear(v: u8) -> f64 {
    let c = f64::from(v) / 255.0;
    if c <= 0.040_45 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}

fn f(t: f64) -> f64 {
    if t > DELTA * DELTA * DELTA { t.cbrt() } else { t / (3.0 * DELTA * DELTA) + 4.0 / 29.0 }
}

fn f_inv(t: f64) -> f64 {
    if t > DELTA { t * t * t } else { 3.0 * DELTA * DELTA * (t - 4.0 / 29.0) }
}

fn mul(m: &[[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    m.map(|row| row[0] * v[0] + row[1] * v[1] + row[2] * v[2])
}

/// The L*a*b* of an sRGB pixel.
pub fn rgb_to_lab(rgb: [u8; 3]) -> [f64; 3] {
    let xyz = mul(&M, rgb.map(linear));
    let [fx, fy, fz] = [0, 1, 2].map(|i| f(xyz[i] / WHITE[i]));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// The sRGB pixel of an L*a*b* colour, held to the sRGB gamut and rounded.
pub fn lab_to_rgb(lab: [f64; 3]) -> [u8; 3] {
    let fy = (lab[0] + 16.0) / 116.0;
    let fs = [fy + lab[1] / 500.0, fy, fy - lab[2] / 200.0];
    let xyz = [0, 1, 2].map(|i| WHITE[i] * f_inv(fs[i]));
    mul(&M_INV, xyz).map(|l| {
        let l = if l.is_nan() { 0.0 } else { l.clamp(0.0, 1.0) };
        let c = if l <= 0.003_130_8 { 12.92 * l } else { 1.055 * l.powf(1.0 / 2.4) - 0.055 };
        (c * 255.0 + 0.5).clamp(0.0, 255.0) as u8
    })
}

/// The tables of the fast path: each 8-bit value's linear light, and the linear light at which
/// the sRGB byte steps from `v` to `v + 1` (so that the byte of a linear value is found by a
/// binary search, exactly as [`lab_to_rgb`] rounds).
struct Tables {
    linear: [f32; 256],
    steps: [f32; 255],
}

fn tables() -> &'static Tables {
    static TABLES: std::sync::OnceLock<Tables> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = Tables { linear: [0.0; 256], steps: [0.0; 255] };
        for (v, l) in t.linear.iter_mut().enumerate() {
            *l = linear(v as u8) as f32;
        }
        for (v, step) in t.steps.iter_mut().enumerate() {
            let c = (v as f64 + 0.5) / 255.0;
            *step = (if c <= 0.040_45 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }) as f32;
        }
        t
    })
}

fn mul32(m: &[[f64; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    m.map(|row| row[0] as f32 * v[0] + row[1] as f32 * v[1] + row[2] as f32 * v[2])
}

/// [`rgb_to_lab`] in f32 with the linear light tabled (Reinhard's per-pixel path).
pub fn rgb_to_lab_fast(rgb: [u8; 3]) -> [f32; 3] {
    let t = tables();
    let xyz = mul32(&M, rgb.map(|v| t.linear[usize::from(v)]));
    let f = |x: f32| {
        let d = DELTA as f32;
        if x > d * d * d { x.cbrt() } else { x / (3.0 * d * d) + 4.0 / 29.0 }
    };
    let [fx, fy, fz] = [0, 1, 2].map(|i| f(xyz[i] / WHITE[i] as f32));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// [`lab_to_rgb`] in f32, the sRGB byte found among the tabled steps (no power per pixel).
pub fn lab_to_rgb_fast(lab: [f32; 3]) -> [u8; 3] {
    let t = tables();
    let fy = (lab[0] + 16.0) / 116.0;
    let fs = [fy + lab[1] / 500.0, fy, fy - lab[2] / 200.0];
    let d = DELTA as f32;
    let f_inv = |x: f32| if x > d { x * x * x } else { 3.0 * d * d * (x - 4.0 / 29.0) };
    let xyz = [0, 1, 2].map(|i| WHITE[i] as f32 * f_inv(fs[i]));
    // NaN compares false everywhere: it lands on 0, as in `lab_to_rgb`.
    mul32(&M_INV, xyz).map(|l| t.steps.partition_point(|s| *s <= l) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_colours_and_a_round_trip() {
        let white = rgb_to_lab([255, 255, 255]);
        assert!((white[0] - 100.0).abs() < 1e-3 && white[1].abs() < 1e-2 && white[2].abs() < 1e-2, "{white:?}");
        assert_eq!(rgb_to_lab([0, 0, 0]), [0.0, 0.0, 0.0]);
        // sRGB red: L* 53.24, a* 80.09, b* 67.20 (CIE formulas, D65).
        let red = rgb_to_lab([255, 0, 0]);
        assert!((red[0] - 53.24).abs() < 0.01 && (red[1] - 80.09).abs() < 0.02 && (red[2] - 67.20).abs() < 0.02);
        for v in (0..=255u8).step_by(5) {
            for rgb in [[v, 128, 200], [30, v, 90], [220, 180, v]] {
                assert_eq!(lab_to_rgb(rgb_to_lab(rgb)), rgb);
            }
        }
        assert_eq!(lab_to_rgb([f64::NAN, 0.0, 0.0]), [0, 0, 0]);
        assert_eq!(lab_to_rgb_fast([f32::NAN, 0.0, 0.0]), [0, 0, 0]);
    }

    /// The fast path gives the exact path's bytes to within one level over a spread of colours,
    /// and its Lab to within a hundredth.
    #[test]
    fn the_fast_path_matches_the_exact_one() {
        let mut worst = (0u8, 0.0f64);
        for r in (0..=255u8).step_by(3) {
            for g in (0..=255u8).step_by(5) {
                for b in (0..=255u8).step_by(7) {
                    let exact = rgb_to_lab([r, g, b]);
                    let fast = rgb_to_lab_fast([r, g, b]);
                    for c in 0..3 {
                        worst.1 = worst.1.max((exact[c] - f64::from(fast[c])).abs());
                    }
                    // Shifted, as Reinhard's transfer moves colours.
                    let moved = [exact[0] * 0.9 + 5.0, exact[1] * 1.1 - 3.0, exact[2] * 0.8 + 2.0];
                    let want = lab_to_rgb(moved);
                    let got = lab_to_rgb_fast(moved.map(|v| v as f32));
                    for c in 0..3 {
                        worst.0 = worst.0.max(want[c].abs_diff(got[c]));
                    }
                }
            }
        }
        assert!(worst.0 <= 1 && worst.1 < 0.01, "{worst:?}");
    }
}
