//! Model bundles: an exported ONNX model with the metadata the edge needs (classes, µm/px,
//! normalisation, the validation-chosen operating point, quantisation, figures) and reference
//! fields whose outputs the edge must reproduce before it screens.

use crate::model::Arch;
use crate::train::evaluate::Level;
use melanoscope_engine::{Backend, Engine, EngineError, max_abs_diff, pooled};
use melanoscope_shared::formats::{
    Architecture, BundleForm, DecisionThresholds, FormatError, FrameChoice, ModelBundleMeta, ModelFile, NamedMetric,
    Quantization, ReferenceField, sha256,
};
use melanoscope_shared::image::{FieldRect, Normalization, RgbImage, TensorLayout, field_to_tensor};
use melanoscope_shared::metrics::{ChosenThreshold, ThresholdRule};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{path}: cannot read it")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: not JSON")]
    Json { path: String, source: serde_json::Error },
    #[error("{path}: {detail}")]
    Report { path: String, detail: String },
    #[error("reference field {index}")]
    Reference { index: usize, source: melanoscope_shared::image::ImageError },
}

/// What the bundle says about the model besides its bytes.
#[derive(Debug, Clone)]
pub struct BundleSpec {
    pub arch: Arch,
    pub task: String,
    pub classes: Vec<String>,
    pub side: u32,
    pub um_per_px: f64,
    pub normalization: Normalization,
    pub decision: DecisionThresholds,
    /// How `decision` was chosen on validation frames, when it was.
    pub frame_choice: Option<FrameChoice>,
    /// The training distribution of the pooled features, for the unfamiliar-tissue gate.
    pub familiarity: Option<melanoscope_shared::formats::Familiarity>,
    pub validation: Vec<NamedMetric>,
    pub quantization: Quantization,
}

pub fn architecture(arch: Arch) -> Architecture {
    match arch {
        Arch::ResNet18 => Architecture::ResNet18,
        Arch::ResNet50 => Architecture::ResNet50,
        Arch::Vgg19 => Architecture::Vgg19,
    }
}

/// The operating point and figures from an `evaluate` report (`report.json`): the threshold
/// its `level` (patch, slide or patient) chose on the validation patients, and the test figures.
pub fn decision_from_report(
    path: &Path,
    level: Level,
    positive_class: u16,
    uncertain_band: f64,
) -> Result<(DecisionThresholds, Vec<NamedMetric>), BundleError> {
    let p = || path.display().to_string();
    let err = |detail: String| BundleError::Report { path: p(), detail };
    let text = melanoscope_shared::bounded::read_bounded_text(path, 64 << 20)
        .map_err(|e| BundleError::Read { path: p(), source: e.into_io() })?;
    let report: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| BundleError::Json { path: p(), source })?;
    let levels =
        report["levels"].as_array().ok_or_else(|| err("no `levels` array; expected an evaluate report".into()))?;
    let chosen = levels
        .iter()
        .find(|l| l["level"].as_str() == Some(level.name()))
        .ok_or_else(|| err(format!("no level {:?} in the report's levels", level.name())))?;
    let t: ChosenThreshold = serde_json::from_value(chosen["threshold"].clone())
        .map_err(|source| BundleError::Json { path: format!("{}: levels[{level}].threshold", p()), source })?;
    let mut metrics = Vec::new();
    for l in levels {
        let name = l["level"].as_str().unwrap_or("?");
        for figure in ["auc", "sensitivity", "specificity", "f1"] {
            if let Some(v) = l[figure]["estimate"].as_f64().filter(|v| v.is_finite()) {
                metrics.push(NamedMetric { name: format!("test_{name}_{figure}"), value: v });
            }
        }
    }
    Ok((DecisionThresholds { positive_class, threshold: t.threshold, uncertain_band, rule: t.rule }, metrics))
}

/// The decision when no report is given: probability 0.5, Youden's rule named for what a
/// balanced two-class model's default amounts to.
pub fn default_decision(positive_class: u16, uncertain_band: f64) -> DecisionThresholds {
    DecisionThresholds { positive_class, threshold: 0.5, uncertain_band, rule: ThresholdRule::Youden }
}

/// The outputs of `onnx` (for `side` px fields) on `references`, computed by the edge's engine (tract); each field's
/// tolerance is `relative` times its largest output (at least 1), widened to 1.5 times the
/// largest difference any backend of `also_on` shows on that field, so that every runtime the
/// edge may use passes the self-test (INT8 requantisation rounds differently in onnxruntime
/// than in tract: about 0.2 in a logit, measured on the demo model).
pub fn reference_outputs(
    onnx: &[u8],
    side: u32,
    normalization: &Normalization,
    references: &[RgbImage],
    relative: f32,
    also_on: &[Backend],
) -> Result<Vec<ReferenceField>, BundleError> {
    let side = side as usize;
    let engine = Engine::from_onnx(onnx, 1, side)?;
    let others = also_on.iter().map(|b| Engine::open(onnx, 1, side, b, 1)).collect::<Result<Vec<_>, EngineError>>()?;
    let per = 3 * side * side;
    let mut refs = Vec::new();
    for (index, img) in references.iter().enumerate() {
        let mut x = vec![0f32; per];
        field_to_tensor(img, FieldRect::square(0, 0, side as u32), normalization, TensorLayout::Nchw, &mut x)
            .map_err(|source| BundleError::Reference { index, source })?;
        let out = engine.run(&x)?;
        let feature_means = pooled(&out.features, out.feature_shape[0]);
        let largest = out.logits.iter().chain(&feature_means).fold(1f32, |m, v| m.max(v.abs()));
        let mut tolerance = relative * largest;
        for other in &others {
            let o = other.run(&x)?;
            let diff = max_abs_diff(&o.logits, &out.logits)
                .max(max_abs_diff(&pooled(&o.features, o.feature_shape[0]), &feature_means));
            tolerance = tolerance.max(1.5 * diff);
        }
        refs.push(ReferenceField { rgb: img.as_raw().to_vec(), logits: out.logits, feature_means, tolerance });
    }
    Ok(refs)
}

/// The bundle of `onnx` (the form `spec.quantization`) with its [`reference_outputs`] on
/// `references`, checked as the edge will check it.
pub fn make_bundle(
    onnx: Vec<u8>,
    spec: &BundleSpec,
    references: &[RgbImage],
    relative: f32,
    also_on: &[Backend],
) -> Result<ModelFile, BundleError> {
    let refs = reference_outputs(&onnx, spec.side, &spec.normalization, references, relative, also_on)?;
    let meta = ModelBundleMeta {
        architecture: architecture(spec.arch),
        task: spec.task.clone(),
        classes: spec.classes.clone(),
        input_size: spec.side,
        um_per_px: spec.um_per_px,
        mean: spec.normalization.mean,
        std: spec.normalization.std,
        decision: spec.decision,
        quantization: spec.quantization.clone(),
        validation: spec.validation.clone(),
        onnx_sha256: sha256(&onnx),
        created_unix_s: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        trainer_version: env!("CARGO_PKG_VERSION").into(),
        frame_choice: spec.frame_choice.clone(),
        familiarity: spec.familiarity.clone(),
        form_familiarity: Vec::new(),
        stain: None,
    };
    let file = ModelFile { meta, onnx, references: refs, forms: Vec::new(), signature: None };
    file.encode()?; // every check the edge will make, now
    Ok(file)
}

/// Adds `onnx`, another form of `file`'s model (`quantization`, with its own figures
/// `validation`), with its reference outputs on the bundle's reference fields.
pub fn add_form(
    file: &mut ModelFile,
    onnx: Vec<u8>,
    quantization: Quantization,
    validation: Vec<NamedMetric>,
    relative: f32,
    also_on: &[Backend],
) -> Result<(), BundleError> {
    let side = file.meta.input_size;
    let images = file
        .references
        .iter()
        .enumerate()
        .map(|(index, r)| {
            RgbImage::from_raw(side, side, r.rgb.clone()).map_err(|source| BundleError::Reference { index, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let normalization = Normalization { mean: file.meta.mean, std: file.meta.std };
    let references = reference_outputs(&onnx, side, &normalization, &images, relative, also_on)?;
    file.forms.push(BundleForm { quantization, onnx, references, validation });
    file.encode()?;
    Ok(())
}
