//! Minimal drawing for QC images: rectangle outlines for field grids and patches.

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
}
