//! YUYV (YUV 4:2:2, BT.601 limited range) to RGB, for V4L2 cameras without MJPEG.

/// Converts packed YUYV of `width` x `height` into RGB24 in `out` (resized to fit).
/// Returns false when `yuyv` is too short for the size (a torn buffer).
pub fn yuyv_to_rgb(yuyv: &[u8], width: u32, height: u32, out: &mut Vec<u8>) -> bool {
    let pixels = width as usize * height as usize;
    if !width.is_multiple_of(2) || yuyv.len() < pixels * 2 {
        return false;
    }
    out.resize(pixels * 3, 0);
    let clamp = |v: i32| v.clamp(0, 255) as u8;
    for (quad, rgb) in yuyv[..pixels * 2].chunks_exact(4).zip(out.chunks_exact_mut(6)) {
        let (u, v) = (i32::from(quad[1]) - 128, i32::from(quad[3]) - 128);
        for (k, y) in [quad[0], quad[2]].into_iter().enumerate() {
            // Fixed-point BT.601: 1.164 (Y - 16), 1.596 V, 0.392 U + 0.813 V, 2.017 U, scaled by 256.
            let c = 298 * (i32::from(y) - 16);
            rgb[3 * k] = clamp((c + 409 * v + 128) >> 8);
            rgb[3 * k + 1] = clamp((c - 100 * u - 208 * v + 128) >> 8);
            rgb[3 * k + 2] = clamp((c + 516 * u + 128) >> 8);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_white_and_colours_convert() {
        let mut out = Vec::new();
        // Black (Y 16), white (Y 235), neutral chroma.
        assert!(yuyv_to_rgb(&[16, 128, 235, 128], 2, 1, &mut out));
        assert_eq!(out, vec![0, 0, 0, 255, 255, 255]);
        // BT.601 red: Y 81, U 90, V 240.
        assert!(yuyv_to_rgb(&[81, 90, 81, 240], 2, 1, &mut out));
        assert!(out[0] > 250 && out[1] < 5 && out[2] < 5, "{out:?}");
        assert!(!yuyv_to_rgb(&[0; 6], 2, 2, &mut out), "short buffer refused");
        assert!(!yuyv_to_rgb(&[0; 12], 3, 1, &mut out), "odd width refused");
    }
}
