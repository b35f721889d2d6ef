//! A synthetic skin section: epidermis over dermis, with a melanocytic lesion whose class is
//! told by morphology (where the nests are, how big and uniform their nuclei, whether single
//! cells climb into the epidermis), not by colour: every class shares the same stain palette,
//! and each slide's stain and scan vary by site.

use crate::Lesion;
use melanoscope_shared::rng::SplitMix64;

/// A nucleus: an ellipse in µm with its haematoxylin density.
#[derive(Debug, Clone, Copy)]
pub struct Nucleus {
    pub x: f32,
    pub y: f32,
    pub rx: f32,
    pub ry: f32,
    /// Rotation as (cos, sin).
    pub rot: (f32, f32),
    pub density: f32,
    /// Clear halo around the cell (pagetoid melanocytes), in µm; 0 for none.
    pub halo: f32,
}

/// A round nest of melanocytes: centre and radius in µm, nuclear radius ± relative spread, cell spacing.
#[derive(Debug, Clone, Copy)]
struct Nest {
    cx: f32,
    cy: f32,
    radius: f32,
    nucleus_r: f32,
    spread: f32,
    spacing: f32,
}

/// A closed polygon in µm (lesion regions; exported as GeoJSON and rasterised as masks).
pub type Polygon = Vec<(f32, f32)>;

/// Per-slide stain and scan variation (the "site").
#[derive(Debug, Clone, Copy)]
pub struct Stain {
    /// Optical density of haematoxylin and eosin per RGB channel.
    pub hematoxylin: [f32; 3],
    pub eosin: [f32; 3],
    pub intensity: f32,
    pub glass: [f32; 3],
}

impl Stain {
    /// Ruifrok–Johnston H&E vectors, jittered per site.
    pub fn for_site(site: u64) -> Self {
        let mut rng = SplitMix64::new(site.wrapping_mul(0x9E37_79B9) ^ 0x5157);
        let mut j = |base: f32, spread: f32| base * (1.0 + spread * (rng.next_f64() as f32 * 2.0 - 1.0));
        Self {
            hematoxylin: [j(0.65, 0.15), j(0.70, 0.15), j(0.29, 0.25)],
            eosin: [j(0.07, 0.4), j(0.99, 0.12), j(0.11, 0.4)],
            intensity: j(1.0, 0.15),
            glass: [j(243.0, 0.01), j(241.0, 0.01), j(246.0, 0.01)],
        }
    }
}

/// Geometry of one synthetic section.
#[derive(Debug, Clone)]
pub struct Scene {
    pub lesion: Lesion,
    pub width_um: f32,
    pub height_um: f32,
    pub stain: Stain,
    /// Tissue occupies x in [left, right], from the skin surface down to `bottom`.
    left: f32,
    right: f32,
    bottom: f32,
    surface: f32,
    seed: u64,
    nuclei: Vec<Nucleus>,
    /// Per bucket, the nuclei whose extent overlaps it (one lookup per pixel).
    buckets: Vec<Vec<u32>>,
    bucket_cols: usize,
    bucket_rows: usize,
    /// Ground truth: the lesion's regions (each nest, the sheet, each pagetoid cell).
    pub lesion_regions: Vec<Polygon>,
    /// The outline a pathologist would draw around the whole lesion (nests and the stroma
    /// between them), as the study's delineations did; see [`delineate`].
    pub lesion_outline: Polygon,
}

const BUCKET_UM: f32 = 40.0;
const EPIDERMIS_UM: f32 = 70.0;

fn hash2(seed: u64, x: i32, y: i32) -> f32 {
    let mut h = seed ^ (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 31;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 29;
    (h >> 40) as f32 / (1u64 << 24) as f32
}

/// Smooth value noise in 0..1 with feature size `scale` µm.
fn noise(seed: u64, x: f32, y: f32, scale: f32) -> f32 {
    let (fx, fy) = (x / scale, y / scale);
    let (ix, iy) = (fx.floor() as i32, fy.floor() as i32);
    let (tx, ty) = (fx - ix as f32, fy - iy as f32);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let a = hash2(seed, ix, iy) * (1.0 - sx) + hash2(seed, ix + 1, iy) * sx;
    let b = hash2(seed, ix, iy + 1) * (1.0 - sx) + hash2(seed, ix + 1, iy + 1) * sx;
    a * (1.0 - sy) + b * sy
}

fn circle(cx: f32, cy: f32, r: f32, wobble: &mut impl FnMut() -> f32) -> Polygon {
    (0..24)
        .map(|i| {
            let t = i as f32 / 24.0 * std::f32::consts::TAU;
            let rr = r * (1.0 + 0.12 * (wobble() - 0.5));
            (cx + rr * t.cos(), cy + rr * t.sin())
        })
        .collect()
}

/// A lesion's delineation: an x-monotone envelope of its regions (the highest and lowest point
/// within a sliding window, column by column), padded. Being x-monotone it is always a simple
/// polygon, and the window bridges the stroma between neighbouring nests as a pathologist's
/// outline does.
pub fn delineate(regions: &[Polygon]) -> Polygon {
    const STEP: f32 = 8.0;
    const WINDOW: f32 = 45.0;
    const PAD: f32 = 15.0;
    let pts: Vec<(f32, f32)> = regions.iter().flatten().copied().collect();
    let Some((minx, maxx)) = pts
        .iter()
        .map(|p| p.0)
        .fold(None, |acc: Option<(f32, f32)>, x| Some(acc.map_or((x, x), |(a, b)| (a.min(x), b.max(x)))))
    else {
        return Vec::new();
    };
    let (mut top, mut bottom) = (Vec::new(), Vec::new());
    let mut x = minx;
    while x <= maxx {
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        for p in pts.iter().filter(|p| (p.0 - x).abs() <= WINDOW) {
            (lo, hi) = (lo.min(p.1), hi.max(p.1));
        }
        // A gap wider than the window leaves a column empty: the outline bridges it with a
        // straight edge. The first and last columns always hold the extreme points.
        if lo <= hi {
            top.push((x, lo - PAD));
            bottom.push((x, hi + PAD));
        }
        x += STEP;
    }
    // Close the ends PAD beyond the outermost points (columns are STEP < PAD apart, so the
    // outline stays monotone).
    if let (Some(t0), Some(b0)) = (top.first_mut(), bottom.first_mut()) {
        (t0.0, b0.0) = (minx - PAD, minx - PAD);
    }
    if top.len() == 1 {
        top.push((maxx + PAD, top[0].1));
        bottom.push((maxx + PAD, bottom[0].1));
    } else if let (Some(t1), Some(b1)) = (top.last_mut(), bottom.last_mut()) {
        (t1.0, b1.0) = (maxx + PAD, maxx + PAD);
    }
    top.extend(bottom.into_iter().rev());
    top
}

/// Whether (x, y) lies inside `poly` (even–odd rule).
pub fn point_in_polygon(poly: &[(f32, f32)], x: f32, y: f32) -> bool {
    let mut inside = false;
    let mut j = poly.len().wrapping_sub(1);
    for i in 0..poly.len() {
        let ((xi, yi), (xj, yj)) = (poly[i], poly[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

impl Scene {
    /// Builds the section of `lesion` type, `width_um` × `height_um`, from `seed`, stained as `site`.
    pub fn new(lesion: Lesion, width_um: f32, height_um: f32, seed: u64, site: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut u = move || rng.next_f64() as f32;
        let left = width_um * (0.04 + 0.04 * u());
        let right = width_um * (0.92 + 0.04 * u());
        let surface = height_um * (0.08 + 0.05 * u());
        let bottom = height_um * (0.85 + 0.08 * u());
        let mut scene = Scene {
            lesion,
            width_um,
            height_um,
            stain: Stain::for_site(site),
            left,
            right,
            bottom,
            surface,
            seed,
            nuclei: Vec::new(),
            buckets: Vec::new(),
            bucket_cols: (width_um / BUCKET_UM).ceil() as usize + 1,
            bucket_rows: (height_um / BUCKET_UM).ceil() as usize + 1,
            lesion_regions: Vec::new(),
            lesion_outline: Vec::new(),
        };
        scene.populate(&mut u);
        scene.lesion_outline = delineate(&scene.lesion_regions)
            .into_iter()
            .map(|(x, y)| (x.clamp(0.0, width_um), y.clamp(0.0, height_um)))
            .collect();
        scene.buckets = vec![Vec::new(); scene.bucket_cols * scene.bucket_rows];
        for (i, n) in scene.nuclei.iter().enumerate() {
            let reach = n.rx.max(n.ry).max(n.halo) + 1.0;
            let bx = |v: f32| ((v / BUCKET_UM).floor().max(0.0) as usize).min(scene.bucket_cols - 1);
            let by = |v: f32| ((v / BUCKET_UM).floor().max(0.0) as usize).min(scene.bucket_rows - 1);
            for row in by(n.y - reach)..=by(n.y + reach) {
                for col in bx(n.x - reach)..=bx(n.x + reach) {
                    scene.buckets[row * scene.bucket_cols + col].push(i as u32);
                }
            }
        }
        scene
    }

    /// Depth of the skin surface at `x` (gentle undulation).
    fn surface_y(&self, x: f32) -> f32 {
        self.surface + 25.0 * (x / 900.0 + self.seed as f32 * 0.001).sin() + 12.0 * noise(self.seed, x, 0.0, 300.0)
    }

    /// Dermo-epidermal junction at `x`: rete ridges push the epidermis down every ~110 µm.
    fn dej_y(&self, x: f32) -> f32 {
        let ridge = (x / 110.0 * std::f32::consts::TAU).sin().max(0.0).powf(2.0);
        self.surface_y(x) + EPIDERMIS_UM + 35.0 * ridge * noise(self.seed ^ 7, x, 0.0, 200.0)
    }

    fn in_tissue(&self, x: f32, y: f32) -> bool {
        x >= self.left
            && x <= self.right
            && y >= self.surface_y(x) - 12.0
            && y <= self.bottom - 40.0 * noise(self.seed ^ 3, x, 0.0, 500.0)
    }

    fn push(&mut self, n: Nucleus) {
        if self.in_tissue(n.x, n.y) {
            self.nuclei.push(n);
        }
    }

    fn populate(&mut self, u: &mut impl FnMut() -> f32) {
        // Keratinocytes: a jittered lattice in the epidermis, flatter towards the surface.
        let mut x = self.left;
        while x < self.right {
            let (top, dej) = (self.surface_y(x), self.dej_y(x));
            let mut y = top + 14.0;
            while y < dej - 3.0 {
                let flat = ((y - top) / (dej - top)).clamp(0.2, 1.0);
                let r = 2.6 + 0.6 * u();
                self.push(Nucleus {
                    x: x + 4.0 * u(),
                    y: y + 3.0 * u(),
                    rx: r,
                    ry: r * flat,
                    rot: (1.0, 0.0),
                    density: 0.55 + 0.15 * u(),
                    halo: 0.0,
                });
                y += 9.0;
            }
            // Basal layer: a denser row along the junction.
            self.push(Nucleus {
                x: x + 2.0 * u(),
                y: dej - 4.0,
                rx: 2.8,
                ry: 3.4,
                rot: (1.0, 0.0),
                density: 0.75,
                halo: 0.0,
            });
            x += 9.0;
        }
        // Fibroblasts and scattered lymphocytes in the dermis (every class has them).
        let area = (self.right - self.left) * (self.bottom - self.surface);
        for _ in 0..(area / 1400.0) as usize {
            let (x, y) =
                (self.left + u() * (self.right - self.left), self.surface + u() * (self.bottom - self.surface));
            if y < self.dej_y(x) + 8.0 {
                continue;
            }
            let a = u() * std::f32::consts::PI;
            if u() < 0.85 {
                self.push(Nucleus {
                    x,
                    y,
                    rx: 4.5 + 2.0 * u(),
                    ry: 1.2 + 0.5 * u(),
                    rot: (a.cos(), a.sin()),
                    density: 0.8,
                    halo: 0.0,
                });
            } else {
                self.push(Nucleus { x, y, rx: 2.2, ry: 2.2, rot: (1.0, 0.0), density: 0.95, halo: 0.0 });
            }
        }
        // The lesion spans a stretch of the section.
        let span = ((self.right - self.left) * (0.35 + 0.2 * u())).min(2500.0);
        let start = self.left + (self.right - self.left - span) * (0.2 + 0.6 * u());
        match self.lesion {
            Lesion::JN => self.junctional_nests(start, span, u),
            Lesion::IN => self.dermal_nests(start, span, u),
            Lesion::CN => {
                self.junctional_nests(start, span, u);
                self.dermal_nests(start + span * 0.1, span * 0.8, u);
            }
            Lesion::MM => self.melanoma(start, span, u),
        }
    }

    /// Fills a round nest with melanocytes of nuclear radius `r` (± `spread`).
    fn nest(&mut self, nest: Nest, u: &mut impl FnMut() -> f32) {
        let Nest { cx, cy, radius, nucleus_r: r, spread, spacing } = nest;
        let mut y = cy - radius;
        while y <= cy + radius {
            let mut x = cx - radius;
            while x <= cx + radius {
                let (px, py) = (x + 1.5 * (u() - 0.5), y + 1.5 * (u() - 0.5));
                if (px - cx).powi(2) + (py - cy).powi(2) <= radius * radius {
                    let rr = r * (1.0 + spread * (u() - 0.5));
                    self.push(Nucleus {
                        x: px,
                        y: py,
                        rx: rr,
                        ry: rr * (0.9 + 0.1 * u()),
                        rot: (1.0, 0.0),
                        density: 0.7 + 0.1 * u(),
                        halo: 0.0,
                    });
                }
                x += spacing;
            }
            y += spacing;
        }
        let mut w = || u();
        self.lesion_regions.push(circle(cx, cy, radius + 4.0, &mut w));
    }

    /// Junctional nevus: small, uniform, evenly spaced nests sitting on the junction.
    fn junctional_nests(&mut self, start: f32, span: f32, u: &mut impl FnMut() -> f32) {
        let mut x = start;
        while x < start + span {
            let radius = 18.0 + 6.0 * u();
            let cy = self.dej_y(x) - radius * 0.4;
            self.nest(Nest { cx: x, cy, radius, nucleus_r: 3.4, spread: 0.15, spacing: 8.0 }, u);
            x += 90.0 + 40.0 * u();
        }
    }

    /// Intradermal nevus: nests in the dermis that mature with depth (smaller nests and nuclei).
    fn dermal_nests(&mut self, start: f32, span: f32, u: &mut impl FnMut() -> f32) {
        let depth_max = (self.bottom - self.surface) * 0.55;
        let count = (span * depth_max / 9000.0) as usize;
        for _ in 0..count {
            let x = start + u() * span;
            let depth = 40.0 + u() * depth_max;
            let maturity = (depth / depth_max).clamp(0.0, 1.0);
            let radius = 28.0 - 16.0 * maturity + 4.0 * u();
            let r = 3.5 - 1.3 * maturity;
            let cy = self.dej_y(x) + depth;
            self.nest(Nest { cx: x, cy, radius, nucleus_r: r, spread: 0.2, spacing: 7.0 + 2.0 * maturity }, u);
        }
    }

    /// Melanoma: a crowded sheet of large pleomorphic nuclei in the upper dermis with an
    /// irregular border, confluent junctional growth, and single cells rising into the epidermis.
    fn melanoma(&mut self, start: f32, span: f32, u: &mut impl FnMut() -> f32) {
        let cx = start + span / 2.0;
        let top = self.dej_y(cx);
        let depth = (self.bottom - top) * (0.35 + 0.2 * u());
        let mut sheet: Polygon = Vec::new();
        for i in 0..64 {
            let t = i as f32 / 64.0 * std::f32::consts::TAU;
            let wobble = 0.7 + 0.6 * noise(self.seed ^ 11, t * 100.0, 0.0, 60.0);
            let (dx, dy) = (t.cos() * span / 2.0 * wobble, t.sin() * depth / 2.0 * wobble);
            // The sheet reaches up to the junction: melanoma grows from it.
            sheet.push((cx + dx, top + depth / 2.0 - 20.0 + dy));
        }
        let (minx, maxx) = sheet.iter().fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (miny, maxy) = sheet.iter().fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let mut y = miny;
        while y < maxy {
            let mut x = minx;
            while x < maxx {
                let (px, py) = (x + 3.0 * (u() - 0.5), y + 3.0 * (u() - 0.5));
                if point_in_polygon(&sheet, px, py) && py > self.dej_y(px) {
                    // Pleomorphism: nuclear size and shape vary widely from cell to cell.
                    let r = 2.6 + 3.2 * u() * u() + 0.8 * u();
                    let a = u() * std::f32::consts::PI;
                    self.push(Nucleus {
                        x: px,
                        y: py,
                        rx: r * (1.0 + 0.5 * u()),
                        ry: r,
                        rot: (a.cos(), a.sin()),
                        density: 0.5 + 0.4 * u(),
                        halo: 0.0,
                    });
                }
                x += 10.0;
            }
            y += 10.0;
        }
        self.lesion_regions.push(sheet);
        // Pagetoid spread: single atypical cells with clear halos scattered up the epidermis.
        let mut x = cx - span * 0.45;
        while x < cx + span * 0.45 {
            let (s, d) = (self.surface_y(x), self.dej_y(x));
            let y = s + 15.0 + u() * (d - s - 15.0);
            let r = 3.5 + 2.5 * u();
            self.push(Nucleus { x, y, rx: r, ry: r * 0.9, rot: (1.0, 0.0), density: 0.85, halo: r + 4.0 });
            let mut w = || u();
            self.lesion_regions.push(circle(x, y, r + 6.0, &mut w));
            x += 25.0 + 40.0 * u();
        }
    }

    /// Haematoxylin and eosin densities at (x, y) µm, for a pixel `px_um` wide.
    fn densities(&self, x: f32, y: f32, px_um: f32) -> (f32, f32) {
        if !self.in_tissue(x, y) {
            return (0.0, 0.0);
        }
        let (s, d) = (self.surface_y(x), self.dej_y(x));
        let (mut h, mut e): (f32, f32) = if y < s + 12.0 {
            // Stratum corneum: flaky pink keratin.
            (0.02, 0.15 + 0.25 * noise(self.seed ^ 5, x, y * 4.0, 6.0))
        } else if y < d {
            (0.10, 0.28 + 0.08 * noise(self.seed ^ 9, x, y, 8.0))
        } else {
            // Dermis: wavy collagen bundles.
            let fibre = noise(self.seed ^ 13, x * 0.35 + 8.0 * noise(self.seed, x, y, 40.0), y * 1.6, 5.0);
            (0.03, 0.12 + 0.3 * fibre)
        };
        let (bx, by) = ((x / BUCKET_UM) as usize, (y / BUCKET_UM) as usize);
        let soft = px_um.max(0.5);
        if bx < self.bucket_cols && by < self.bucket_rows {
            {
                for &i in &self.buckets[by * self.bucket_cols + bx] {
                    let n = &self.nuclei[i as usize];
                    let (vx, vy) = (x - n.x, y - n.y);
                    let (lx, ly) = (vx * n.rot.0 + vy * n.rot.1, -vx * n.rot.1 + vy * n.rot.0);
                    let dist = ((lx / n.rx).powi(2) + (ly / n.ry).powi(2)).sqrt();
                    let edge = (n.rx.min(n.ry) * (1.0 - dist) / soft + 0.5).clamp(0.0, 1.0);
                    if edge > 0.0 {
                        let chromatin = 0.75 + 0.5 * noise(self.seed ^ i as u64, x, y, 1.2);
                        h = h.max(n.density * chromatin * edge);
                        e *= 1.0 - 0.5 * edge;
                    } else if n.halo > 0.0 && (vx * vx + vy * vy).sqrt() < n.halo {
                        e *= 0.35;
                        h *= 0.3;
                    }
                }
            }
        }
        (h, e)
    }

    /// RGB at (x, y) µm by Beer–Lambert absorption of the two stains.
    pub fn color(&self, x: f32, y: f32, px_um: f32) -> [u8; 3] {
        let (h, e) = self.densities(x, y, px_um);
        let grain = 0.97 + 0.06 * hash2(self.seed ^ 17, (x * 4.0) as i32, (y * 4.0) as i32);
        if h == 0.0 && e == 0.0 {
            return self.stain.glass.map(|g| (g * grain).clamp(0.0, 255.0) as u8);
        }
        let st = &self.stain;
        core::array::from_fn(|c| {
            let od = st.intensity * (h * st.hematoxylin[c] + e * st.eosin[c]) * 2.3;
            (st.glass[c] * (-od).exp() * grain).clamp(0.0, 255.0) as u8
        })
    }

    /// Whether (x, y) µm lies in the planted lesion.
    pub fn in_lesion(&self, x: f32, y: f32) -> bool {
        self.lesion_regions.iter().any(|p| point_in_polygon(p, x, y))
    }
}
