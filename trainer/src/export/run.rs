//! One export, start to end: a checkpoint → the ONNX file in the asked form (f32, f16, or INT8
//! calibrated on validation fields), optionally a reference batch, an agreement report against
//! f32 on test fields, and a model bundle for the edge (metadata, the evaluation's operating
//! point, reference fields checked on every runtime the edge may use, a signature). Other forms
//! (`--also-form`) go into the same bundle beside the f32 graph, each with its own ONNX file,
//! reference outputs and agreement figures, for the device to choose from (`tune`).

use super::bundle::{BundleError, BundleSpec, add_form, decision_from_report, default_decision, make_bundle};
use super::familiarity::{
    FamiliarityError, FamiliarityFit, FamiliarityPlan, fit, pooled_features, set_threshold, with_cameras,
};
use super::fields::{FieldSet, FieldsError, read_fields};
use super::frames::{FrameModel, FramePlan, FrameThresholdError, choose_frame_threshold, validation_frames};
use super::onnx::{ExportError, GraphForm, export_form, write_reference};
use super::quant::{Agreement, QuantError, agreement, calibrate};
use crate::model::{Arch, WeightsError, load_network};
use crate::train::evaluate::Level;
use crate::train::task::{Task, task_samples};
use melanoscope_engine::{Backend, Engine, EngineError, names};
use melanoscope_shared::formats::{
    Form, FormFamiliarity, FormatError, KeyFileError, ModelFile, NamedMetric, Quantization, read_key_file,
};
use melanoscope_shared::image::{ImageError, Normalization, RgbImage};
use melanoscope_shared::stain::{StainMethod, StainTarget};
use melanoscope_slides::manifest::{ManifestError, ManifestRow, read_manifest};
use melanoscope_slides::slide::Magnification;
use melanoscope_slides::split::{Partition, PatientSplit, SplitError};
use std::path::{Path, PathBuf};

/// How INT8 weights are scaled (`--int8-weights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Int8Weights {
    /// Symmetric, one scale a layer.
    PerTensor,
    /// One scale per output channel, closer to f32.
    PerChannel,
}

impl Int8Weights {
    pub fn name(self) -> &'static str {
        match self {
            Int8Weights::PerTensor => "per-tensor",
            Int8Weights::PerChannel => "per-channel",
        }
    }
}

/// The patches the export reads: validation fields calibrate INT8 and give the reference
/// fields, test fields measure agreement with f32.
#[derive(Debug, Clone)]
pub struct ExportData {
    pub manifest: PathBuf,
    pub split: PathBuf,
    pub calibration_fields: usize,
    pub agreement_fields: usize,
}

/// The bundle for the edge, beside the ONNX file.
#[derive(Debug, Clone)]
pub struct BundlePlan {
    pub path: PathBuf,
    /// Runtimes besides tract whose results the reference tolerances must cover.
    pub also_on: Vec<Backend>,
    /// An ed25519 secret key file (64 hex digits, from `keygen`).
    pub sign_key: Option<PathBuf>,
}

/// Everything one export needs.
#[derive(Debug, Clone)]
pub struct ExportPlan {
    pub checkpoint: PathBuf,
    pub arch: Arch,
    pub task: Task,
    /// Side of the square input in pixels (the patch size).
    pub size: u32,
    pub magnification: Magnification,
    pub precision: Form,
    /// Other forms for the bundle (needs `bundle`, and `precision` f32: the forms are measured
    /// against it); each is also written as `<out stem>.<form>.onnx`.
    pub also_forms: Vec<Form>,
    pub int8_weights: Int8Weights,
    /// Upper percentile of each tensor's values that its INT8 range keeps.
    pub percentile: f64,
    pub data: Option<ExportData>,
    /// The `evaluate` report.json whose validation-chosen threshold (at `level`) the agreement
    /// report and the edge apply, and whose test figures the bundle carries; without it, 0.5.
    pub report: Option<PathBuf>,
    pub level: Level,
    /// Half-width of the UNCERTAIN band around the threshold.
    pub uncertain_band: f64,
    /// Images in a reference batch (`<out>.{input,logits,features}.npy`); 0 for none.
    pub reference: i64,
    pub out: PathBuf,
    pub bundle: Option<BundlePlan>,
    /// The camera whose frames the bundle's threshold is chosen on (validation frames; needs
    /// `data` and `bundle`); without it the patch threshold is the bundle's.
    pub frames: Option<FramePlan>,
    /// The familiarity statistics for the unfamiliar-tissue gate (needs `data` and `bundle`);
    /// without it the bundle has none and the edge screens with the gate off.
    pub familiarity: Option<FamiliarityPlan>,
    /// The stain target the bundle carries, fitted on this many training fields (needs `data`
    /// and `bundle`); without it the edge screens with stain normalisation and check off.
    pub stain: Option<StainPlan>,
}

/// `--stain-target` and `--stain-fields`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StainPlan {
    pub method: StainMethod,
    pub fields: usize,
}

/// The stain target put in the bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct StainWritten {
    pub target: StainTarget,
    /// Training fields it was fitted on.
    pub fields: usize,
}

/// How INT8 calibration went.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationSummary {
    pub tensors: usize,
    pub fields: usize,
    pub method: String,
}

/// The bundle written.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleWritten {
    pub path: PathBuf,
    pub bytes: usize,
    pub references: usize,
    pub signed: bool,
}

/// One form written as ONNX, and how it compares with f32.
#[derive(Debug, Clone)]
pub struct FormWritten {
    pub precision: Form,
    pub onnx: PathBuf,
    pub onnx_bytes: usize,
    pub calibration: Option<CalibrationSummary>,
    /// Agreement with f32 on the test fields (f16 and INT8 with data), also in
    /// `<onnx>.agreement.json`.
    pub agreement: Option<Agreement>,
}

/// What an export wrote and measured.
#[derive(Debug, Clone)]
pub struct ExportOutcome {
    /// The `--form` form (at `<out>`) first, then the `--also-form` forms beside it.
    pub forms: Vec<FormWritten>,
    pub bundle: Option<BundleWritten>,
    /// The frame threshold, when chosen, and where its validation frames were written.
    pub frame_threshold: Option<FrameThresholdWritten>,
    /// Why the patch threshold stayed the bundle's when frames were asked for.
    pub frame_threshold_skipped: Option<String>,
    /// The familiarity statistics put in the bundle, when asked for.
    pub familiarity: Option<FamiliarityWritten>,
    /// The stain target put in the bundle, when asked for.
    pub stain: Option<StainWritten>,
}

/// The familiarity statistics the bundle holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FamiliarityWritten {
    pub channels: u32,
    pub training_fields: u32,
    pub validation_fields: u32,
    pub threshold: f32,
    pub pass_share: f32,
    pub fit: FamiliarityFit,
}

/// The frame threshold chosen on validation frames.
#[derive(Debug, Clone)]
pub struct FrameThresholdWritten {
    pub decision: melanoscope_shared::formats::DecisionThresholds,
    pub choice: melanoscope_shared::formats::FrameChoice,
    /// `<bundle>.frames.json`: every validation frame with its probability.
    pub report: PathBuf,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportRunError {
    #[error("checkpoint {path}")]
    Checkpoint { path: PathBuf, source: WeightsError },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error("{manifest}: no {magnification} patches of task {task} in the {partition:?} partition")]
    NoPatches { manifest: PathBuf, magnification: String, task: &'static str, partition: Partition },
    #[error("reading {partition:?} fields")]
    Fields { partition: Partition, source: FieldsError },
    #[error("--form int8 needs a manifest and split: it calibrates on validation fields")]
    NeedsCalibrationData,
    #[error("--also-form: {0}")]
    Forms(String),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("INT8")]
    Quant(#[from] QuantError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the bundle")]
    Bundle(#[from] BundleError),
    #[error("the bundle")]
    Format(#[from] FormatError),
    #[error("signing the bundle")]
    Key(#[from] KeyFileError),
    #[error("{path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("encoding the agreement report")]
    Json(#[from] serde_json::Error),
    #[error("reading the head's weights")]
    Torch(#[from] tch::TchError),
    #[error("the placeholder reference field")]
    Image(#[from] ImageError),
    #[error("the frame threshold")]
    Frames(#[from] FrameThresholdError),
    #[error("the familiarity statistics")]
    Familiarity(#[from] FamiliarityError),
    #[error("the training fields' stain target ({method}); export with --stain-target none to leave it out")]
    Stain { method: &'static str, source: melanoscope_shared::stain::StainError },
}

/// Writes `bytes` to `path` atomically, creating its folder.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportRunError> {
    let io = |source| ExportRunError::Io { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    melanoscope_shared::atomic::write_atomic(path, bytes).map_err(io)
}

/// The manifest and split, read once for both partitions.
struct Patches<'a> {
    data: &'a ExportData,
    rows: Vec<ManifestRow>,
    split: PatientSplit,
}

impl Patches<'_> {
    fn fields(&self, plan: &ExportPlan, partition: Partition, max: usize) -> Result<Option<FieldSet>, ExportRunError> {
        if max == 0 {
            return Ok(None);
        }
        let samples = task_samples(&self.rows, plan.task, &plan.magnification.name, &self.split, partition);
        if samples.is_empty() {
            return Err(ExportRunError::NoPatches {
                manifest: self.data.manifest.clone(),
                magnification: plan.magnification.name.clone(),
                task: plan.task.name(),
                partition,
            });
        }
        read_fields(&samples, max, plan.size, Normalization::IMAGENET)
            .map(Some)
            .map_err(|source| ExportRunError::Fields { partition, source })
    }
}

/// Reference fields: a few validation fields of each class, or a plain tissue-coloured field
/// when no data was given.
fn reference_fields(validation: Option<&FieldSet>, classes: usize, side: u32) -> Result<Vec<RgbImage>, ImageError> {
    match validation {
        Some(v) => Ok((0..classes)
            .flat_map(|class| {
                v.classes.iter().enumerate().filter(move |(_, c)| **c == class).take(2).map(|(i, _)| v.rgb[i].clone())
            })
            .collect()),
        None => Ok(vec![RgbImage::filled(side, side, [200, 120, 170])?]),
    }
}

/// Where form `precision`'s ONNX goes beside `out` (`resnet18.onnx` → `resnet18.int8.onnx`).
pub fn form_path(out: &Path, precision: Form) -> PathBuf {
    out.with_extension(format!("{}.onnx", precision.name()))
}

/// Why `plan`'s forms cannot go into one bundle, if they cannot.
fn check_forms(plan: &ExportPlan) -> Result<(), ExportRunError> {
    if plan.also_forms.is_empty() {
        return Ok(());
    }
    let refuse = |why: &str| Err(ExportRunError::Forms(why.into()));
    if plan.bundle.is_none() {
        return refuse("other forms go into the bundle beside the first; give --bundle");
    }
    if plan.precision != Form::F32 {
        return refuse("the bundle's first form must be f32 (--form f32): the other forms are measured against it");
    }
    for (i, p) in plan.also_forms.iter().enumerate() {
        if *p == Form::F32 || plan.also_forms[..i].contains(p) {
            return Err(ExportRunError::Forms(format!("{} given twice; a bundle holds each form once", p.name())));
        }
    }
    Ok(())
}

/// The checkpoint, the patches and what is read from them once for every form.
struct Source<'a> {
    plan: &'a ExportPlan,
    vs: tch::nn::VarStore,
    /// The f32 graph every other form is measured against, exported once.
    f32_graph: std::cell::OnceCell<Vec<u8>>,
    validation: Option<FieldSet>,
    test: Option<FieldSet>,
    classes: usize,
    positive: u16,
}

impl Source<'_> {
    /// `precision`'s ONNX bytes and how the bundle names the form.
    fn export(&self, precision: Form) -> Result<(Vec<u8>, Quantization, Option<CalibrationSummary>), ExportRunError> {
        let plan = self.plan;
        Ok(match precision {
            Form::F32 => (export_form(&self.vs, plan.arch, plan.size, &GraphForm::F32)?.0, Quantization::F32, None),
            Form::F16 => (export_form(&self.vs, plan.arch, plan.size, &GraphForm::F16)?.0, Quantization::F16, None),
            Form::Int8 => {
                let calib = self.validation.as_ref().ok_or(ExportRunError::NeedsCalibrationData)?;
                let per_channel = plan.int8_weights == Int8Weights::PerChannel;
                let c = calibrate(&self.vs, plan.arch, calib, plan.percentile, per_channel)?;
                let method = format!("{} ({} weights)", c.method, plan.int8_weights.name());
                let summary =
                    CalibrationSummary { tensors: c.plan.ranges.len(), fields: c.fields, method: method.clone() };
                (
                    export_form(&self.vs, plan.arch, plan.size, &GraphForm::Int8(c.plan))?.0,
                    Quantization::Int8 { calibration: method, samples: c.fields as u32 },
                    Some(summary),
                )
            }
        })
    }

    /// The f32 graph, exported on first use (the first form's bytes when that form is f32).
    fn f32_graph(&self) -> Result<&[u8], ExportRunError> {
        if let Some(g) = self.f32_graph.get() {
            return Ok(g);
        }
        let plan = self.plan;
        let graph = export_form(&self.vs, plan.arch, plan.size, &GraphForm::F32)?.0;
        Ok(self.f32_graph.get_or_init(|| graph))
    }

    /// `onnx`'s agreement with the f32 graph on the test fields (none for f32, or without
    /// test fields), written to `<path>.agreement.json`, and the figures it gives the bundle.
    fn agreement(
        &self,
        precision: Form,
        onnx: &[u8],
        path: &Path,
        threshold: f64,
    ) -> Result<(Option<Agreement>, Vec<NamedMetric>), ExportRunError> {
        let Some(test) = self.test.as_ref().filter(|_| precision != Form::F32) else {
            return Ok((None, Vec::new()));
        };
        let plan = self.plan;
        let f32_graph = self.f32_graph()?;
        let reference = Engine::from_onnx(f32_graph, 1, test.side)?;
        let candidate = Engine::from_onnx(onnx, 1, test.side)?;
        let head = match plan.arch {
            Arch::Vgg19 => None,
            Arch::ResNet18 | Arch::ResNet50 => {
                Some(Vec::<f32>::try_from(self.vs.variables()[names::HEAD_WEIGHT].flatten(0, -1))?)
            }
        };
        let a = agreement(
            &reference,
            &candidate,
            test,
            self.classes,
            usize::from(self.positive),
            threshold,
            head.as_deref(),
        )?;
        write_file(
            &path.with_extension(&melanoscope_shared::run_files::AGREEMENT_SUFFIX[1..]),
            serde_json::to_string_pretty(&a)?.as_bytes(),
        )?;
        let mut metrics = vec![NamedMetric { name: "agreement_with_f32".into(), value: a.verdict_agreement }];
        if let Some(d) = a.auc_difference {
            metrics.push(NamedMetric { name: "auc_minus_f32".into(), value: d });
        }
        metrics.push(NamedMetric { name: "cam_correlation_with_f32".into(), value: a.cam_correlation_mean });
        Ok((Some(a), metrics))
    }
}

/// How far another machine's kernels may move a form's reference outputs: they sum in another
/// order; f16 and INT8 round more on ARM too.
fn relative_tolerance(precision: Form) -> f32 {
    if precision == Form::F32 { 1e-3 } else { 2e-2 }
}

/// Runs the export `plan` describes.
pub fn run(plan: &ExportPlan) -> Result<ExportOutcome, ExportRunError> {
    check_forms(plan)?;
    // An export killed while writing its model files left temporary files beside them.
    if let Some(dir) = plan.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        melanoscope_shared::atomic::remove_stale_temps(dir);
    }
    let classes: Vec<String> = plan.task.classes().iter().map(|c| c.to_string()).collect();
    let (vs, net) = load_network(&plan.checkpoint, plan.arch, classes.len() as i64, tch::Device::Cpu)
        .map_err(|source| ExportRunError::Checkpoint { path: plan.checkpoint.clone(), source })?;
    let patches = match &plan.data {
        Some(data) => {
            Some(Patches { data, rows: read_manifest(&data.manifest)?, split: PatientSplit::load(&data.split)? })
        }
        None => None,
    };
    let validation = match &patches {
        Some(p) => p.fields(plan, Partition::Validation, p.data.calibration_fields)?,
        None => None,
    };
    // Test fields measure agreement with f32, for any form other than f32.
    let needs_test = plan.precision != Form::F32 || !plan.also_forms.is_empty();
    let test = match &patches {
        Some(p) if needs_test => p.fields(plan, Partition::Test, p.data.agreement_fields)?,
        _ => None,
    };
    let positive = classes.iter().position(|c| c == "MM").unwrap_or(classes.len() - 1) as u16;
    let source =
        Source { plan, vs, f32_graph: std::cell::OnceCell::new(), validation, test, classes: classes.len(), positive };

    let (onnx, quantization, calibration) = source.export(plan.precision)?;
    write_file(&plan.out, &onnx)?;
    if plan.precision == Form::F32 {
        let _ = source.f32_graph.set(onnx.clone());
    }
    if plan.reference > 0 {
        write_reference(&net, plan.size, plan.reference, &plan.out.with_extension(""))?;
    }

    let (decision, mut metrics) = match &plan.report {
        Some(report) => decision_from_report(report, plan.level, positive, plan.uncertain_band)?,
        None => (default_decision(positive, plan.uncertain_band), Vec::new()),
    };
    // Agreement is measured on patch fields, at the patch threshold.
    let (agreement, figures) = source.agreement(plan.precision, &onnx, &plan.out, decision.threshold)?;
    metrics.extend(figures);
    let mut forms = vec![FormWritten {
        precision: plan.precision,
        onnx: plan.out.clone(),
        onnx_bytes: onnx.len(),
        calibration,
        agreement,
    }];

    // The other forms: each its ONNX file and agreement report now, its bundle entry below.
    let mut also_bytes = Vec::new();
    for &precision in &plan.also_forms {
        let (bytes, quantization, calibration) = source.export(precision)?;
        let path = form_path(&plan.out, precision);
        write_file(&path, &bytes)?;
        let (agreement, figures) = source.agreement(precision, &bytes, &path, decision.threshold)?;
        forms.push(FormWritten { precision, onnx: path, onnx_bytes: bytes.len(), calibration, agreement });
        also_bytes.push((bytes, quantization, figures));
    }

    // The threshold the edge applies: chosen on validation frames when asked (and possible).
    let (mut frame_threshold, mut frame_threshold_skipped) = (None, None);
    let mut bundle_decision = decision;
    if let (Some(frames), Some(p), Some(b)) = (&plan.frames, &patches, &plan.bundle) {
        match frame_decision(&source, p, frames, decision, &b.path)? {
            Ok(written) => {
                bundle_decision = written.decision;
                metrics.push(NamedMetric { name: "validation_frame_auc".into(), value: written.choice.auc });
                frame_threshold = Some(written);
            }
            Err(why) => frame_threshold_skipped = Some(why.to_string()),
        }
    }

    // The familiarity statistics of each form's graph (the features of INT8 and f32 differ
    // enough to move the score), from fields read once.
    let familiarity_fields = match (&plan.familiarity, &patches, &plan.bundle) {
        (Some(f), Some(p), Some(_)) if f.fields > 0 => Some((f, familiarity_fields(&source, p, f)?)),
        _ => None,
    };
    let familiarity = match &familiarity_fields {
        Some((f, sets)) => Some(fit_familiarity(&source, sets, f, &onnx)?),
        None => None,
    };
    let mut form_familiarity = Vec::new();
    if let Some((f, sets)) = &familiarity_fields {
        for (bytes, quantization, _) in &also_bytes {
            let (stats, _) = fit_familiarity(&source, sets, f, bytes)?;
            form_familiarity.push(FormFamiliarity { form: quantization.form(), stats });
        }
    }

    // The training fields' stain, for the edge to check and normalise frames against.
    let stain = match (&plan.stain, &patches, &plan.bundle) {
        (Some(sp), Some(p), Some(_)) if sp.fields > 0 => match p.fields(plan, Partition::Train, sp.fields)? {
            Some(train) => {
                let target = melanoscope_shared::stain::fit_target(&train.rgb, sp.method)
                    .map_err(|source| ExportRunError::Stain { method: sp.method.name(), source })?;
                Some(StainWritten { target, fields: train.len() })
            }
            None => None,
        },
        _ => None,
    };

    let bundle = match &plan.bundle {
        None => None,
        Some(b) => {
            let refs = reference_fields(source.validation.as_ref(), classes.len(), plan.size)?;
            let spec = BundleSpec {
                arch: plan.arch,
                task: plan.task.name().into(),
                classes: classes.clone(),
                side: plan.size,
                um_per_px: plan.magnification.um_per_px,
                normalization: Normalization::IMAGENET,
                decision: bundle_decision,
                frame_choice: frame_threshold.as_ref().map(|f| f.choice.clone()),
                familiarity: familiarity.as_ref().map(|f| f.0.clone()),
                validation: metrics,
                quantization,
            };
            let mut file = make_bundle(onnx, &spec, &refs, relative_tolerance(plan.precision), &b.also_on)?;
            for ((bytes, quantization, figures), written) in also_bytes.into_iter().zip(&forms[1..]) {
                let relative = relative_tolerance(written.precision);
                add_form(&mut file, bytes, quantization, figures, relative, &b.also_on)?;
            }
            file.meta.form_familiarity = form_familiarity;
            file.meta.stain = stain.as_ref().map(|s| s.target.clone());
            if let Some(key) = &b.sign_key {
                file.sign(&read_key_file(key)?)?;
            }
            let bytes = file.encode()?;
            write_file(&b.path, &bytes)?;
            Some(BundleWritten {
                path: b.path.clone(),
                bytes: bytes.len(),
                references: file.references.len(),
                signed: file.signature.is_some(),
            })
        }
    };
    let familiarity = familiarity.map(|(stats, fit)| FamiliarityWritten {
        channels: stats.channels,
        training_fields: stats.training_fields,
        validation_fields: stats.validation_fields,
        threshold: stats.threshold,
        pass_share: stats.pass_share,
        fit,
    });
    Ok(ExportOutcome { forms, bundle, frame_threshold, frame_threshold_skipped, familiarity, stain })
}

/// The training and validation fields the familiarity statistics are fitted and thresholded
/// on, each also through the simulated cameras.
fn familiarity_fields(
    source: &Source<'_>,
    patches: &Patches<'_>,
    f: &FamiliarityPlan,
) -> Result<(FieldSet, FieldSet), ExportRunError> {
    let plan = source.plan;
    let (Some(train), Some(validation)) =
        (patches.fields(plan, Partition::Train, f.fields)?, patches.fields(plan, Partition::Validation, f.fields)?)
    else {
        return Err(FamiliarityError::TooFew { fields: 0, needed: 1 }.into());
    };
    let norm = Normalization::IMAGENET;
    let train = with_cameras(train, f.cameras, &norm).map_err(FamiliarityError::from)?;
    let validation = with_cameras(validation, f.cameras, &norm).map_err(FamiliarityError::from)?;
    Ok((train, validation))
}

/// The familiarity statistics of `onnx`'s pooled features on the training fields, with the
/// threshold chosen on the validation fields.
fn fit_familiarity(
    source: &Source<'_>,
    (train, validation): &(FieldSet, FieldSet),
    f: &FamiliarityPlan,
    onnx: &[u8],
) -> Result<(melanoscope_shared::formats::Familiarity, FamiliarityFit), ExportRunError> {
    let features = pooled_features(onnx, train, "familiarity: training fields")?;
    let (mut stats, mut fit) = fit(&features, &train.classes, source.classes, f.rank)?;
    let features = pooled_features(onnx, validation, "familiarity: validation fields")?;
    set_threshold(&mut stats, &mut fit, &features, source.classes, f.pass_share)?;
    Ok((stats, fit))
}

/// The frame threshold on validation frames of `frames`'s camera, written beside the bundle
/// as `<bundle>.frames.json`; `Err(why)` when the validation data cannot choose one (one class
/// only, no validation slide), which leaves the patch threshold in place.
fn frame_decision(
    source: &Source<'_>,
    patches: &Patches<'_>,
    frames: &FramePlan,
    patch: melanoscope_shared::formats::DecisionThresholds,
    bundle: &Path,
) -> Result<Result<FrameThresholdWritten, FrameThresholdError>, ExportRunError> {
    let plan = source.plan;
    let graph = source.f32_graph()?;
    let model = FrameModel {
        onnx: graph,
        side: plan.size,
        um_per_px: plan.magnification.um_per_px,
        normalization: Normalization::IMAGENET,
        positive_class: usize::from(patch.positive_class),
    };
    let report =
        match validation_frames(&patches.rows, &patches.split, plan.task, &plan.magnification.name, &model, frames) {
            Ok(r) => r,
            Err(e @ (FrameThresholdError::NoSlides { .. } | FrameThresholdError::NoWholeFrames { .. })) => {
                return Ok(Err(e));
            }
            Err(e) => return Err(e.into()),
        };
    let chosen = choose_frame_threshold(&report.frames, patch, plan.uncertain_band, frames);
    let path = bundle.with_extension("frames.json");
    let json = |choice: Option<&melanoscope_shared::formats::FrameChoice>, decision| serde_json::json!({ "frames": report, "frame_choice": choice, "decision": decision, "patch_decision": patch });
    match chosen {
        Ok((decision, choice)) => {
            write_file(&path, serde_json::to_string_pretty(&json(Some(&choice), Some(decision)))?.as_bytes())?;
            Ok(Ok(FrameThresholdWritten { decision, choice, report: path }))
        }
        Err(e @ FrameThresholdError::OneClass { .. }) => {
            write_file(&path, serde_json::to_string_pretty(&json(None, None))?.as_bytes())?;
            Ok(Err(e))
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes a new ed25519 key pair: `<out>.secret` (owner-only) and `<out>.public`.
pub fn keygen(out: &Path) -> Result<(PathBuf, PathBuf), ExportRunError> {
    use std::io::Read;
    let mut secret = [0u8; 32];
    let random = Path::new("/dev/urandom");
    std::fs::File::open(random)
        .and_then(|mut f| f.read_exact(&mut secret))
        .map_err(|source| ExportRunError::Io { path: random.to_path_buf(), source })?;
    let public = ModelFile::public_key_of(&secret);
    let (sp, pp) = (out.with_extension("secret"), out.with_extension("public"));
    write_file(&sp, format!("{}\n", melanoscope_shared::formats::hex(&secret)).as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sp, std::fs::Permissions::from_mode(0o600))
            .map_err(|source| ExportRunError::Io { path: sp.clone(), source })?;
    }
    write_file(&pp, format!("{}\n", melanoscope_shared::formats::hex(&public)).as_bytes())?;
    Ok((sp, pp))
}
