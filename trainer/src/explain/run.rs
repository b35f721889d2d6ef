//! Explaining whole slides from a patch manifest: every patch of a slide is classified and
//! mapped, then the slide's heatmap, CAM mosaic, regions of interest and the panels of its
//! most suspicious patches are written, with localisation scores where a ground-truth mask
//! (`<slide>.mask.png`, as the synthetic cohort writes) lies beside the slide.

use super::ExplainError;
use super::cam::{CamMethod, explain_batch};
use super::panels::patch_panels;
use super::regions::{Roi, dice, draw_rois, find_rois, rois_geojson};
use super::slide_map::{Cell, SlideMap, TruthMask, pointing_hit, render};
use crate::data::augment::AugmentConfig;
use crate::data::feed::Feed;
use crate::data::loader::{LoaderConfig, Sample, epoch_batches};
use crate::model::{Arch, Network};
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::image::{TissueTest, save_rgb};
use melanoscope_slides::manifest::ManifestRow;
use melanoscope_slides::patching::build_tissue_mask;
use melanoscope_slides::slide::{Slide, is_plain_image};
use melanoscope_synth::cohort::MASK_DOWNSAMPLE;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Device, nn::VarStore};

#[derive(Debug, Clone)]
pub struct ExplainConfig {
    pub arch: Arch,
    pub method: CamMethod,
    /// The class explained (1, melanoma, for the binary tasks).
    pub class: usize,
    pub loader: LoaderConfig,
    pub device: Device,
    pub out_dir: PathBuf,
    pub roi_threshold: f32,
    /// Thumbnail pixels per patch side.
    pub cell_px: u32,
    /// Figure panels written for the most suspicious patches.
    pub panels: usize,
}

/// What one slide gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlideExplanation {
    pub slide_id: String,
    pub label: String,
    pub patches: usize,
    pub unread_patches: usize,
    pub max_probability: f32,
    pub mean_probability: f32,
    pub rois: Vec<Roi>,
    pub flagged_area_mm2: f64,
    /// Whether the hottest CAM-mosaic pixel lies in the ground-truth lesion.
    pub pointing_hit: Option<bool>,
    /// Dice of the regions' patches with the lesion's patches.
    pub dice: Option<f64>,
    pub files: Vec<String>,
}

fn open_slide(row: &ManifestRow) -> Result<Slide, ExplainError> {
    let path = Path::new(&row.slide);
    Ok(Slide::open(path, is_plain_image(path).then_some(row.requested_um_per_px))?)
}

/// Explains the patches `rows` of one slide (all at one magnification).
pub fn explain_slide(
    net: &Network,
    vs: &VarStore,
    cfg: &ExplainConfig,
    rows: &[&ManifestRow],
) -> Result<SlideExplanation, ExplainError> {
    let first = rows.first().ok_or_else(|| ExplainError::Unsupported("a slide without patches".into()))?;
    let samples: Vec<Sample> = crate::data::loader::samples_where(rows.iter().copied(), |_| Some(0));
    let loader = LoaderConfig { shuffle: false, augment: AugmentConfig::none(), ..cfg.loader.clone() };
    let mut cells = Vec::new();
    for staged in
        Feed::new(epoch_batches(Arc::new(samples), &loader, 0).filter(|b| !b.is_empty()), loader.size, cfg.device, 2)
    {
        let staged = staged?;
        let (x, _) = staged.to_device(cfg.device)?;
        for (cam, &i) in
            explain_batch(net, vs, cfg.arch, &x, cfg.class, cfg.method)?.into_iter().zip(&staged.batch.samples)
        {
            let prob = cam.probs.get(cfg.class).copied().unwrap_or(0.0);
            cells.push(Cell { x0: rows[i].x0.max(0) as u64, y0: rows[i].y0.max(0) as u64, cam, prob });
        }
    }
    let unread = rows.len() - cells.len();
    let map = SlideMap::new(cells, first.size0.max(1) as u64)?;
    let slide = open_slide(first)?;
    let native = slide.native_um_per_px();
    let thumb_um = map.size0 as f64 * native / f64::from(cfg.cell_px.max(1));
    let thumb = build_tissue_mask(&slide, thumb_um, &TissueTest::default())?;
    let (w, h) = (thumb.thumbnail.width(), thumb.thumbnail.height());
    let dir = cfg.out_dir.join(&first.slide_id);
    std::fs::create_dir_all(&dir)
        .map_err(|e| ExplainError::Io { path: dir.clone(), detail: melanoscope_shared::errors::error_chain(&e) })?;
    let rois = find_rois(&map, cfg.roi_threshold, native);
    let mut files = Vec::new();
    let prob_heat = map.heat(w, h, native, thumb_um, false)?;
    let mut heatmap = render(&thumb.thumbnail, &prob_heat)?;
    draw_rois(&mut heatmap, &map, &rois, native, thumb_um);
    save_rgb(&dir.join("heatmap.png"), &heatmap)?;
    let cam_heat = map.heat(w, h, native, thumb_um, true)?;
    save_rgb(&dir.join("cam-mosaic.png"), &render(&thumb.thumbnail, &cam_heat)?)?;
    let geo = rois_geojson(&map, &rois, "Melanoma ROI");
    let geo_path = dir.join("rois.geojson");
    write_atomic(&geo_path, &serde_json::to_vec_pretty(&geo).unwrap_or_default()).map_err(|e| ExplainError::Io {
        path: geo_path.clone(),
        detail: melanoscope_shared::errors::error_chain(&e),
    })?;
    files.extend(["heatmap.png", "cam-mosaic.png", "rois.geojson"].map(String::from));
    let mut ranked: Vec<&Cell> = map.cells.iter().collect();
    ranked.sort_by(|a, b| b.prob.total_cmp(&a.prob));
    for (k, cell) in ranked.iter().take(cfg.panels).enumerate() {
        let img = patch_panels(&slide, first.requested_um_per_px, cell.x0, cell.y0, map.size0, loader.size, &cell.cam)?;
        let name = format!("panel-{}.png", k + 1);
        save_rgb(&dir.join(&name), &img)?;
        files.push(name);
    }
    let truth_path = Path::new(&first.slide).with_extension("mask.png");
    let truth =
        truth_path.exists().then(|| TruthMask::load(&truth_path, native * f64::from(MASK_DOWNSAMPLE))).transpose()?;
    let probs: Vec<f32> = map.cells.iter().map(|c| c.prob).collect();
    Ok(SlideExplanation {
        slide_id: first.slide_id.clone(),
        label: first.label.clone(),
        patches: map.cells.len(),
        unread_patches: unread,
        max_probability: probs.iter().copied().fold(0.0, f32::max),
        mean_probability: probs.iter().sum::<f32>() / probs.len().max(1) as f32,
        flagged_area_mm2: rois.iter().map(|r| r.area_mm2).sum(),
        pointing_hit: truth.as_ref().and_then(|t| pointing_hit(&cam_heat, w, thumb_um, native, t)),
        dice: truth.as_ref().and_then(|t| dice(&map, &rois, t, native)),
        rois,
        files,
    })
}

/// Localisation over the explained slides: on melanoma slides, the pointing-game hit rate and
/// mean Dice; on the others, how often any region was flagged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalisationSummary {
    pub melanoma_slides: usize,
    pub pointing_game_hit_rate: Option<f64>,
    pub mean_dice: Option<f64>,
    pub other_slides: usize,
    pub other_slides_with_roi: usize,
}

/// `explain`'s `summary.json` (fields in name order, the order the file has always had).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExplainSummary {
    pub arch: String,
    pub checkpoint: PathBuf,
    /// Slides that could not be explained, each with why.
    pub failed: Vec<String>,
    pub localisation: LocalisationSummary,
    pub method: String,
    pub roi_threshold: f32,
    pub slides: Vec<SlideExplanation>,
}

pub fn summarise(slides: &[SlideExplanation]) -> LocalisationSummary {
    let mm: Vec<&SlideExplanation> = slides.iter().filter(|s| s.label.eq_ignore_ascii_case("MM")).collect();
    let hits: Vec<bool> = mm.iter().filter_map(|s| s.pointing_hit).collect();
    let dices: Vec<f64> = mm.iter().filter_map(|s| s.dice).collect();
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let others: Vec<&SlideExplanation> = slides.iter().filter(|s| !s.label.eq_ignore_ascii_case("MM")).collect();
    LocalisationSummary {
        melanoma_slides: mm.len(),
        pointing_game_hit_rate: mean(&hits.iter().map(|h| f64::from(u8::from(*h))).collect::<Vec<_>>()),
        mean_dice: mean(&dices),
        other_slides: others.len(),
        other_slides_with_roi: others.iter().filter(|s| !s.rois.is_empty()).count(),
    }
}

/// Explains every slide of `rows` (grouped by slide, in first-seen order); a slide that fails
/// is reported with the reason and the others go on.
pub fn explain_slides(
    net: &Network,
    vs: &VarStore,
    cfg: &ExplainConfig,
    rows: &[&ManifestRow],
) -> (Vec<SlideExplanation>, Vec<String>) {
    let mut order: Vec<&str> = Vec::new();
    let mut by_slide: std::collections::HashMap<&str, Vec<&ManifestRow>> = std::collections::HashMap::new();
    for r in rows {
        by_slide.entry(r.slide_id.as_str()).or_insert_with(|| {
            order.push(r.slide_id.as_str());
            Vec::new()
        });
        if let Some(v) = by_slide.get_mut(r.slide_id.as_str()) {
            v.push(r);
        }
    }
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for id in order {
        let slide_rows = &by_slide[id];
        match explain_slide(net, vs, cfg, slide_rows) {
            Ok(e) => {
                tracing::info!(slide = id, max_p = e.max_probability, rois = e.rois.len(), "explained");
                done.push(e);
            }
            Err(e) => failed.push(format!("{id}: {e}")),
        }
    }
    (done, failed)
}
