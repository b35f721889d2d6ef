//! A slide's patches on their grid: the melanoma probability of each patch and its CAM,
//! rendered over a thumbnail as a probability heatmap and as a CAM mosaic (each patch's map
//! in its place, scaled by the patch's probability so that a confident nevus patch stays cold),
//! and compared with a ground-truth lesion mask: pointing game and per-cell truth.

use super::ExplainError;
use super::cam::PatchCam;
use melanoscope_shared::cam::{overlay, upsample_bilinear, viridis};
use melanoscope_shared::image::RgbImage;

/// One explained patch: level-0 box and its result.
#[derive(Debug, Clone)]
pub struct Cell {
    pub x0: u64,
    pub y0: u64,
    pub cam: PatchCam,
    /// Probability of the explained class.
    pub prob: f32,
}

/// The explained patches of one slide, all of level-0 side `size0`, on a grid from `origin`.
#[derive(Debug, Clone)]
pub struct SlideMap {
    pub size0: u64,
    pub origin: (u64, u64),
    pub cols: usize,
    pub rows: usize,
    /// Index into `cells` for each grid position (row-major), if a patch is there.
    pub grid: Vec<Option<usize>>,
    pub cells: Vec<Cell>,
}

impl SlideMap {
    /// Places `cells` (patches of level-0 side `size0`) on their grid; patches off the grid
    /// of the first one are snapped to the nearest position.
    pub fn new(cells: Vec<Cell>, size0: u64) -> Result<Self, ExplainError> {
        if size0 == 0 {
            return Err(ExplainError::Unsupported("patch footprint of 0 level-0 pixels".into()));
        }
        let ox = cells.iter().map(|c| c.x0).min().unwrap_or(0);
        let oy = cells.iter().map(|c| c.y0).min().unwrap_or(0);
        let pos = |c: &Cell| {
            let col = ((c.x0 - ox) as f64 / size0 as f64).round() as usize;
            let row = ((c.y0 - oy) as f64 / size0 as f64).round() as usize;
            (col, row)
        };
        let cols = cells.iter().map(|c| pos(c).0 + 1).max().unwrap_or(0);
        let rows = cells.iter().map(|c| pos(c).1 + 1).max().unwrap_or(0);
        let mut grid = vec![None; cols * rows];
        for (i, c) in cells.iter().enumerate() {
            let (col, row) = pos(c);
            grid[row * cols + col] = Some(i);
        }
        Ok(Self { size0, origin: (ox, oy), cols, rows, grid, cells })
    }

    pub fn prob_at(&self, col: usize, row: usize) -> Option<f32> {
        self.grid.get(row * self.cols + col).copied().flatten().map(|i| self.cells[i].prob)
    }

    /// Level-0 top-left of a grid position.
    pub fn cell_origin(&self, col: usize, row: usize) -> (u64, u64) {
        (self.origin.0 + col as u64 * self.size0, self.origin.1 + row as u64 * self.size0)
    }

    /// Per-pixel heat over a thumbnail of `thumb_um` µm/px of a slide of `native_um` µm/px:
    /// the cell's probability (`cams` false) or its CAM times its probability (`cams` true);
    /// −1 where no patch was explained.
    pub fn heat(
        &self,
        width: u32,
        height: u32,
        native_um: f64,
        thumb_um: f64,
        cams: bool,
    ) -> Result<Vec<f32>, ExplainError> {
        let (w, h) = (width as usize, height as usize);
        let mut heat = vec![-1.0f32; w * h];
        let f = native_um / thumb_um;
        for cell in &self.cells {
            let (tx, ty) = ((cell.x0 as f64 * f) as usize, (cell.y0 as f64 * f) as usize);
            let side = ((self.size0 as f64 * f).round() as usize).max(1);
            let up = if cams {
                Some(upsample_bilinear(&cell.cam.map, cell.cam.height, cell.cam.width, side, side)?)
            } else {
                None
            };
            for dy in 0..side {
                for dx in 0..side {
                    let (x, y) = (tx + dx, ty + dy);
                    if x < w && y < h {
                        heat[y * w + x] = match &up {
                            Some(m) => m[dy * side + dx] * cell.prob,
                            None => cell.prob,
                        };
                    }
                }
            }
        }
        Ok(heat)
    }
}

/// `thumbnail` with `heat` (from [`SlideMap::heat`]) blended over it in viridis.
pub fn render(thumbnail: &RgbImage, heat: &[f32]) -> Result<RgbImage, ExplainError> {
    Ok(overlay(thumbnail, heat, &viridis(), 0.6, 0.0)?)
}

/// A ground-truth lesion mask: 255 inside the lesion, at `um_per_px`.
#[derive(Debug, Clone)]
pub struct TruthMask {
    pub width: u32,
    pub height: u32,
    pub um_per_px: f64,
    pub data: Vec<u8>,
}

impl TruthMask {
    /// Reads a mask image (any channel above 127 is lesion).
    pub fn load(path: &std::path::Path, um_per_px: f64) -> Result<Self, ExplainError> {
        let img = melanoscope_shared::image::load_rgb(path)?;
        let data = img.as_raw().chunks_exact(3).map(|p| if p[0] > 127 { 255 } else { 0 }).collect();
        Ok(Self { width: img.width(), height: img.height(), um_per_px, data })
    }

    /// Whether the level-0 point lies in the lesion.
    pub fn contains(&self, native_um: f64, x0: f64, y0: f64) -> bool {
        let f = native_um / self.um_per_px;
        let (x, y) = ((x0 * f) as i64, (y0 * f) as i64);
        x >= 0
            && y >= 0
            && (x as u32) < self.width
            && (y as u32) < self.height
            && self.data[y as usize * self.width as usize + x as usize] > 0
    }

    /// Fraction of a level-0 square that lies in the lesion.
    pub fn fraction(&self, native_um: f64, x0: u64, y0: u64, size0: u64) -> f32 {
        let f = native_um / self.um_per_px;
        let (x1, y1) = ((x0 as f64 * f) as u32, (y0 as f64 * f) as u32);
        let (x2, y2) = (((x0 + size0) as f64 * f).ceil() as u32, ((y0 + size0) as f64 * f).ceil() as u32);
        let (mut inside, mut total) = (0u32, 0u32);
        for y in y1..y2.min(self.height) {
            for x in x1..x2.min(self.width) {
                total += 1;
                inside += u32::from(self.data[(y * self.width + x) as usize] > 0);
            }
        }
        if total == 0 { 0.0 } else { inside as f32 / total as f32 }
    }
}

/// Pointing game: whether the hottest pixel of `heat` (thumbnail of `thumb_um`) falls in the
/// lesion. `None` when nothing was explained.
pub fn pointing_hit(heat: &[f32], width: u32, thumb_um: f64, native_um: f64, truth: &TruthMask) -> Option<bool> {
    let (i, v) = heat.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    if *v < 0.0 {
        return None;
    }
    let (x, y) = ((i % width as usize) as f64 + 0.5, (i / width as usize) as f64 + 0.5);
    let to0 = thumb_um / native_um;
    Some(truth.contains(native_um, x * to0, y * to0))
}
