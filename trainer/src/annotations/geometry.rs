//! Polygons in level-0 pixels and the checks that catch hand-drawn mistakes: too few vertices,
//! zero area, edges that cross, holes outside their polygon, non-finite coordinates.

/// A vertex in level-0 pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// A polygon with holes; rings are open (the closing vertex is not repeated).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub outer: Vec<Point>,
    pub holes: Vec<Vec<Point>>,
}

impl Shape {
    /// Builds a shape, dropping repeated consecutive vertices and the closing vertex.
    pub fn new(outer: Vec<Point>, holes: Vec<Vec<Point>>) -> Self {
        Self { outer: open_ring(outer), holes: holes.into_iter().map(open_ring).collect() }
    }

    /// Every vertex of every ring.
    pub fn points(&self) -> impl Iterator<Item = &Point> {
        self.outer.iter().chain(self.holes.iter().flatten())
    }

    /// Level-0 bounding box (min x, min y, max x, max y).
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        self.outer.iter().fold((f64::MAX, f64::MAX, f64::MIN, f64::MIN), |(a, b, c, d), p| {
            (a.min(p.x), b.min(p.y), c.max(p.x), d.max(p.y))
        })
    }
}

fn open_ring(mut ring: Vec<Point>) -> Vec<Point> {
    ring.dedup();
    if ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    ring
}

/// Twice the signed area of a ring (shoelace).
pub fn signed_area2(ring: &[Point]) -> f64 {
    let n = ring.len();
    (0..n).map(|i| ring[i].x * ring[(i + 1) % n].y - ring[(i + 1) % n].x * ring[i].y).sum()
}

/// Even-odd point-in-ring test.
pub fn point_in_ring(ring: &[Point], p: Point) -> bool {
    let mut inside = false;
    let n = ring.len();
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let (a, b) = (ring[i], ring[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Problems of one shape, each a short phrase; empty when it is a valid polygon.
pub fn check_shape(shape: &Shape) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(p) = shape.points().find(|p| !(p.x.is_finite() && p.y.is_finite())) {
        problems.push(format!("vertex ({}, {}) is not a finite number", p.x, p.y));
        return problems;
    }
    let rings = std::iter::once(("outline".to_string(), &shape.outer))
        .chain(shape.holes.iter().enumerate().map(|(i, h)| (format!("hole {}", i + 1), h)));
    for (name, ring) in rings {
        if ring.len() < 3 {
            problems.push(format!("degenerate {name}: {} distinct vertices, a polygon needs 3", ring.len()));
        } else if let Some((i, j, at)) = self_intersection(ring) {
            // Checked before the area: a symmetric bow-tie's lobes cancel to zero signed area.
            problems.push(format!(
                "self-intersecting {name}: edges {} and {} cross near ({:.1}, {:.1})",
                i + 1,
                j + 1,
                at.x,
                at.y
            ));
        } else if signed_area2(ring).abs() < 1e-6 {
            problems.push(format!("degenerate {name}: zero area (all vertices on one line)"));
        }
    }
    if shape.outer.len() >= 3 {
        for (i, h) in shape.holes.iter().enumerate() {
            if let Some(p) = h.first()
                && !point_in_ring(&shape.outer, *p)
            {
                problems.push(format!("hole {} lies outside its polygon", i + 1));
            }
        }
    }
    problems
}

fn orient(a: Point, b: Point, c: Point) -> f64 {
    (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
}

fn on_segment(a: Point, b: Point, p: Point) -> bool {
    p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
}

/// Whether segments `ab` and `cd` share any point (crossing, touching or overlapping).
fn segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (d1, d2, d3, d4) = (orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    (d1 == 0.0 && on_segment(c, d, a))
        || (d2 == 0.0 && on_segment(c, d, b))
        || (d3 == 0.0 && on_segment(a, b, c))
        || (d4 == 0.0 && on_segment(a, b, d))
}

/// The first pair of non-adjacent edges that meet, with a point near where they do. Edges are
/// swept in order of their left end so that hand-drawn rings of thousands of vertices stay fast.
fn self_intersection(ring: &[Point]) -> Option<(usize, usize, Point)> {
    let n = ring.len();
    let edge = |i: usize| (ring[i], ring[(i + 1) % n]);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| {
        let (a, b) = (edge(i), edge(j));
        a.0.x.min(a.1.x).total_cmp(&b.0.x.min(b.1.x))
    });
    let mut active: Vec<usize> = Vec::new();
    for &i in &order {
        let (a, b) = edge(i);
        let left = a.x.min(b.x);
        active.retain(|&j| {
            let (c, d) = edge(j);
            c.x.max(d.x) >= left
        });
        for &j in &active {
            let adjacent = (i + 1) % n == j || (j + 1) % n == i;
            if adjacent {
                continue;
            }
            let (c, d) = edge(j);
            if segments_meet(a, b, c, d) {
                let (lo, hi) = (i.min(j), i.max(j));
                let at = Point { x: (a.x + b.x + c.x + d.x) / 4.0, y: (a.y + b.y + c.y + d.y) / 4.0 };
                return Some((lo, hi, at));
            }
        }
        active.push(i);
    }
    None
}
