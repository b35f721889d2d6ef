//! Renders a [`Scene`] into a pyramidal tiled TIFF, streaming: level 0 is rendered one tile
//! row at a time (rows in parallel) and each coarser level is the 4×4 area average of the one
//! above, so memory holds a tile row per level whatever the slide size.

use super::scene::{Polygon, Scene};
use super::tiff::{TILE, TiffLayout, TiffPyramidWriter};
use crate::SynthError;
use melanoscope_shared::image::RgbImage;
use rayon::prelude::*;
use std::path::Path;

/// Coarser levels shrink by this factor (as Aperio scanners do).
pub const LEVEL_FACTOR: u32 = 4;

struct LevelBuffer {
    level: usize,
    width: u32,
    height: u32,
    /// Rows received but not yet written (interleaved RGB, `width` wide).
    rows: Vec<u8>,
    tile_rows_written: u32,
    rows_received: u32,
}

fn shrink_rows(rows: &[u8], width: u32, n_rows: u32, out_width: u32) -> Vec<u8> {
    let f = LEVEL_FACTOR;
    let out_rows = n_rows / f;
    let mut out = vec![0u8; (out_width * out_rows * 3) as usize];
    for oy in 0..out_rows {
        for ox in 0..out_width {
            let mut acc = [0u32; 3];
            for dy in 0..f {
                let row = ((oy * f + dy) * width * 3) as usize;
                for dx in 0..f {
                    let p = row + ((ox * f + dx) * 3) as usize;
                    for c in 0..3 {
                        acc[c] += u32::from(rows[p + c]);
                    }
                }
            }
            let o = ((oy * out_width + ox) * 3) as usize;
            for c in 0..3 {
                out[o + c] = ((acc[c] + (f * f) / 2) / (f * f)) as u8;
            }
        }
    }
    out
}

/// Pushes `n` rows into the first of `levels`, writing full tile rows and cascading the
/// shrunk rows to the coarser levels after it. `last` marks the final rows of the slide.
fn push_rows(
    writer: &mut TiffPyramidWriter,
    levels: &mut [LevelBuffer],
    data: &[u8],
    n: u32,
    last: bool,
) -> Result<(), SynthError> {
    let Some((lv, rest)) = levels.split_first_mut() else { return Ok(()) };
    let take = n.min(lv.height.saturating_sub(lv.rows_received));
    lv.rows.extend_from_slice(&data[..(take * lv.width * 3) as usize]);
    lv.rows_received += take;
    let row_bytes = (lv.width * 3) as usize;
    let complete = last || lv.rows_received >= lv.height;
    loop {
        let available = (lv.rows.len() / row_bytes) as u32;
        if available == 0 || (available < TILE && !complete) {
            return Ok(());
        }
        let rows_here = available.min(TILE);
        let strip_bytes: Vec<u8> = lv.rows.drain(..rows_here as usize * row_bytes).collect();
        let strip = RgbImage::from_raw(lv.width, rows_here, strip_bytes)?;
        writer.write_tile_row(lv.level, lv.tile_rows_written, &strip)?;
        lv.tile_rows_written += 1;
        if let Some(next) = rest.first() {
            let shrunk = shrink_rows(strip.as_raw(), lv.width, rows_here, next.width);
            push_rows(writer, rest, &shrunk, rows_here / LEVEL_FACTOR, complete && lv.rows.is_empty())?;
        }
    }
}

/// Renders `scene` at `um_per_px` into `path`; returns level-0 (width, height).
pub fn write_slide(scene: &Scene, um_per_px: f64, app_mag: u32, path: &Path) -> Result<(u32, u32), SynthError> {
    write_slide_as(scene, um_per_px, app_mag, path, TiffLayout::Aperio)
}

/// [`write_slide`] in `layout` (an OME-TIFF pyramid with SubIFDs or top-level levels).
pub fn write_slide_as(
    scene: &Scene,
    um_per_px: f64,
    app_mag: u32,
    path: &Path,
    layout: TiffLayout,
) -> Result<(u32, u32), SynthError> {
    let px = um_per_px as f32;
    let width = (f64::from(scene.width_um) / um_per_px) as u32;
    let height = (f64::from(scene.height_um) / um_per_px) as u32;
    if width < TILE || height < TILE {
        return Err(SynthError::Invalid(format!("slide {width}x{height} px is smaller than one {TILE}px tile")));
    }
    let mut writer = TiffPyramidWriter::create_as(path, (width, height), um_per_px, app_mag, layout)?;
    let mut levels = Vec::new();
    let (mut w, mut h) = (width, height);
    loop {
        let level = writer.add_level(w, h);
        levels.push(LevelBuffer {
            level,
            width: w,
            height: h,
            rows: Vec::new(),
            tile_rows_written: 0,
            rows_received: 0,
        });
        if w.max(h) <= 2048 || w / LEVEL_FACTOR < 64 || h / LEVEL_FACTOR < 64 {
            break;
        }
        (w, h) = (w / LEVEL_FACTOR, h / LEVEL_FACTOR);
    }
    let tile_rows = height.div_ceil(TILE);
    for r in 0..tile_rows {
        let rows = TILE.min(height - r * TILE);
        let mut strip = vec![0u8; (width * rows * 3) as usize];
        strip.par_chunks_mut((width * 3) as usize).enumerate().for_each(|(dy, line)| {
            let y = (r * TILE + dy as u32) as f32 * px + px / 2.0;
            for (x, p) in line.chunks_exact_mut(3).enumerate() {
                p.copy_from_slice(&scene.color(x as f32 * px + px / 2.0, y, px));
            }
        });
        push_rows(&mut writer, &mut levels, &strip, rows, r + 1 == tile_rows)?;
    }
    writer.finish()?;
    Ok((width, height))
}

/// Rasterises `regions` (µm) into a mask of `width`x`height` pixels of `um_per_px` (255 inside).
pub fn rasterize(regions: &[Polygon], width: u32, height: u32, um_per_px: f64) -> Vec<u8> {
    let mut mask = vec![0u8; width as usize * height as usize];
    for poly in regions {
        let (minx, maxx) = poly.iter().fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (miny, maxy) = poly.iter().fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let to_px = |v: f32| (f64::from(v) / um_per_px).max(0.0) as u32;
        for y in to_px(miny)..=to_px(maxy).min(height.saturating_sub(1)) {
            for x in to_px(minx)..=to_px(maxx).min(width.saturating_sub(1)) {
                let (ux, uy) = (((f64::from(x) + 0.5) * um_per_px) as f32, ((f64::from(y) + 0.5) * um_per_px) as f32);
                if super::scene::point_in_polygon(poly, ux, uy) {
                    mask[(y * width + x) as usize] = 255;
                }
            }
        }
    }
    mask
}

/// QuPath-style GeoJSON of the lesion regions in level-0 pixels, classified as `class_name`.
pub fn regions_geojson(regions: &[Polygon], um_per_px: f64, class_name: &str) -> serde_json::Value {
    let features: Vec<serde_json::Value> = regions
        .iter()
        .map(|poly| {
            let mut ring: Vec<[f64; 2]> =
                poly.iter().map(|(x, y)| [f64::from(*x) / um_per_px, f64::from(*y) / um_per_px]).collect();
            if let Some(first) = ring.first().copied() {
                ring.push(first);
            }
            serde_json::json!({
                "type": "Feature",
                "geometry": { "type": "Polygon", "coordinates": [ring] },
                "properties": { "objectType": "annotation", "classification": { "name": class_name } }
            })
        })
        .collect();
    serde_json::json!({ "type": "FeatureCollection", "features": features })
}
