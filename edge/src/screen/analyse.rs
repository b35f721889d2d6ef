//! One frame, from camera pixels to field probabilities and CAMs: flat-field and white
//! balance, the eyepiece mask, exposure, the shared field extraction at the bundle's µm/px
//! (40% background rule), focus over the tissue fields, batched inference and per-field CAMs.

use crate::calibration::Correction;
use crate::config::{ObjectiveCalibration, ScreeningConfig};
use crate::engine::{LoadedBundle, linear_head_weights};
use crate::gates::{GateLimits, GateReadings, exposure, mask_outside_circle, sharpness};
use melanoscope_shared::cam::{FeatureMap, class_activation_map};
use melanoscope_shared::formats::Verdict;
use melanoscope_shared::image::{FieldRect, PixelSpacing, RgbImage};
use melanoscope_shared::pipeline::FieldExtractor;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum AnalyseError {
    #[error("preprocessing: {0}")]
    Preprocess(String),
    #[error("inference: {0}")]
    Inference(String),
    #[error("CAM: {0}")]
    Cam(String),
    #[error("bundle: {0}")]
    Bundle(String),
}

/// One screened field of the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldResult {
    pub col: u16,
    pub row: u16,
    /// Where the field lies in the frame's pixels.
    pub frame_rect: (f64, f64, f64),
    pub probabilities: Vec<f32>,
    /// The positive class's CAM (feature-map resolution, row-major), scaled by the field's
    /// positive probability so that fields the model calls benign stay cold on the overlay.
    pub heat: Vec<f32>,
    pub heat_size: (usize, usize),
}

/// Milliseconds spent in each stage of one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StageTimes {
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub cam_ms: f64,
}

/// What one frame showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub readings: GateReadings,
    /// The gate that stopped this frame, if any (no inference then).
    pub gate: Option<Verdict>,
    pub fields: Vec<FieldResult>,
    /// The frame's positive-class probability (aggregated over fields), when screened.
    pub probability: Option<f64>,
    pub times: StageTimes,
}

/// Everything one objective and bundle need, reused frame after frame.
#[derive(Debug)]
pub struct Analyzer {
    bundle: LoadedBundle,
    head: Option<Vec<f32>>,
    calibration: ObjectiveCalibration,
    frame_um_per_px: f64,
    correction: Correction,
    extractor: FieldExtractor,
    working: RgbImage,
    masked: RgbImage,
    input: Vec<f32>,
    limits: GateLimits,
    fov_mask: bool,
    top_k: Option<usize>,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl Analyzer {
    pub fn new(
        bundle: LoadedBundle,
        calibration: ObjectiveCalibration,
        frame_um_per_px: f64,
        screening: &ScreeningConfig,
    ) -> Result<Self, AnalyseError> {
        let meta = &bundle.file.meta;
        if meta.classes.len() != 2 {
            return Err(AnalyseError::Bundle(format!(
                "task {:?} has {} classes; screening needs a two-class melanoma-vs-nevus bundle",
                meta.task,
                meta.classes.len()
            )));
        }
        let head = linear_head_weights(&bundle.file.onnx);
        let extractor =
            FieldExtractor::new(bundle.extract_config()).map_err(|e| AnalyseError::Preprocess(e.to_string()))?;
        PixelSpacing::isotropic(frame_um_per_px).map_err(|e| AnalyseError::Preprocess(e.to_string()))?;
        let limits = GateLimits {
            min_mean_luma: screening.min_mean_luma,
            max_mean_luma: screening.max_mean_luma,
            max_clipped_fraction: screening.max_clipped_fraction,
            min_tissue_fields: screening.min_tissue_fields,
            min_sharpness: screening.min_sharpness,
        };
        Ok(Self {
            bundle,
            head,
            calibration,
            frame_um_per_px,
            correction: Correction::default(),
            extractor,
            working: RgbImage::filled(1, 1, [0; 3]).map_err(|e| AnalyseError::Preprocess(e.to_string()))?,
            masked: RgbImage::filled(1, 1, [0; 3]).map_err(|e| AnalyseError::Preprocess(e.to_string()))?,
            input: Vec::new(),
            limits,
            fov_mask: screening.fov_mask,
            top_k: (screening.aggregation == "top-k").then_some(screening.top_k),
        })
    }

    pub fn bundle(&self) -> &LoadedBundle {
        &self.bundle
    }

    /// The frame after flat-field and white balance (what the overlay is drawn on).
    pub fn corrected(&self) -> &RgbImage {
        &self.working
    }

    pub fn analyse(&mut self, frame: &RgbImage) -> Result<Analysis, AnalyseError> {
        let t0 = Instant::now();
        // Reuse the working frame's buffer when the size is unchanged (every frame of a camera).
        if self.working.width() == frame.width() && self.working.height() == frame.height() {
            self.working.as_raw_mut().copy_from_slice(frame.as_raw());
        } else {
            self.working = frame.clone();
        }
        self.correction.apply(&self.calibration, &mut self.working);
        let (mean_luma, clipped_fraction) = exposure(&self.working);
        let source = if self.fov_mask {
            // The mask paints glass over a copy; the overlay keeps the whole corrected frame.
            if (self.masked.width(), self.masked.height()) == (self.working.width(), self.working.height()) {
                self.masked.as_raw_mut().copy_from_slice(self.working.as_raw());
            } else {
                self.masked = self.working.clone();
            }
            mask_outside_circle(&mut self.masked);
            &self.masked
        } else {
            &self.working
        };
        let spacing =
            PixelSpacing::isotropic(self.frame_um_per_px).map_err(|e| AnalyseError::Preprocess(e.to_string()))?;
        let out = self.extractor.process(source, spacing).map_err(|e| AnalyseError::Preprocess(e.to_string()))?;
        let kept: Vec<FieldRect> = out.kept().map(|f| f.rect).collect();
        let readings = GateReadings {
            mean_luma,
            clipped_fraction,
            tissue_fields: kept.len(),
            sharpness: sharpness(out.resampled, kept.iter().copied()),
        };
        let mut times = StageTimes { preprocess_ms: ms(t0), ..StageTimes::default() };
        if let Some(gate) = self.limits.check(&readings) {
            return Ok(Analysis { readings, gate: Some(gate), fields: Vec::new(), probability: None, times });
        }
        let scale = out.effective.x / self.frame_um_per_px;
        let side = self.bundle.engine.side;
        let per = 3 * side * side;
        let batch = self.bundle.engine.batch;
        let classes = self.bundle.file.meta.classes.len();
        let positive = usize::from(self.bundle.file.meta.decision.positive_class);
        let mut fields = Vec::with_capacity(kept.len());
        for (b, rects) in kept.chunks(batch).enumerate() {
            let t = Instant::now();
            self.input.resize(batch * per, 0.0);
            let src = &out.tensors[b * batch * per..(b * batch + rects.len()) * per];
            self.input[..src.len()].copy_from_slice(src);
            self.input[src.len()..].fill(0.0);
            let outputs = self.bundle.engine.run(&self.input).map_err(|e| AnalyseError::Inference(e.to_string()))?;
            times.inference_ms += ms(t);
            let t = Instant::now();
            let [c, h, w] = outputs.feature_shape;
            let grad_weights = outputs.extra.iter().find(|(n, _)| n == "grad_cam_weights").map(|(_, v)| v);
            for (i, rect) in rects.iter().enumerate() {
                let logits = outputs
                    .logits
                    .get(i * classes..(i + 1) * classes)
                    .ok_or_else(|| AnalyseError::Inference(format!("no logits for field {i} of the batch")))?;
                let probabilities = softmax(logits);
                let features = FeatureMap::new(&outputs.features[i * c * h * w..(i + 1) * c * h * w], c, h, w)
                    .map_err(|e| AnalyseError::Cam(e.to_string()))?;
                let weights = match (&self.head, grad_weights) {
                    (Some(head), _) => head.as_slice(),
                    (None, Some(g)) => g
                        .get(i * classes * c..(i + 1) * classes * c)
                        .ok_or_else(|| AnalyseError::Cam(format!("grad_cam_weights too short for field {i}")))?,
                    (None, None) => {
                        return Err(AnalyseError::Cam(
                            "the bundle has neither a linear head (fc.weight) nor a grad_cam_weights output".into(),
                        ));
                    }
                };
                let mut heat =
                    class_activation_map(&features, weights, positive).map_err(|e| AnalyseError::Cam(e.to_string()))?;
                let p = probabilities[positive];
                heat.iter_mut().for_each(|v| *v *= p);
                let (col, row) =
                    ((rect.x - out.grid.origin_x) / out.grid.size, (rect.y - out.grid.origin_y) / out.grid.size);
                fields.push(FieldResult {
                    col: col as u16,
                    row: row as u16,
                    frame_rect: (f64::from(rect.x) * scale, f64::from(rect.y) * scale, f64::from(rect.size) * scale),
                    probabilities,
                    heat,
                    heat_size: (h, w),
                });
            }
            times.cam_ms += ms(t);
        }
        let mut p: Vec<f32> = fields.iter().map(|f| f.probabilities[positive]).collect();
        let probability = match self.top_k {
            Some(k) => {
                p.sort_by(|a, b| b.total_cmp(a));
                let k = k.min(p.len()).max(1);
                p[..k].iter().map(|v| f64::from(*v)).sum::<f64>() / k as f64
            }
            None => p.iter().map(|v| f64::from(*v)).sum::<f64>() / p.len().max(1) as f64,
        };
        Ok(Analysis { readings, gate: None, fields, probability: Some(probability), times })
    }
}

/// Softmax with the maximum subtracted (no overflow for large logits).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| if sum > 0.0 && sum.is_finite() { e / sum } else { 1.0 / logits.len() as f32 }).collect()
}
