//! Regions of interest: 4-connected groups of patches whose probability reaches a threshold,
//! scored, drawn on the heatmap and exported as GeoJSON in level-0 pixels (what QuPath's
//! "Import objects" reads: one annotation per region, classified, with its scores).

use super::slide_map::{SlideMap, TruthMask};
use melanoscope_shared::image::{RgbImage, draw_line};
use serde::{Deserialize, Serialize};
use serde_json::json;

const ROI_OUTLINE: [u8; 3] = [255, 40, 40];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Roi {
    /// 1-based, in descending score order.
    pub id: usize,
    /// Grid positions (col, row).
    #[serde(skip)]
    pub cells: Vec<(usize, usize)>,
    pub patches: usize,
    pub area_mm2: f64,
    pub mean_probability: f32,
    pub max_probability: f32,
    /// Mean probability times the square root of the patch count: a confident, larger region
    /// ranks above a single hot patch.
    pub score: f64,
}

/// Connected regions of `map` at or above `threshold`, best first.
pub fn find_rois(map: &SlideMap, threshold: f32, native_um: f64) -> Vec<Roi> {
    let (cols, rows) = (map.cols, map.rows);
    let hot = |c: usize, r: usize| map.prob_at(c, r).is_some_and(|p| p >= threshold);
    let mut seen = vec![false; cols * rows];
    let cell_mm2 = (map.size0 as f64 * native_um / 1000.0).powi(2);
    let mut rois = Vec::new();
    for start in 0..cols * rows {
        let (c0, r0) = (start % cols, start / cols);
        if seen[start] || !hot(c0, r0) {
            continue;
        }
        let (mut stack, mut cells) = (vec![(c0, r0)], Vec::new());
        seen[start] = true;
        while let Some((c, r)) = stack.pop() {
            cells.push((c, r));
            let mut visit = |c: usize, r: usize| {
                if c < cols && r < rows && !seen[r * cols + c] && hot(c, r) {
                    seen[r * cols + c] = true;
                    stack.push((c, r));
                }
            };
            visit(c + 1, r);
            visit(c, r + 1);
            if c > 0 {
                visit(c - 1, r);
            }
            if r > 0 {
                visit(c, r - 1);
            }
        }
        cells.sort_by_key(|&(c, r)| (r, c));
        let probs: Vec<f32> = cells.iter().filter_map(|&(c, r)| map.prob_at(c, r)).collect();
        let mean = probs.iter().sum::<f32>() / probs.len().max(1) as f32;
        let max = probs.iter().copied().fold(0.0f32, f32::max);
        rois.push(Roi {
            id: 0,
            patches: cells.len(),
            area_mm2: cells.len() as f64 * cell_mm2,
            mean_probability: mean,
            max_probability: max,
            score: f64::from(mean) * (cells.len() as f64).sqrt(),
            cells,
        });
    }
    rois.sort_by(|a, b| b.score.total_cmp(&a.score));
    for (i, r) in rois.iter_mut().enumerate() {
        r.id = i + 1;
    }
    rois
}

/// Rectangles (level-0 x, y, w, h) covering a region: one per run of cells along a row.
fn runs(map: &SlideMap, roi: &Roi) -> Vec<(u64, u64, u64, u64)> {
    let mut out: Vec<(u64, u64, u64, u64)> = Vec::new();
    let mut prev: Option<(usize, usize)> = None;
    for &(c, r) in &roi.cells {
        let (x, y) = map.cell_origin(c, r);
        match (prev, out.last_mut()) {
            (Some((pc, pr)), Some(last)) if pr == r && pc + 1 == c => last.2 += map.size0,
            _ => out.push((x, y, map.size0, map.size0)),
        }
        prev = Some((c, r));
    }
    out
}

/// The regions as a GeoJSON FeatureCollection (level-0 pixel coordinates).
pub fn rois_geojson(map: &SlideMap, rois: &[Roi], class_name: &str) -> serde_json::Value {
    let features: Vec<_> = rois
        .iter()
        .map(|roi| {
            let polygons: Vec<_> = runs(map, roi)
                .into_iter()
                .map(|(x, y, w, h)| vec![vec![[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]])
                .collect();
            json!({
                "type": "Feature",
                "geometry": {"type": "MultiPolygon", "coordinates": polygons},
                "properties": {
                    "objectType": "annotation",
                    "name": format!("ROI {} (mean p {:.2})", roi.id, roi.mean_probability),
                    "classification": {"name": class_name, "color": [255, 40, 40]},
                    "measurements": {
                        "patches": roi.patches,
                        "area_mm2": roi.area_mm2,
                        "mean_probability": roi.mean_probability,
                        "max_probability": roi.max_probability,
                        "score": roi.score,
                    },
                },
            })
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}

/// Outlines every region on a thumbnail of `thumb_um` µm/px.
pub fn draw_rois(img: &mut RgbImage, map: &SlideMap, rois: &[Roi], native_um: f64, thumb_um: f64) {
    let f = native_um / thumb_um;
    let inside = |roi: &Roi, c: i64, r: i64| {
        c >= 0 && r >= 0 && roi.cells.binary_search_by_key(&(r as usize, c as usize), |&(c, r)| (r, c)).is_ok()
    };
    for roi in rois {
        for &(c, r) in &roi.cells {
            let (x, y) = map.cell_origin(c, r);
            let (x1, y1) = (x as f64 * f, y as f64 * f);
            let (x2, y2) = ((x + map.size0) as f64 * f, (y + map.size0) as f64 * f);
            let (ci, ri) = (c as i64, r as i64);
            if !inside(roi, ci, ri - 1) {
                draw_line(img, (x1, y1), (x2, y1), ROI_OUTLINE);
            }
            if !inside(roi, ci, ri + 1) {
                draw_line(img, (x1, y2), (x2, y2), ROI_OUTLINE);
            }
            if !inside(roi, ci - 1, ri) {
                draw_line(img, (x1, y1), (x1, y2), ROI_OUTLINE);
            }
            if !inside(roi, ci + 1, ri) {
                draw_line(img, (x2, y1), (x2, y2), ROI_OUTLINE);
            }
        }
    }
}

/// Dice of the regions' patches against the patches that lie mostly (≥ 50%) in the lesion,
/// over the explained patches. `None` when neither has any.
pub fn dice(map: &SlideMap, rois: &[Roi], truth: &TruthMask, native_um: f64) -> Option<f64> {
    let mut predicted = vec![false; map.cols * map.rows];
    for roi in rois {
        for &(c, r) in &roi.cells {
            predicted[r * map.cols + c] = true;
        }
    }
    let (mut both, mut p, mut t) = (0usize, 0usize, 0usize);
    for (i, slot) in map.grid.iter().enumerate() {
        if slot.is_none() {
            continue;
        }
        let (x, y) = map.cell_origin(i % map.cols, i / map.cols);
        let lesion = truth.fraction(native_um, x, y, map.size0) >= 0.5;
        both += usize::from(lesion && predicted[i]);
        p += usize::from(predicted[i]);
        t += usize::from(lesion);
    }
    (p + t > 0).then(|| 2.0 * both as f64 / (p + t) as f64)
}
