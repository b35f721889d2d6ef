//! One frame, from camera pixels to field probabilities and CAMs: flat-field and white
//! balance, the eyepiece mask, exposure, the shared field extraction at the bundle's µm/px
//! (40% background rule), focus over the tissue fields, batched inference and per-field CAMs.

use crate::analysis::{Analysis, FieldResult, StageTimes, elapsed_ms};
use crate::calibration::Correction;
use crate::config::{ObjectiveCalibration, ScreeningConfig};
use crate::gates::{Gate, GateLimits, GateReadings, exposure, mask_outside_circle, sharpness};
use melanoscope_engine::{EngineError, LoadedBundle, Outputs, linear_head_weights, names, pooled_into};
use melanoscope_shared::cam::{CamError, FeatureMap, class_activation_map};
use melanoscope_shared::formats::FamiliarityScorer;
use melanoscope_shared::image::{FieldRect, ImageError, PixelSpacing, RgbImage};
use melanoscope_shared::metrics::Aggregation;
use melanoscope_shared::pipeline::FieldExtractor;
use melanoscope_shared::scores::softmax;
use melanoscope_shared::stain::{StainLimits, StainMode, StainTarget, StainTracker, TrackerSettings, describe_vectors};
use std::time::Instant;

/// Why a frame could not be analysed; the library's own error is kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum AnalyseError {
    #[error("preprocessing the frame")]
    Preprocess(#[from] ImageError),
    #[error("inference")]
    Inference(#[from] EngineError),
    #[error("class activation map of field {field}")]
    Cam { field: usize, source: CamError },
    #[error("the model's outputs: {0}")]
    Outputs(String),
    #[error("the bundle cannot screen: {0}")]
    Bundle(String),
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
    outputs: Outputs,
    limits: GateLimits,
    fov_mask: bool,
    aggregation: Aggregation,
    /// The bundle's familiarity statistics, when it has them and the gate is on.
    familiarity: Option<FamiliarityScorer>,
    unfamiliar_share: f64,
    /// One field's pooled features (reused).
    pooled: Vec<f32>,
    /// The frame's stain against the bundle's, when the bundle has a Macenko target and the
    /// check is on.
    stain: Option<StainTracker>,
    stain_mode: StainMode,
    /// The kept fields of the frame being fitted (reused).
    stain_rects: Vec<FieldRect>,
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
        if head.is_none() && !bundle.engine.output_names().iter().any(|n| n == names::GRAD_CAM_WEIGHTS) {
            return Err(AnalyseError::Bundle(format!(
                "it has neither a linear head ({}) nor a {} output to draw CAMs from",
                names::HEAD_WEIGHT,
                names::GRAD_CAM_WEIGHTS
            )));
        }
        let familiarity = match (&meta.familiarity, screening.familiarity_gate) {
            (Some(stats), true) => Some(
                FamiliarityScorer::new(stats.clone(), meta.classes.len())
                    .map_err(|e| AnalyseError::Bundle(melanoscope_shared::errors::error_chain(&e)))?,
            ),
            (None, true) => {
                tracing::warn!(
                    "the bundle has no familiarity statistics (exported before them, or with \
                     --familiarity-fields 0): screening with the unfamiliar-tissue gate off"
                );
                None
            }
            (_, false) => None,
        };
        let stain = match (&meta.stain, screening.stain) {
            (_, StainMode::Off) => None,
            (Some(StainTarget::Macenko(target)), _) => Some(StainTracker::new(
                *target,
                TrackerSettings {
                    limits: StainLimits {
                        haematoxylin_deg: screening.stain_max_angle_haematoxylin as f32,
                        eosin_deg: screening.stain_max_angle_eosin as f32,
                    },
                    ..TrackerSettings::default()
                },
            )),
            (Some(StainTarget::Reinhard(_)), _) => {
                tracing::warn!(
                    "the bundle's stain target is Reinhard's (CIELAB statistics, no stain vectors to check a \
                     frame against): screening with the stain check and normalisation off; export with \
                     --stain-target macenko"
                );
                None
            }
            (None, _) => {
                tracing::warn!(
                    "the bundle has no stain target (exported before them, or with --stain-target none): \
                     screening with the stain check and normalisation off"
                );
                None
            }
        };
        let extractor = FieldExtractor::new(bundle.extract_config())?;
        PixelSpacing::isotropic(frame_um_per_px)?;
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
            working: RgbImage::filled(1, 1, [0; 3])?,
            masked: RgbImage::filled(1, 1, [0; 3])?,
            input: Vec::new(),
            outputs: Outputs::default(),
            limits,
            fov_mask: screening.fov_mask,
            aggregation: screening.aggregation,
            familiarity,
            unfamiliar_share: screening.unfamiliar_share,
            pooled: Vec::new(),
            stain,
            stain_mode: screening.stain,
            stain_rects: Vec::new(),
        })
    }

    pub fn bundle(&self) -> &LoadedBundle {
        &self.bundle
    }

    /// Whether fields are scored for familiarity (the bundle has statistics, the gate is on).
    pub fn familiarity_on(&self) -> bool {
        self.familiarity.is_some()
    }

    /// Whether frames are checked for their stain (the bundle has a Macenko target and
    /// `screening.stain` is not off), and normalised to it.
    pub fn stain_on(&self) -> Option<StainMode> {
        self.stain.as_ref().map(|_| self.stain_mode)
    }

    /// The stain part of the status line: how far the frame's stain lies from the model's, or
    /// why it could not be fitted and what was used instead (none with the check off, and none
    /// for an implausible stain: [`Self::gate_reason`] says that).
    pub fn stain_note(&self, a: &Analysis) -> Option<String> {
        let r = a.stain.as_ref()?;
        let normalising = self.stain_mode == StainMode::Normalise;
        Some(match (&r.deviation, &r.fallback) {
            _ if !r.plausible => return None,
            (Some(d), _) if normalising => format!("stain {}, normalised", d.describe()),
            (Some(d), _) => format!("stain {}", d.describe()),
            (None, Some(e)) if normalising => {
                format!("stain not fitted ({e}): normalised with the running estimate")
            }
            (None, Some(e)) => format!("stain not fitted ({e})"),
            (None, None) => return None,
        })
    }

    /// Why `a`'s gate stopped it, with the measure against its limit and what to do (none when
    /// no gate did).
    pub fn gate_reason(&self, a: &Analysis) -> Option<String> {
        if let (Some(Gate::UnfamiliarTissue), Some(r)) = (a.gate, &a.stain)
            && !r.plausible
        {
            let fitted = r.fitted.as_ref().map_or(String::new(), |f| format!(", fitted {}", describe_vectors(f)));
            let angles = r.deviation.as_ref().map_or("no fit".into(), |d| d.describe());
            let limits = self.stain.as_ref().map(|t| t.settings().limits).unwrap_or_default();
            return Some(format!(
                "stain unlike the model's H&E ({angles}; limits H {:.0}° E {:.0}°{fitted}): another stain (PAS, \
                 IHC, trichrome), pen ink or a colour cast?",
                limits.haematoxylin_deg, limits.eosin_deg
            ));
        }
        Some(match a.gate? {
            Gate::UnfamiliarTissue => format!(
                "{} of {} tissue fields unlike the model's training data (another organ, stain or scanner?)",
                a.unfamiliar_fields, a.readings.tissue_fields
            ),
            g => self.limits.reason(g, &a.readings),
        })
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
        let lit = exposure(&self.working);
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
        let spacing = PixelSpacing::isotropic(self.frame_um_per_px)?;
        let (tracker, rects, mode) = (&mut self.stain, &mut self.stain_rects, self.stain_mode);
        let mut stain = None;
        let mut stain_ms = 0.0;
        let out = self.extractor.process_with(source, spacing, |img, fields| {
            let Some(tracker) = tracker else { return };
            let t = Instant::now();
            rects.clear();
            rects.extend(fields.iter().filter(|f| f.kept).map(|f| f.rect));
            if rects.is_empty() {
                return;
            }
            let reading = tracker.observe(img, rects);
            // An implausible stain is gated below; mapping it would only hide it.
            if mode == StainMode::Normalise && reading.plausible {
                // Fails only for a degenerate pair of stains, which no fit lets through.
                let _ = tracker.normalise(img, rects);
            }
            stain = Some(reading);
            stain_ms = elapsed_ms(t);
        })?;
        let kept: Vec<FieldRect> = out.kept().map(|f| f.rect).collect();
        let readings = GateReadings {
            mean_luma: lit.mean_luma,
            clipped_fraction: lit.clipped_fraction,
            clipped_channels: lit.clipped_channels,
            grid_fields: (out.grid.cols * out.grid.rows) as usize,
            tissue_fields: kept.len(),
            sharpness: sharpness(out.resampled, kept.iter().copied()),
        };
        let mut times = StageTimes { preprocess_ms: elapsed_ms(t0), stain_ms, ..StageTimes::default() };
        if let Some(gate) = self.limits.check(&readings) {
            return Ok(Analysis {
                readings,
                gate: Some(gate),
                fields: Vec::new(),
                probability: None,
                unfamiliar_fields: 0,
                stain,
                times,
            });
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
            let src = &out.tensors[b * batch * per..(b * batch + rects.len()) * per];
            // A full batch goes straight from the extractor; only the last, short one is padded.
            let input = if rects.len() == batch {
                src
            } else {
                self.input.resize(batch * per, 0.0);
                self.input[..src.len()].copy_from_slice(src);
                self.input[src.len()..].fill(0.0);
                &self.input
            };
            self.bundle.engine.run_into(input, &mut self.outputs)?;
            let outputs = &self.outputs;
            times.inference_ms += elapsed_ms(t);
            let t = Instant::now();
            let [c, h, w] = outputs.feature_shape;
            let grad_weights = outputs.extra(names::GRAD_CAM_WEIGHTS);
            for (i, rect) in rects.iter().enumerate() {
                let field = b * batch + i;
                let logits = outputs
                    .logits
                    .get(i * classes..(i + 1) * classes)
                    .ok_or_else(|| AnalyseError::Outputs(format!("no logits for field {i} of the batch")))?;
                let probabilities: Vec<f32> = softmax(logits).into_iter().map(|p| p as f32).collect();
                let cam = |source| AnalyseError::Cam { field, source };
                let map = outputs.features.get(i * c * h * w..(i + 1) * c * h * w).ok_or_else(|| {
                    AnalyseError::Outputs(format!("no {} for field {i} of the batch", names::FEATURES))
                })?;
                let features = FeatureMap::new(map, c, h, w).map_err(cam)?;
                let weights = match (&self.head, grad_weights) {
                    (Some(head), _) => head.as_slice(),
                    (None, Some(g)) => g.get(i * classes * c..(i + 1) * classes * c).ok_or_else(|| {
                        AnalyseError::Outputs(format!("{} too short for field {i}", names::GRAD_CAM_WEIGHTS))
                    })?,
                    // Refused at construction: a bundle without either cannot get here.
                    (None, None) => return Err(AnalyseError::Outputs(format!("no {}", names::GRAD_CAM_WEIGHTS))),
                };
                let mut heat = class_activation_map(&features, weights, positive).map_err(cam)?;
                let p = probabilities[positive];
                heat.iter_mut().for_each(|v| *v *= p);
                let t = Instant::now();
                let familiarity = match &mut self.familiarity {
                    Some(scorer) => {
                        pooled_into(map, c, &mut self.pooled);
                        // A non-finite feature scores as unfamiliar as can be.
                        Some(scorer.score(&self.pooled).unwrap_or(f32::MAX))
                    }
                    None => None,
                };
                let unfamiliar = match (&self.familiarity, familiarity) {
                    (Some(scorer), Some(score)) => scorer.unfamiliar(score),
                    _ => false,
                };
                times.familiarity_ms += elapsed_ms(t);
                let (col, row) =
                    ((rect.x - out.grid.origin_x) / out.grid.size, (rect.y - out.grid.origin_y) / out.grid.size);
                fields.push(FieldResult {
                    col: col as u16,
                    row: row as u16,
                    frame_rect: (f64::from(rect.x) * scale, f64::from(rect.y) * scale, f64::from(rect.size) * scale),
                    probabilities,
                    heat,
                    heat_size: (h, w),
                    familiarity,
                    unfamiliar,
                });
            }
            times.cam_ms += elapsed_ms(t);
        }
        let unfamiliar_fields = fields.iter().filter(|f| f.unfamiliar).count();
        // Mostly unfamiliar tissue, or a stain that is not H&E: no verdict (its fields stay, for
        // the overlay to mark, and their familiarity for the log). The stain is judged after
        // inference like familiarity, so that the log keeps both measures of such a frame.
        let stain_unlike = stain.as_ref().is_some_and(|r| !r.plausible);
        if stain_unlike
            || (unfamiliar_fields > 0 && unfamiliar_fields as f64 >= self.unfamiliar_share * fields.len() as f64)
        {
            let gate = Some(Gate::UnfamiliarTissue);
            return Ok(Analysis { readings, gate, fields, probability: None, unfamiliar_fields, stain, times });
        }
        // The familiar fields decide the frame (all of them when none is unfamiliar).
        let mut p: Vec<f64> =
            fields.iter().filter(|f| !f.unfamiliar).map(|f| f64::from(f.probabilities[positive])).collect();
        let probability = self.aggregation.apply(&mut p);
        Ok(Analysis { readings, gate: None, fields, probability: Some(probability), unfamiliar_fields, stain, times })
    }
}
