//! Polygons in level-0 pixels and the checks that catch hand-drawn mistakes: too few vertices,
//! zero area, edges that cross, holes outside their polygon, non-finite coordinates.

use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Unbounded};

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

/// One edge of a ring as the sweep sees it: `p` its left end (lower y first on a vertical
/// edge), `q` its right end, `id` its index in the ring.
#[derive(Debug, Clone, Copy)]
struct Edge {
    p: Point,
    q: Point,
    id: usize,
}

impl Edge {
    fn of(ring: &[Point], id: usize) -> Self {
        let (a, b) = (ring[id], ring[(id + 1) % ring.len()]);
        let (p, q) = if (a.x, a.y) <= (b.x, b.y) { (a, b) } else { (b, a) };
        Edge { p, q, id }
    }

    /// Height at `x` (inside the edge's x-range); a vertical edge answers its lower end.
    fn y_at(&self, x: f64) -> f64 {
        if self.q.x == self.p.x {
            self.p.y
        } else {
            self.p.y + (self.q.y - self.p.y) * ((x - self.p.x) / (self.q.x - self.p.x))
        }
    }
}

/// The sweep's status order: bottom to top at the later of two edges' left ends. Two edges
/// that do not cross keep one order over all the x they share, so while no crossing lies left
/// of the sweep line (the sweep stops at the first it finds) this is a total order on the
/// edges in the status; ties (edges meeting there) go by direction, then by index.
impl Ord for Edge {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.id == other.id {
            return std::cmp::Ordering::Equal;
        }
        let x = self.p.x.max(other.p.x);
        self.y_at(x)
            .total_cmp(&other.y_at(x))
            .then_with(|| {
                // Leaving x, the edge that turns upward more lies above (vertical: most).
                let slope = |e: &Edge| {
                    let dx = e.q.x - e.p.x;
                    if dx == 0.0 { f64::INFINITY } else { (e.q.y - e.p.y) / dx }
                };
                slope(self).total_cmp(&slope(other))
            })
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Edge {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Edge {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Edge {}

/// The first three of `ids`, without allocating (this runs at every end of every edge).
fn nearest_three(ids: impl Iterator<Item = usize>) -> [Option<usize>; 3] {
    let mut out = [None; 3];
    for (slot, id) in out.iter_mut().zip(ids) {
        *slot = Some(id);
    }
    out
}

/// The first pair of non-adjacent edges found to meet, with a point near where they do
/// (Shamos–Hoey: a sweep over the edges' ends with the edges cut by the sweep line kept in
/// order, each compared only with its neighbours there: O(n log n), where comparing every
/// edge with every edge sharing its x-range was quadratic on a zigzag outline).
fn self_intersection(ring: &[Point]) -> Option<(usize, usize, Point)> {
    let n = ring.len();
    let edges: Vec<Edge> = (0..n).map(|i| Edge::of(ring, i)).collect();
    let mut events: Vec<(f64, f64, u8, usize)> =
        edges.iter().flat_map(|e| [(e.p.x, e.p.y, 0, e.id), (e.q.x, e.q.y, 1, e.id)]).collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)).then(a.1.total_cmp(&b.1)).then(a.3.cmp(&b.3)));
    let adjacent = |i: usize, j: usize| (i + 1) % n == j || (j + 1) % n == i;
    let meets = |i: usize, j: usize| -> Option<(usize, usize, Point)> {
        let (a, b) = (edges[i], edges[j]);
        (!adjacent(i, j) && segments_meet(a.p, a.q, b.p, b.q)).then(|| {
            let at = Point { x: (a.p.x + a.q.x + b.p.x + b.q.x) / 4.0, y: (a.p.y + a.q.y + b.p.y + b.q.y) / 4.0 };
            (i.min(j), i.max(j), at)
        })
    };
    let mut status: BTreeSet<Edge> = BTreeSet::new();
    for (_, _, kind, id) in events {
        let e = edges[id];
        // The nearest three edges below and above `e` in the status: an edge has two ring
        // neighbours, which share a vertex with it (and may lie on it: a spike), so the third
        // is the nearest that can cross it.
        let below = nearest_three(status.range(..e).rev().map(|b| b.id));
        let above = nearest_three(status.range((Excluded(e), Unbounded)).map(|a| a.id));
        if kind == 0 {
            for other in below.iter().chain(&above).flatten() {
                if let Some(found) = meets(id, *other) {
                    return Some(found);
                }
            }
            status.insert(e);
        } else {
            status.remove(&e);
            for b in below.iter().flatten() {
                for a in above.iter().flatten() {
                    if let Some(found) = meets(*b, *a) {
                        return Some(found);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of non-adjacent edges: the definition the sweep must agree with.
    fn crossing_by_every_pair(ring: &[Point]) -> bool {
        let n = ring.len();
        let edge = |i: usize| (ring[i], ring[(i + 1) % n]);
        (0..n).any(|i| {
            (i + 1..n).any(|j| {
                let adjacent = (i + 1) % n == j || (j + 1) % n == i;
                let ((a, b), (c, d)) = (edge(i), edge(j));
                !adjacent && segments_meet(a, b, c, d)
            })
        })
    }

    /// Random rings on small grids (so that touching, collinear and repeated edges are
    /// common) and on large ones: the sweep finds a crossing exactly when some pair of edges
    /// meets, and what it reports does meet.
    #[test]
    fn the_sweep_agrees_with_every_pair_on_random_rings() {
        let mut rng = melanoscope_shared::rng::SplitMix64::new(17);
        let (mut crossing, mut simple) = (0, 0);
        for case in 0..20_000u64 {
            let n = 3 + (rng.next_u64() % if case % 2 == 0 { 9 } else { 40 }) as usize;
            let grid = 2 + rng.next_u64() % if case % 3 == 0 { 6 } else { 1000 };
            let ring: Vec<Point> = (0..n)
                .map(|_| Point { x: (rng.next_u64() % grid) as f64, y: (rng.next_u64() % grid) as f64 })
                .collect();
            let ring = Shape::new(ring, vec![]).outer;
            if ring.len() < 3 {
                continue;
            }
            let want = crossing_by_every_pair(&ring);
            let got = self_intersection(&ring);
            assert_eq!(got.is_some(), want, "case {case}: {ring:?}");
            if let Some((i, j, _)) = got {
                let n = ring.len();
                assert!(segments_meet(ring[i], ring[(i + 1) % n], ring[j], ring[(j + 1) % n]), "case {case}");
                crossing += 1;
            } else {
                simple += 1;
            }
        }
        assert!(crossing > 1000 && simple > 1000, "both kinds exercised: {crossing} crossing, {simple} simple");
    }

    /// The outline that stalled the old check (a zigzag whose edges all overlap in x: every
    /// edge was compared with every other): valid, and with one vertex moved, caught.
    #[test]
    fn a_long_zigzag_is_checked_by_the_sweep() {
        let n = 100_000;
        let mut ring: Vec<Point> =
            (0..n).map(|k| Point { x: if k % 2 == 0 { 0.0 } else { 1000.0 }, y: k as f64 }).collect();
        ring.extend([Point { x: -10.0, y: n as f64 }, Point { x: -10.0, y: -1.0 }]);
        assert_eq!(self_intersection(&ring), None);
        ring[50_001].y = 49_998.0;
        let (i, j, _) = self_intersection(&ring).expect("the moved vertex makes edges cross");
        assert!((49_990..50_010).contains(&i) && (49_990..50_010).contains(&j), "{i} {j}");
    }
}
