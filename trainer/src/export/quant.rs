//! Post-training static INT8 quantisation: calibration of every quantised tensor's range on
//! validation fields, run in tract on the probe form of the very graph that gets quantised;
//! and the report of how the INT8 (or f16) model agrees with the f32 one.
//!
//! Calibration method: per field, the 0.01th and 99.99th percentiles of each tensor, averaged
//! over the calibration fields. The plain min/max lets a handful of extreme activations (one in
//! a million values) set the step of all 256 levels; entropy (KL) calibration costs a histogram
//! search per tensor for little gain on ReLU networks. The percentile keeps all but one value
//! in ten thousand inside the range, which is what the agreement figures are measured with.

use super::fields::FieldSet;
use super::onnx::{ExportError, GraphForm, Int8Plan, export_form};
use crate::model::Arch;
use melanoscope_engine::{Engine, EngineError, Outputs, names};
use melanoscope_shared::cam::{FeatureMap, class_activation_map};
use melanoscope_shared::scores::softmax;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::nn::VarStore;

#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Data(String),
    #[error("the CAM of field {field}")]
    Cam { field: usize, source: melanoscope_shared::cam::CamError },
}

/// The calibrated plan and how it was made.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub plan: Int8Plan,
    pub method: String,
    pub fields: usize,
}

/// The value at fraction `q` (0..1) of `v` (reordered in place).
fn quantile(v: &mut [f32], q: f64) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    *v.select_nth_unstable_by(k, f32::total_cmp).1
}

/// Calibrates the INT8 form of `arch` on `fields` with the given upper `percentile` (e.g. 99.99).
pub fn calibrate(
    vs: &VarStore,
    arch: Arch,
    fields: &FieldSet,
    percentile: f64,
    per_channel: bool,
) -> Result<Calibration, QuantError> {
    let (probe, names) = export_form(vs, arch, fields.side as u32, &GraphForm::Probe)?;
    let engine = Engine::from_onnx(&probe, 1, fields.side)?;
    let q = percentile / 100.0;
    let mut sums: HashMap<String, (f64, f64)> = HashMap::new();
    for i in 0..fields.len() {
        let out = engine.run(fields.tensor_of(i, 1))?;
        let Outputs { features, extra, .. } = out;
        for (name, mut values) in extra.into_iter().chain(std::iter::once((names::FEATURES.to_string(), features))) {
            let lo = quantile(&mut values, 1.0 - q);
            let hi = quantile(&mut values, q);
            let e = sums.entry(name).or_insert((0.0, 0.0));
            e.0 += f64::from(lo);
            e.1 += f64::from(hi);
        }
    }
    let n = fields.len().max(1) as f64;
    let ranges: HashMap<String, (f32, f32)> =
        sums.into_iter().map(|(k, (lo, hi))| (k, ((lo / n) as f32, (hi / n) as f32))).collect();
    if let Some(missing) = names.iter().find(|p| !ranges.contains_key(*p)) {
        return Err(QuantError::Data(format!("calibration produced no range for {missing:?}")));
    }
    Ok(Calibration {
        plan: Int8Plan { ranges, per_channel },
        method: format!("percentile-{percentile}"),
        fields: fields.len(),
    })
}

/// How a candidate export (INT8 or f16) agrees with the f32 one on the same fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Agreement {
    pub fields: usize,
    /// Share of fields whose verdict (positive-class probability at or above the threshold) is the same.
    pub verdict_agreement: f64,
    pub threshold: f64,
    pub auc_reference: Option<f64>,
    pub auc_candidate: Option<f64>,
    pub auc_difference: Option<f64>,
    pub max_probability_difference: f64,
    /// Pearson correlation of the two CAMs of each field (class `positive`), mean and minimum.
    pub cam_correlation_mean: f64,
    pub cam_correlation_min: f64,
}

/// Pearson correlation of two equally long maps.
pub fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) = (a.iter().map(|v| f64::from(*v)).sum::<f64>() / n, b.iter().map(|v| f64::from(*v)).sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(*x) - ma, f64::from(*y) - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    // Two flat maps agree perfectly; one flat and one not, not at all.
    if saa == 0.0 && sbb == 0.0 {
        1.0
    } else if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// The CAM of field `i` for `class`: channel weights from the head (a pooled linear head,
/// classes × channels) or, for VGG19's head, from the export's `grad_cam_weights` output (the
/// same layout per field: each class's spatially averaged gradient over `features`).
fn cam_of(out: &Outputs, i: usize, classes: usize, class: usize, head: Option<&[f32]>) -> Result<Vec<f32>, QuantError> {
    let [c, h, w] = out.feature_shape;
    let per = c * h * w;
    let cam = |source| QuantError::Cam { field: i, source };
    let map = FeatureMap::new(&out.features[i * per..(i + 1) * per], c, h, w).map_err(cam)?;
    let weights = match head {
        Some(weights) => weights,
        None => {
            let alphas = out
                .extra(names::GRAD_CAM_WEIGHTS)
                .ok_or_else(|| QuantError::Data(format!("no {} output for Grad-CAM", names::GRAD_CAM_WEIGHTS)))?;
            alphas.get(i * classes * c..(i + 1) * classes * c).ok_or_else(|| {
                QuantError::Data(format!("{} holds no {classes}×{c} block for field {i}", names::GRAD_CAM_WEIGHTS))
            })?
        }
    };
    class_activation_map(&map, weights, class).map_err(cam)
}

/// Runs `reference` and `candidate` (engines at batch 1) on `fields` and compares them.
pub fn agreement(
    reference: &Engine,
    candidate: &Engine,
    fields: &FieldSet,
    classes: usize,
    positive: usize,
    threshold: f64,
    head: Option<&[f32]>,
) -> Result<Agreement, QuantError> {
    let (mut same, mut max_diff) = (0usize, 0f64);
    let (mut p_ref, mut p_cand, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    let mut cams = Vec::new();
    for i in 0..fields.len() {
        let x = fields.tensor_of(i, 1);
        let (a, b) = (reference.run(x)?, candidate.run(x)?);
        let (pa, pb) = (softmax(&a.logits)[positive], softmax(&b.logits)[positive]);
        same += usize::from((pa >= threshold) == (pb >= threshold));
        max_diff = max_diff.max((pa - pb).abs());
        p_ref.push(pa);
        p_cand.push(pb);
        labels.push(fields.classes[i] == positive);
        cams.push(pearson(&cam_of(&a, 0, classes, positive, head)?, &cam_of(&b, 0, classes, positive, head)?));
    }
    let auc = |p: &[f64]| melanoscope_shared::metrics::auc(&labels, p).ok();
    let (ar, ac) = (auc(&p_ref), auc(&p_cand));
    let n = fields.len().max(1) as f64;
    Ok(Agreement {
        fields: fields.len(),
        verdict_agreement: same as f64 / n,
        threshold,
        auc_reference: ar,
        auc_candidate: ac,
        auc_difference: ar.zip(ac).map(|(a, c)| c - a),
        max_probability_difference: max_diff,
        cam_correlation_mean: cams.iter().sum::<f64>() / n,
        cam_correlation_min: cams.iter().copied().fold(1.0, f64::min),
    })
}
