//! Regions rasterised once per slide, over their bounding box only, so that deciding a grid
//! cell costs a few hundred table reads instead of point-in-polygon tests against every vertex.

use super::geometry::Point;
use super::{RegionRole, SlideAnnotations};

/// Raster value of an excluded pixel (holes, negative regions, exclusion classes).
const EXCLUDED: u16 = u16::MAX;
/// Regions per slide the raster can tell apart (slot 0 = outside, `EXCLUDED` reserved).
pub const MAX_REGIONS: usize = EXCLUDED as usize;
/// Cells at most (128 MiB); a coarser pixel is used beyond it.
const MAX_CELLS: f64 = 64.0 * 1024.0 * 1024.0;
/// Raster pixels along each side of the smallest patch: 256 samples decide its overlap.
const SAMPLES_PER_PATCH_SIDE: f64 = 16.0;

/// Which region (index into [`SlideAnnotations::regions`]) each pixel belongs to.
#[derive(Debug, Clone)]
pub struct RegionRaster {
    /// Level-0 position of the raster's top-left corner.
    pub origin: (f64, f64),
    /// Side of one raster pixel in level-0 pixels.
    pub px: f64,
    pub width: u32,
    pub height: u32,
    cells: Vec<u16>,
}

/// How a level-0 square lies over the regions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellOverlap {
    /// The included region covering most of the square, if any.
    pub region: Option<usize>,
    /// Fraction of the square inside that region.
    pub fraction: f32,
    /// Fraction of the square inside an exclusion (hole, negative region, exclusion class).
    pub excluded: f32,
}

impl RegionRaster {
    /// Rasterises `ann` finely enough that a patch of `patch0` level-0 pixels (the smallest one
    /// patching will ask about) is sampled 16×16 times.
    pub fn for_patches(ann: &SlideAnnotations, patch0: f64) -> Self {
        Self::build(ann, (patch0 / SAMPLES_PER_PATCH_SIDE).max(1.0))
    }

    /// Rasterises `ann` with pixels of `px` level-0 pixels (coarser if the regions span so much
    /// that the raster would pass 128 MiB).
    pub fn build(ann: &SlideAnnotations, px: f64) -> Self {
        let shapes = ann.regions.iter().flat_map(|r| &r.raw.shapes);
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for s in shapes {
            let b = s.bounds();
            (x0, y0, x1, y1) = (x0.min(b.0), y0.min(b.1), x1.max(b.2), y1.max(b.3));
        }
        if x0 > x1 {
            return Self { origin: (0.0, 0.0), px: px.max(1.0), width: 0, height: 0, cells: Vec::new() };
        }
        let mut px = px.max(1.0);
        let area = (x1 - x0 + px) * (y1 - y0 + px);
        if area / (px * px) > MAX_CELLS {
            px = (area / MAX_CELLS).sqrt().ceil();
        }
        // Snapped to the global pixel grid so that results do not depend on where regions start.
        let origin = ((x0 / px).floor() * px, (y0 / px).floor() * px);
        let width = ((x1 - origin.0) / px).ceil() as u32 + 1;
        let height = ((y1 - origin.1) / px).ceil() as u32 + 1;
        let mut raster = Self { origin, px, width, height, cells: vec![0; width as usize * height as usize] };
        // Included regions first (a later one wins where two overlap), exclusions over them all.
        for (i, r) in ann.regions.iter().enumerate().filter(|(_, r)| r.role == RegionRole::Include) {
            for s in &r.raw.shapes {
                raster.fill(&[&s.outer], (i + 1) as u16);
            }
        }
        for r in &ann.regions {
            for s in &r.raw.shapes {
                if r.role == RegionRole::Exclude {
                    let rings: Vec<&[Point]> = std::iter::once(&s.outer).chain(&s.holes).map(Vec::as_slice).collect();
                    raster.fill(&rings, EXCLUDED);
                } else {
                    for h in &s.holes {
                        raster.fill(&[h], EXCLUDED);
                    }
                }
            }
        }
        raster
    }

    /// Sets every pixel whose centre lies inside `rings` (even-odd rule) to `value`.
    fn fill(&mut self, rings: &[&[Point]], value: u16) {
        let (ox, oy, px) = (self.origin.0, self.origin.1, self.px);
        let (min_y, max_y) =
            rings.iter().flat_map(|r| r.iter()).fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.y), b.max(p.y)));
        let first = (((min_y - oy) / px - 0.5).floor().max(0.0)) as u32;
        let last = (((max_y - oy) / px).ceil().max(0.0) as u32).min(self.height);
        let mut xs = Vec::new();
        for row in first..last {
            let yc = oy + (f64::from(row) + 0.5) * px;
            xs.clear();
            for ring in rings {
                let n = ring.len();
                for i in 0..n {
                    let (a, b) = (ring[i], ring[(i + 1) % n]);
                    if (a.y <= yc && yc < b.y) || (b.y <= yc && yc < a.y) {
                        xs.push(a.x + (yc - a.y) * (b.x - a.x) / (b.y - a.y));
                    }
                }
            }
            xs.sort_by(f64::total_cmp);
            let line = &mut self.cells[row as usize * self.width as usize..(row as usize + 1) * self.width as usize];
            for pair in xs.chunks_exact(2) {
                let from = ((pair[0] - ox) / px - 0.5).ceil().max(0.0) as usize;
                let to = (((pair[1] - ox) / px - 0.5).ceil().max(0.0) as usize).min(line.len());
                if from < to {
                    line[from..to].fill(value);
                }
            }
        }
    }

    /// How the level-0 square (`x0`, `y0`, `size0`) lies over the regions, sampled at the
    /// centres of the raster pixels inside it.
    pub fn overlap(&self, x0: u64, y0: u64, size0: u64) -> CellOverlap {
        let (ox, oy, px) = (self.origin.0, self.origin.1, self.px);
        // Pixel-centre index ranges in unbounded raster coordinates; samples off the raster are
        // outside every region.
        let range = |start: f64, o: f64| {
            let a = ((start - o) / px - 0.5).ceil() as i64;
            let b = ((start + size0 as f64 - o) / px - 0.5).ceil() as i64;
            (a, b.max(a + 1))
        };
        let (cx0, cx1) = range(x0 as f64, ox);
        let (cy0, cy1) = range(y0 as f64, oy);
        let total = ((cx1 - cx0) * (cy1 - cy0)) as f32;
        let mut excluded = 0u32;
        let mut counts: Vec<(u16, u32)> = Vec::new();
        for y in cy0.max(0)..cy1.min(i64::from(self.height)) {
            let row = &self.cells[y as usize * self.width as usize..(y as usize + 1) * self.width as usize];
            for &v in &row[cx0.clamp(0, i64::from(self.width)) as usize..cx1.clamp(0, i64::from(self.width)) as usize] {
                match v {
                    0 => {}
                    EXCLUDED => excluded += 1,
                    slot => match counts.iter_mut().find(|(s, _)| *s == slot) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((slot, 1)),
                    },
                }
            }
        }
        let best = counts.iter().max_by_key(|(s, n)| (*n, std::cmp::Reverse(*s)));
        CellOverlap {
            region: best.map(|(s, _)| usize::from(*s) - 1),
            fraction: best.map_or(0.0, |(_, n)| *n as f32 / total),
            excluded: excluded as f32 / total,
        }
    }

    /// Memory held by the raster, in bytes.
    pub fn bytes(&self) -> usize {
        self.cells.len() * 2
    }
}
