//! Minimal drawing for QC images: rectangle outlines for field grids and patches, and lines for
//! annotation outlines.

use super::RgbImage;

/// Draws the outline of the rectangle (`x`, `y`, `w`, `h`) `thickness` pixels wide, clipped to the image.
pub fn outline_rect(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, color: [u8; 3], thickness: u32) {
    if w == 0 || h == 0 {
        return;
    }
    let t = thickness.max(1).min(w).min(h);
    let (x1, y1) = (x.saturating_add(w), y.saturating_add(h));
    for yy in y..y1.min(img.height()) {
        let edge_row = yy < y + t || yy >= y1 - t;
        for xx in x..x1.min(img.width()) {
            if edge_row || xx < x + t || xx >= x1 - t {
                img.put(xx, yy, color);
            }
        }
    }
}

/// Longest line drawn, in pixels: a guard against coordinates far outside any QC image.
const MAX_LINE_STEPS: f64 = 1_000_000.0;

/// Draws a one-pixel line between two points in image pixels (fractional, possibly outside the
/// image), clipped to the image.
pub fn draw_line(img: &mut RgbImage, from: (f64, f64), to: (f64, f64), color: [u8; 3]) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let steps = dx.abs().max(dy.abs()).ceil().max(1.0);
    if !steps.is_finite() || steps > MAX_LINE_STEPS {
        return;
    }
    for i in 0..=steps as u64 {
        let t = i as f64 / steps;
        let (x, y) = ((from.0 + dx * t).floor(), (from.1 + dy * t).floor());
        if x >= 0.0 && y >= 0.0 && x < f64::from(img.width()) && y < f64::from(img.height()) {
            img.put(x as u32, y as u32, color);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outline_leaves_inside_untouched_and_clips() {
        let mut img = RgbImage::filled(6, 6, [0; 3]).unwrap();
        outline_rect(&mut img, 1, 1, 4, 4, [255, 0, 0], 1);
        assert_eq!(img.get(1, 1), Some([255, 0, 0]));
        assert_eq!(img.get(4, 2), Some([255, 0, 0]));
        assert_eq!(img.get(2, 2), Some([0, 0, 0]));
        assert_eq!(img.get(0, 0), Some([0, 0, 0]));
        outline_rect(&mut img, 4, 4, 100, 100, [0, 255, 0], 2);
        assert_eq!(img.get(5, 5), Some([0, 255, 0]));
    }

    #[test]
    fn lines_join_their_end_points_and_clip() {
        let mut img = RgbImage::filled(8, 8, [0; 3]).unwrap();
        draw_line(&mut img, (0.5, 0.5), (6.5, 3.5), [9, 9, 9]);
        assert_eq!(img.get(0, 0), Some([9; 3]));
        assert_eq!(img.get(6, 3), Some([9; 3]));
        let lit = img.as_raw().chunks_exact(3).filter(|p| p[0] == 9).count();
        assert_eq!(lit, 7, "one pixel per column of a shallow line");
        draw_line(&mut img, (-20.0, 7.2), (20.0, 7.2), [1, 2, 3]);
        assert!((0..8).all(|x| img.get(x, 7) == Some([1, 2, 3])));
        draw_line(&mut img, (f64::NAN, 0.0), (1e12, 0.0), [5; 3]);
        assert_eq!(img.get(1, 0), Some([0; 3]), "non-finite and absurd lines draw nothing");
    }
}
