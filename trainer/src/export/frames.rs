//! The threshold at the level the edge decides: windows of the camera's size cut from the
//! validation slides (around validation patches, so inside the delineated lesions a
//! pathologist would look at), cut into fields with the edge's extraction, run through the
//! exported graph on the edge's engine and aggregated as the edge aggregates them. The
//! threshold is chosen on those frame probabilities by the patch threshold's rule.
//!
//! Where: a pathologist centres the lesion and looks around it, so each window lies halfway
//! between a validation patch and the centre of its delineated region (the patch itself when
//! the patch set has no regions).
//!
//! A window is read at the slide level nearest the camera's µm/px (not finer) and handed to
//! the extraction at that level's µm/px; frames without a tissue field are left out (the edge
//! gates them). A camera is simulated on each window when asked (`cameras`): defocus blur,
//! vignetting, a lamp and white-balance cast and JPEG, from a set of plausible microscopes
//! (synthetic sites the demo's test frames do not use). Measured on the demo model: the same
//! nevus scenes score 0.07 to 0.24 higher through such a camera than rendered clean.

use crate::train::task::{Task, task_rows};
use melanoscope_engine::{Engine, EngineError, frame_extract_config};
use melanoscope_shared::formats::{DecisionThresholds, FrameChoice};
use melanoscope_shared::image::{FrameBounds, ImageError, Normalization, PixelSpacing};
use melanoscope_shared::metrics::Aggregation;
use melanoscope_shared::metrics::{MetricsError, auc, choose_threshold};
use melanoscope_shared::pipeline::FieldExtractor;
use melanoscope_shared::scores::softmax;
use melanoscope_slides::manifest::ManifestRow;
use melanoscope_slides::slide::Slide;
use melanoscope_slides::split::{Partition, PatientSplit};
use std::collections::BTreeMap;

/// The camera the frame threshold is chosen for (`--frame-size`, `--frame-um-per-px`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FramePlan {
    pub width: u32,
    pub height: u32,
    /// µm per camera pixel at the objective screening will use.
    pub um_per_px: f64,
    /// Windows cut from each validation slide.
    pub per_slide: usize,
    pub aggregation: Aggregation,
    /// Simulated microscope cameras the windows are seen through, in turn (0: the windows as
    /// read).
    pub cameras: u32,
}

/// The first synthetic microscope site of the simulated cameras: far from the sites the
/// synthetic cohorts and test frames use (0, 1, 2).
const CAMERA_SITES: u64 = 1000;

/// `window` as camera `k` of the simulated set delivers it: optics, then JPEG.
pub(crate) fn through_camera(window: &mut melanoscope_shared::image::RgbImage, k: u64) -> Result<(), ImageError> {
    use melanoscope_synth::frames::{FrameOptics, apply_optics, frame_jpeg};
    let optics = FrameOptics::for_site(CAMERA_SITES + k);
    apply_optics(window, &optics)?;
    *window = melanoscope_shared::image::decode_rgb(&frame_jpeg(window, &optics)?)?;
    Ok(())
}

/// One validation frame's outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ValidationFrame {
    pub slide_id: String,
    pub label: String,
    pub positive: bool,
    /// Level-0 centre of the window.
    pub centre: (i64, i64),
    pub tissue_fields: usize,
    pub probability: f64,
}

/// What choosing on frames found, for the export's report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FrameThresholdReport {
    pub frames: Vec<ValidationFrame>,
    /// Slides that gave no frame, with why.
    pub skipped: Vec<(String, String)>,
    /// Windows with no tissue field (the edge would gate them).
    pub without_tissue: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameThresholdError {
    #[error("no validation slide of task {task} at {magnification} in the manifest")]
    NoSlides { task: &'static str, magnification: String },
    #[error("the validation frames hold {positive} melanoma and {negative} other frames; a frame threshold needs both")]
    OneClass { positive: usize, negative: usize },
    #[error(
        "the frame size {width}x{height} at {um_per_px} µm/px; expected 16 to 16384 px a side (the largest camera frame the edge accepts) and 0.01 to 1000 µm/px"
    )]
    BadPlan { width: u32, height: u32, um_per_px: f64 },
    #[error(
        "the camera's {frame_um_per_px} µm/px is coarser than the model's {model_um_per_px}: its frames cannot give the model's fields"
    )]
    TooCoarse { frame_um_per_px: f64, model_um_per_px: f64 },
    #[error(
        "no validation slide is as large as a camera frame ({width}x{height} px at {um_per_px} µm/px): {slides} \
         slide(s) smaller, e.g. {example}; frames are cut from real pixels only (an imported patch set holds \
         patches, not slides), so the patch threshold stays the bundle's"
    )]
    NoWholeFrames { width: u32, height: u32, um_per_px: f64, slides: usize, example: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("choosing the frame threshold")]
    Metrics(#[from] MetricsError),
}

/// Up to `n` of `rows`, evenly spread through them (rows of one slide in reading order).
fn spread<T: Clone>(rows: &[T], n: usize) -> Vec<T> {
    if rows.len() <= n {
        return rows.to_vec();
    }
    (0..n).map(|i| rows[(2 * i + 1) * rows.len() / (2 * n)].clone()).collect()
}

/// The model-side inputs: the graph, its field side and normalisation, and its µm/px.
#[derive(Debug)]
pub struct FrameModel<'a> {
    pub onnx: &'a [u8],
    pub side: u32,
    pub um_per_px: f64,
    pub normalization: Normalization,
    pub positive_class: usize,
}

/// Screens validation frames of `task` at `magnification` as the edge would.
pub fn validation_frames(
    rows: &[ManifestRow],
    split: &PatientSplit,
    task: Task,
    magnification: &str,
    model: &FrameModel<'_>,
    plan: &FramePlan,
) -> Result<FrameThresholdReport, FrameThresholdError> {
    // A window is held whole in memory: no larger than a frame the edge would accept.
    let too_small = plan.width < 16 || plan.height < 16;
    if too_small
        || FrameBounds::HARD.check(plan.width, plan.height).is_err()
        || !(0.01..=1000.0).contains(&plan.um_per_px)
    {
        return Err(FrameThresholdError::BadPlan { width: plan.width, height: plan.height, um_per_px: plan.um_per_px });
    }
    if plan.um_per_px > model.um_per_px * 1.05 {
        return Err(FrameThresholdError::TooCoarse {
            frame_um_per_px: plan.um_per_px,
            model_um_per_px: model.um_per_px,
        });
    }
    let mut by_slide: BTreeMap<&str, Vec<&ManifestRow>> = BTreeMap::new();
    for r in task_rows(rows, task, magnification, split, Partition::Validation) {
        by_slide.entry(r.slide.as_str()).or_default().push(r);
    }
    if by_slide.is_empty() {
        return Err(FrameThresholdError::NoSlides { task: task.name(), magnification: magnification.into() });
    }
    let side = model.side as usize;
    let engine = Engine::from_onnx(model.onnx, 1, side)?;
    let mut extractor = FieldExtractor::new(frame_extract_config(model.um_per_px, model.side, model.normalization))?;
    let per = 3 * side * side;
    let mut report = FrameThresholdReport { frames: Vec::new(), skipped: Vec::new(), without_tissue: 0 };
    let mut too_small = Vec::new();
    let bar = crate::progress::bar(by_slide.len() as u64, "frame threshold: validation slides", "slides");
    for (path, mut slide_rows) in by_slide {
        bar.inc(1);
        slide_rows.sort_by_key(|r| (r.y0, r.x0));
        let first = slide_rows[0];
        // The µm/px the patcher read the slide at: the manifest knows it even for a plain image
        // whose µm/px came from the cohort.
        let native = first.effective_um_per_px * f64::from(first.patch_size) / first.size0.max(1) as f64;
        let slide = match Slide::open(std::path::Path::new(path), Some(native)) {
            Ok(s) => s,
            Err(e) => {
                report.skipped.push((first.slide_id.clone(), melanoscope_shared::errors::error_chain(&e)));
                continue;
            }
        };
        let Some(positive) = task.class_of(&first.label).map(|c| c == model.positive_class) else { continue };
        let level = match slide.plan_level(plan.um_per_px) {
            Ok(l) => l,
            Err(e) => {
                report.skipped.push((first.slide_id.clone(), melanoscope_shared::errors::error_chain(&e)));
                continue;
            }
        };
        let downsample = level.level_um_per_px / native;
        // Each delineated region's centre: the mean centre of its patches.
        let mut regions: BTreeMap<i32, (i64, i64, i64)> = BTreeMap::new();
        for r in slide_rows.iter().filter(|r| r.region_id.is_some()) {
            let e = regions.entry(r.region_id.unwrap_or(0)).or_default();
            *e = (e.0 + r.x0 + r.size0 / 2, e.1 + r.y0 + r.size0 / 2, e.2 + 1);
        }
        let (w, h) = (
            (f64::from(plan.width) * level.scale).round() as u32,
            (f64::from(plan.height) * level.scale).round() as u32,
        );
        // A window is cut from real pixels only: a slide (or an imported patch) smaller than
        // the camera's frame would be padded with glass the camera never shows, and the frame
        // threshold chosen on it written into the bundle (it set one of 0.045 on a sound model).
        let Some(dims) = slide.levels().get(level.level as usize) else { continue };
        if u64::from(w) > dims.width || u64::from(h) > dims.height {
            too_small
                .push(format!("{} ({}x{} px, the frame {w}x{h} px there)", first.slide_id, dims.width, dims.height));
            continue;
        }
        let level0 = slide.levels().first().map_or((0, 0), |l| (l.width, l.height));
        for row in spread(&slide_rows, plan.per_slide) {
            let patch = (row.x0 + row.size0 / 2, row.y0 + row.size0 / 2);
            let centre = match row.region_id.and_then(|id| regions.get(&id)) {
                Some(&(x, y, n)) if n > 0 => ((patch.0 + x / n) / 2, (patch.1 + y / n) / 2),
                _ => patch,
            };
            let half = |n: u32| (f64::from(n) * downsample / 2.0) as i64;
            // Inside the slide: a window at an edge is moved in, not padded.
            let span = |n: u32| (f64::from(n) * downsample).ceil() as u64;
            let (x0, y0) = (
                ((centre.0 - half(w)).max(0) as u64).min(level0.0.saturating_sub(span(w))),
                ((centre.1 - half(h)).max(0) as u64).min(level0.1.saturating_sub(span(h))),
            );
            let mut window = match slide.read_rgb(level.level, x0, y0, w, h) {
                Ok(img) => img,
                Err(e) => {
                    report.skipped.push((row.slide_id.clone(), melanoscope_shared::errors::error_chain(&e)));
                    break;
                }
            };
            if plan.cameras > 0 {
                through_camera(
                    &mut window,
                    (report.frames.len() + report.without_tissue) as u64 % u64::from(plan.cameras),
                )?;
            }
            let out = extractor.process(&window, PixelSpacing::isotropic(level.level_um_per_px)?)?;
            let kept = out.kept_count();
            if kept == 0 {
                report.without_tissue += 1;
                continue;
            }
            let mut probabilities = Vec::with_capacity(kept);
            for field in out.tensors.chunks_exact(per) {
                let logits = engine.run(field)?.logits;
                probabilities.push(softmax(&logits).get(model.positive_class).copied().unwrap_or(0.0));
            }
            report.frames.push(ValidationFrame {
                slide_id: row.slide_id.clone(),
                label: row.label.clone(),
                positive,
                centre,
                tissue_fields: kept,
                probability: plan.aggregation.apply(&mut probabilities),
            });
        }
    }
    bar.finish_and_clear();
    if report.frames.is_empty() && !too_small.is_empty() {
        return Err(FrameThresholdError::NoWholeFrames {
            width: plan.width,
            height: plan.height,
            um_per_px: plan.um_per_px,
            slides: too_small.len(),
            example: too_small[0].clone(),
        });
    }
    for s in too_small {
        report.skipped.push((s, "smaller than a camera frame: no window cut from real pixels".into()));
    }
    Ok(report)
}

/// The frame threshold by `patch`'s rule on `frames`, with `band` around it. The rule picks
/// an observed score; the threshold is moved to the middle of the gap below it (the same
/// sensitivity and specificity on these frames, and room on either side for the band and
/// for frames that differ a little from validation). The band is narrowed so that both
/// verdicts stay reachable.
pub fn choose_frame_threshold(
    frames: &[ValidationFrame],
    patch: DecisionThresholds,
    band: f64,
    plan: &FramePlan,
) -> Result<(DecisionThresholds, FrameChoice), FrameThresholdError> {
    let labels: Vec<bool> = frames.iter().map(|f| f.positive).collect();
    let scores: Vec<f64> = frames.iter().map(|f| f.probability).collect();
    let positive = labels.iter().filter(|l| **l).count();
    if positive == 0 || positive == labels.len() {
        return Err(FrameThresholdError::OneClass { positive, negative: labels.len() - positive });
    }
    let chosen = choose_threshold(&labels, &scores, patch.rule)?;
    let below = scores.iter().copied().filter(|s| *s < chosen.threshold).fold(f64::NEG_INFINITY, f64::max);
    let threshold = if below.is_finite() { (chosen.threshold + below) / 2.0 } else { chosen.threshold };
    let band = band.clamp(0.0, 0.5).min(threshold / 2.0).min((1.0 - threshold) / 2.0);
    let decision =
        DecisionThresholds { positive_class: patch.positive_class, threshold, uncertain_band: band, rule: patch.rule };
    let choice = FrameChoice {
        patch_decision: patch,
        aggregation: plan.aggregation,
        frame_width: plan.width,
        frame_height: plan.height,
        frame_um_per_px: plan.um_per_px,
        frames: frames.len() as u32,
        positive_frames: positive as u32,
        sensitivity: chosen.sensitivity,
        specificity: chosen.specificity,
        auc: auc(&labels, &scores)?,
    };
    Ok((decision, choice))
}

#[cfg(test)]
mod tests {
    use super::*;
    use melanoscope_shared::metrics::ThresholdRule;

    fn frame(positive: bool, probability: f64) -> ValidationFrame {
        ValidationFrame {
            slide_id: "s".into(),
            label: if positive { "MM" } else { "CN" }.into(),
            positive,
            centre: (0, 0),
            tissue_fields: 15,
            probability,
        }
    }

    fn plan() -> FramePlan {
        FramePlan {
            width: 1280,
            height: 960,
            um_per_px: 0.25,
            per_slide: 8,
            aggregation: Aggregation::Mean,
            cameras: 0,
        }
    }

    const PATCH: DecisionThresholds =
        DecisionThresholds { positive_class: 1, threshold: 0.17, uncertain_band: 0.1, rule: ThresholdRule::Youden };

    #[test]
    fn separated_frames_put_the_threshold_in_the_middle_of_the_gap_with_a_band_that_fits() {
        // The demo's case: nevus frames up to 0.43, melanoma frames near 1. Youden alone picks
        // the lowest melanoma score (0.98), leaving no room for a band above it.
        let frames =
            [frame(false, 0.03), frame(false, 0.38), frame(false, 0.43), frame(true, 0.98), frame(true, 0.999)];
        let (d, c) = choose_frame_threshold(&frames, PATCH, 0.1, &plan()).unwrap();
        assert!((d.threshold - (0.98 + 0.43) / 2.0).abs() < 1e-12, "{}", d.threshold);
        assert_eq!(d.uncertain_band, 0.1);
        assert!(d.threshold + d.uncertain_band <= 0.98 && d.threshold - d.uncertain_band > 0.43);
        assert_eq!((c.frames, c.positive_frames, c.sensitivity, c.specificity, c.auc), (5, 2, 1.0, 1.0, 1.0));
        assert_eq!(c.patch_decision, PATCH);
    }

    #[test]
    fn the_band_is_narrowed_so_that_both_verdicts_stay_reachable() {
        let frames = [frame(false, 0.90), frame(true, 0.99), frame(true, 0.995)];
        let (d, _) = choose_frame_threshold(&frames, PATCH, 0.3, &plan()).unwrap();
        assert!(d.threshold + d.uncertain_band < 1.0, "{d:?}");
        assert!(d.threshold - d.uncertain_band > 0.0, "{d:?}");
    }

    #[test]
    fn frames_of_one_class_cannot_choose() {
        let e = choose_frame_threshold(&[frame(false, 0.1), frame(false, 0.2)], PATCH, 0.1, &plan()).unwrap_err();
        assert!(e.to_string().contains("0 melanoma and 2 other frames"), "{e}");
    }

    #[test]
    fn windows_are_spread_through_the_slide_rows() {
        let rows: Vec<u32> = (0..100).collect();
        assert_eq!(spread(&rows, 4), [12, 37, 62, 87]);
        assert_eq!(spread(&rows[..3], 8), [0, 1, 2]);
    }
}
