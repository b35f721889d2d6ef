//! The non-overlapping grid of square fields (the study's 256×256 patches).

use super::ImageError;
use serde::{Deserialize, Serialize};

/// Where the grid starts when the image is not a multiple of the field size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum GridAlign {
    /// Fields start at (0, 0); the remainder is left at the right and bottom (slides, level-0 coordinates).
    #[default]
    TopLeft,
    /// The remainder is split evenly on both sides (camera frames, whose borders are vignetted).
    Centered,
}

/// One field of the grid, in pixels of the image the grid was laid over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldRect {
    pub col: u32,
    pub row: u32,
    pub x: u32,
    pub y: u32,
    pub size: u32,
}

impl FieldRect {
    /// A square of `size` pixels at (`x`, `y`) outside any grid (column and row 0).
    pub fn square(x: u32, y: u32, size: u32) -> Self {
        Self { col: 0, row: 0, x, y, size }
    }

    /// Row-major index of the field in its grid.
    pub fn index(&self, cols: u32) -> u32 {
        self.row * cols + self.col
    }
}

/// Whole fields of `size` pixels that fit an image; partial fields at the edges are not produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldGrid {
    pub cols: u32,
    pub rows: u32,
    pub size: u32,
    pub origin_x: u32,
    pub origin_y: u32,
}

impl FieldGrid {
    pub fn new(width: u32, height: u32, size: u32, align: GridAlign) -> Result<Self, ImageError> {
        if size == 0 {
            return Err(ImageError::BadFieldSize(size));
        }
        if width == 0 || height == 0 {
            return Err(ImageError::ZeroSize { width, height });
        }
        let (cols, rows) = (width / size, height / size);
        let (origin_x, origin_y) = match align {
            GridAlign::TopLeft => (0, 0),
            GridAlign::Centered => ((width - cols * size) / 2, (height - rows * size) / 2),
        };
        Ok(Self { cols, rows, size, origin_x, origin_y })
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.cols as usize * self.rows as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The field at (`col`, `row`), if inside the grid.
    pub fn field(&self, col: u32, row: u32) -> Option<FieldRect> {
        (col < self.cols && row < self.rows).then(|| FieldRect {
            col,
            row,
            x: self.origin_x + col * self.size,
            y: self.origin_y + row * self.size,
            size: self.size,
        })
    }

    /// All fields in row-major order.
    pub fn fields(&self) -> impl Iterator<Item = FieldRect> + '_ {
        (0..self.rows).flat_map(move |row| (0..self.cols).filter_map(move |col| self.field(col, row)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn centred_grid_splits_the_margin() {
        let g = FieldGrid::new(1296, 972, 256, GridAlign::Centered).unwrap();
        assert_eq!((g.cols, g.rows), (5, 3));
        assert_eq!((g.origin_x, g.origin_y), (8, 102));
        assert!(FieldGrid::new(10, 10, 0, GridAlign::TopLeft).is_err());
        assert!(FieldGrid::new(255, 4000, 256, GridAlign::TopLeft).unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn fields_tile_without_overlap_inside_the_image(
            w in 1u32..3000, h in 1u32..3000, size in 1u32..600, centred in any::<bool>()
        ) {
            let align = if centred { GridAlign::Centered } else { GridAlign::TopLeft };
            let g = FieldGrid::new(w, h, size, align).unwrap();
            let fields: Vec<_> = g.fields().collect();
            prop_assert_eq!(fields.len(), ((w / size) * (h / size)) as usize);
            for (i, f) in fields.iter().enumerate() {
                prop_assert!(f.x + f.size <= w && f.y + f.size <= h);
                prop_assert_eq!(f.index(g.cols) as usize, i);
                if let Some(next) = fields.get(i + 1) {
                    // Row-major neighbours touch exactly, never overlap.
                    if next.row == f.row {
                        prop_assert_eq!(next.x, f.x + f.size);
                    } else {
                        prop_assert_eq!(next.y, f.y + f.size);
                    }
                }
            }
        }
    }
}
