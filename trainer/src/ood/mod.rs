//! `ood`: how well a bundle's familiarity score tells its own kind of tissue from tissue it
//! never saw. In-distribution: test fields of the bundle's task (the test patients). Outside:
//! any named sets of images (real H&E of other organs, pen marks, background tiles), cut into
//! fields at their own pixels, and the same test fields re-rendered in other stains (IHC DAB,
//! trichrome, PAS). For each outside set: the AUROC of the score, and the share the bundle's
//! threshold flags; for the test fields: the share that passes.

mod styles;

pub use styles::{MethodPass, StyleResult};

use crate::export::fields::{FieldsError, read_fields};
use crate::train::task::{Task, task_samples};
use melanoscope_engine::{Engine, EngineError, Outputs, pooled};
use melanoscope_shared::formats::{FamiliarityScorer, FormatError, ModelBundleMeta, ModelFile};
use melanoscope_shared::formats::{MacenkoStain, StainTarget};
use melanoscope_shared::image::{
    DEFAULT_UPSAMPLE_TOLERANCE, FieldRect, ImageError, Normalization, PixelSpacing, RgbImage, TensorLayout, TissueTest,
    background_fraction, field_to_tensor, load_rgb, resample,
};
use melanoscope_shared::stain::{MacenkoParams, StainDeviation, StainLimits, macenko, reinhard, sample_pixels};
use melanoscope_slides::manifest::{ManifestError, read_manifest};
use melanoscope_slides::slide::Magnification;
use melanoscope_slides::split::{Partition, PatientSplit, SplitError};
use melanoscope_synth::stains::{OtherStain, restain};
use std::path::{Path, PathBuf};

/// A named set of outside images: files, or folders of PNG/JPEG/TIFF files.
#[derive(Debug, Clone, PartialEq)]
pub struct OutsideSet {
    pub name: String,
    pub paths: Vec<PathBuf>,
    /// The images' µm per pixel: they are resampled to the bundle's before fields are cut (as
    /// the edge resamples a camera frame). `None`: taken as at the bundle's µm/px already.
    pub um_per_px: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct OodPlan {
    pub bundle: PathBuf,
    pub manifest: PathBuf,
    pub split: PathBuf,
    pub magnification: Magnification,
    /// Test fields of the training distribution.
    pub fields: usize,
    pub outside: Vec<OutsideSet>,
    /// Fields cut from one outside image at most (spread over it).
    pub per_image: usize,
    /// Also score the test fields re-rendered in other stains.
    pub restained: bool,
    /// Simulated cameras the test fields are also seen through (as the export's statistics).
    pub cameras: u32,
    /// The edge's `screening.stain_max_angle_*`: with a bundle that carries a Macenko stain
    /// target, each field's own stain is fitted and checked as the edge checks a frame's.
    pub stain_limits: StainLimits,
    /// Test fields re-stained in other labs' styles and normalised each way (0: none).
    pub lab_style_fields: usize,
}

/// Training fields the lab-style measurement fits its normalisation targets on (as `export`).
const TARGET_FIELDS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum OodError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{bundle}: no familiarity statistics; export it with --familiarity-fields (the default)")]
    NoStatistics { bundle: PathBuf },
    #[error("the bundle's statistics")]
    Format(#[from] FormatError),
    #[error("the bundle's task {0:?} is not one this trainer knows")]
    Task(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error("{manifest}: no {magnification} test patches of task {task}")]
    NoTestFields { manifest: PathBuf, magnification: String, task: &'static str },
    #[error("test fields")]
    Fields(#[from] FieldsError),
    #[error("outside set {set}: {path}")]
    Image { set: String, path: PathBuf, source: ImageError },
    #[error("outside set {set}: {path}")]
    Io { set: String, path: PathBuf, source: std::io::Error },
    #[error("outside set {set}: no image gives a {side}x{side} field")]
    EmptySet { set: String, side: u32 },
    #[error("AUROC of {set}: {detail}")]
    Auc { set: String, detail: String },
    #[error(
        "{manifest}: no {magnification} training patches to fit the lab styles' normalisation targets on; give --lab-style-fields 0 to leave them out"
    )]
    NoTrainFields { manifest: PathBuf, magnification: String },
    #[error("the normalisation targets of the lab styles, from {fields} training fields")]
    Targets { fields: usize, source: melanoscope_shared::stain::StainError },
}

/// One outside set's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SetResult {
    pub name: String,
    pub images: usize,
    pub fields: usize,
    /// Whether the fields are those passing the study's 40% background rule (the ones the
    /// edge scores); false when none did (a background set), which are then scored all.
    pub tissue_fields_only: bool,
    /// AUROC of the score, outside fields positive, test fields negative.
    #[serde(deserialize_with = "melanoscope_shared::metrics::f64_or_nan")]
    pub auroc: f64,
    /// Share of the set's fields above the bundle's threshold.
    pub flagged: f64,
    pub median_score: f32,
    /// With the bundle's stain target: the AUROC of the stain check's angle alone, and of the
    /// gate the edge applies (familiarity or stain, each against its limit), and the share of
    /// the set that gate flags.
    #[serde(default)]
    pub stain_auroc: Option<f64>,
    #[serde(default)]
    pub gate_auroc: Option<f64>,
    #[serde(default)]
    pub gate_flagged: Option<f64>,
    /// With lab styles measured: the share of the set's tissue fields the gate passes when each
    /// is normalised first (Reinhard, Macenko; the stain check sees the field as it came).
    #[serde(default)]
    pub normalised_pass: Vec<MethodPass>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OodReport {
    pub bundle: PathBuf,
    pub threshold: f32,
    /// Share of validation fields the export chose the threshold to pass.
    pub chosen_pass_share: f32,
    /// Test fields scored: each as read and (with cameras) as a simulated camera delivers it.
    pub test_fields: usize,
    /// Share of the test fields at or under the threshold: all, as read, through cameras.
    pub test_pass: f64,
    pub test_pass_as_read: f64,
    pub test_pass_through_cameras: Option<f64>,
    pub test_median_score: f32,
    pub sets: Vec<SetResult>,
    /// The stain check's limits, when the bundle has a Macenko target, and the share of test
    /// fields that pass both familiarity and the stain check.
    #[serde(default)]
    pub stain_limits: Option<StainLimits>,
    #[serde(default)]
    pub test_gate_pass: Option<f64>,
    /// The test fields in other labs' styles, each normalisation (empty when not measured).
    #[serde(default)]
    pub lab_styles: Vec<StyleResult>,
}

struct Scorer {
    engine: Engine,
    norm: Normalization,
    scorer: FamiliarityScorer,
    outputs: Outputs,
    tensor: Vec<f32>,
    /// The bundle's Macenko target, for the stain check.
    stain: Option<MacenkoStain>,
    limits: StainLimits,
    /// The class whose probability the bundle thresholds.
    positive: usize,
}

/// One field's scores: familiarity, and the stain check's angles over their limits (0 when
/// the field's stain cannot be fitted: nothing to judge by, as at the edge).
#[derive(Debug, Clone, Copy)]
struct FieldScores {
    familiarity: f32,
    stain: f32,
}

impl Scorer {
    /// The positive class's probability of the field last scored.
    fn probability(&self) -> f32 {
        let p = melanoscope_shared::scores::softmax(&self.outputs.logits);
        p.get(self.positive).copied().unwrap_or(0.0) as f32
    }

    fn score_tensor(&mut self, tensor: &[f32]) -> Result<f32, OodError> {
        self.engine.run_into(tensor, &mut self.outputs)?;
        let features = pooled(&self.outputs.features, self.outputs.feature_shape[0]);
        Ok(self.scorer.score(&features).unwrap_or(f32::MAX))
    }

    /// `rect` of `image` scored; `image_error` names the image in a layout error.
    fn score_image(
        &mut self,
        image: &RgbImage,
        rect: FieldRect,
        image_error: impl FnOnce(ImageError) -> OodError,
    ) -> Result<FieldScores, OodError> {
        let side = rect.size as usize;
        self.tensor.resize(3 * side * side, 0.0);
        field_to_tensor(image, rect, &self.norm, TensorLayout::Nchw, &mut self.tensor).map_err(image_error)?;
        let tensor = std::mem::take(&mut self.tensor);
        let score = self.score_tensor(&tensor);
        self.tensor = tensor;
        Ok(FieldScores { familiarity: score?, stain: self.stain_excess(image, rect) })
    }

    /// How far `rect`'s own stain lies from the bundle's, over the limits (0 without a target
    /// or a fit).
    fn stain_excess(&self, image: &RgbImage, rect: FieldRect) -> f32 {
        let Some(target) = &self.stain else { return 0.0 };
        let Ok(field) = image.crop(rect.x, rect.y, rect.size, rect.size) else { return 0.0 };
        let pixels: Vec<[u8; 3]> = field.as_raw().chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
        match macenko::fit_pixels(&pixels, &MacenkoParams::default()) {
            Ok(fitted) => StainDeviation::of(&fitted, target).excess(&self.limits),
            Err(_) => 0.0,
        }
    }
}

/// The measures of one set of fields against the test fields.
struct Measured {
    auroc: f64,
    flagged: f64,
    stain_auroc: Option<f64>,
    gate_auroc: Option<f64>,
    gate_flagged: Option<f64>,
}

/// The edge's gate as one score: each measure over its limit, the larger (above 1: flagged).
fn gate_score(f: &FieldScores, threshold: f32) -> f32 {
    (f.familiarity / threshold.max(1e-6)).max(f.stain)
}

fn measure(
    set: &str,
    outside: &[FieldScores],
    inside: &[FieldScores],
    threshold: f32,
    stain: bool,
) -> Result<Measured, OodError> {
    let fam = |v: &[FieldScores]| v.iter().map(|f| f.familiarity).collect::<Vec<f32>>();
    let flagged = |v: &[f32], t: f32| v.iter().filter(|x| **x > t).count() as f64 / v.len().max(1) as f64;
    let (o, i) = (fam(outside), fam(inside));
    let mut m = Measured {
        auroc: auroc(set, &o, &i)?,
        flagged: flagged(&o, threshold),
        stain_auroc: None,
        gate_auroc: None,
        gate_flagged: None,
    };
    if stain {
        let excess = |v: &[FieldScores]| v.iter().map(|f| f.stain).collect::<Vec<f32>>();
        m.stain_auroc = Some(auroc(set, &excess(outside), &excess(inside))?);
        let gate = |v: &[FieldScores]| v.iter().map(|f| gate_score(f, threshold)).collect::<Vec<f32>>();
        let (go, gi) = (gate(outside), gate(inside));
        m.gate_auroc = Some(auroc(set, &go, &gi)?);
        m.gate_flagged = Some(flagged(&go, 1.0));
    }
    Ok(m)
}

fn normalization(m: &ModelBundleMeta) -> Normalization {
    Normalization { mean: m.mean, std: m.std }
}

/// The bundle's first form, decoded and checked (hashes; a signature against the key it names:
/// this measures the model, it does not screen with it, so no trusted keys are asked for).
fn open_bundle(path: &Path) -> Result<ModelFile, OodError> {
    let bundle = |error| EngineError::Bundle { path: path.display().to_string(), error };
    let bytes = melanoscope_shared::bounded::read_bounded(path, melanoscope_shared::bounded::MAX_BUNDLE_BYTES)
        .map_err(|e| EngineError::Read { path: path.display().to_string(), source: e.into_io() })?;
    let file = ModelFile::decode(&bytes).map_err(bundle)?;
    if let Some(sig) = &file.signature {
        file.verify_signature(&[sig.public_key], false).map_err(bundle)?;
    }
    Ok(file.into_form(None).map_err(bundle)?)
}

/// The shared median of f32 scores; 0 for none.
fn median(v: Vec<f32>) -> f32 {
    let v: Vec<f64> = v.into_iter().map(f64::from).collect();
    melanoscope_shared::metrics::median(&v).unwrap_or(0.0) as f32
}

/// The image files of `paths` (folders listed, sorted).
fn images_of(set: &str, paths: &[PathBuf]) -> Result<Vec<PathBuf>, OodError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let io = |source| OodError::Io { set: set.into(), path: p.clone(), source };
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(io)?
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    f.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg" | "tif" | "tiff")
                    })
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Non-overlapping `side` fields of `image`, those with tissue first; at most `max`, spread.
fn fields_of(image: &RgbImage, side: u32, max: usize) -> Result<(Vec<FieldRect>, Vec<FieldRect>), ImageError> {
    let test = TissueTest::default();
    let (mut tissue, mut all) = (Vec::new(), Vec::new());
    for y in (0..image.height() / side).map(|r| r * side) {
        for x in (0..image.width() / side).map(|c| c * side) {
            let rect = FieldRect::square(x, y, side);
            all.push(rect);
            if background_fraction(image, rect, &test)? <= melanoscope_shared::MAX_BACKGROUND_FRACTION {
                tissue.push(rect);
            }
        }
    }
    let spread = |v: Vec<FieldRect>| -> Vec<FieldRect> {
        let step = v.len().div_ceil(max.max(1)).max(1);
        v.into_iter().step_by(step).take(max).collect()
    };
    Ok((spread(tissue), spread(all)))
}

fn auroc(set: &str, outside: &[f32], inside: &[f32]) -> Result<f64, OodError> {
    let labels: Vec<bool> = outside.iter().map(|_| true).chain(inside.iter().map(|_| false)).collect();
    let scores: Vec<f64> = outside.iter().chain(inside).map(|s| f64::from(*s)).collect();
    melanoscope_shared::metrics::auc(&labels, &scores)
        .map_err(|e| OodError::Auc { set: set.into(), detail: melanoscope_shared::errors::error_chain(&e) })
}

/// Runs the measurement `plan` describes.
pub fn run(plan: &OodPlan) -> Result<OodReport, OodError> {
    let file = open_bundle(&plan.bundle)?;
    let meta = file.meta.clone();
    let stats = meta.familiarity.clone().ok_or_else(|| OodError::NoStatistics { bundle: plan.bundle.clone() })?;
    let scorer = FamiliarityScorer::new(stats.clone(), meta.classes.len())?;
    let side = meta.input_size;
    let engine = Engine::from_onnx(&file.onnx, 1, side as usize)?;
    let norm = normalization(&meta);
    let stain = match &meta.stain {
        Some(StainTarget::Macenko(t)) => Some(*t),
        _ => None,
    };
    let checked = stain.is_some();
    let limits = plan.stain_limits;
    let positive = usize::from(meta.decision.positive_class);
    let mut s =
        Scorer { engine, norm, scorer, outputs: Outputs::default(), tensor: Vec::new(), stain, limits, positive };

    let task = Task::parse(&meta.task).map_err(|_| OodError::Task(meta.task.clone()))?;
    let rows = read_manifest(&plan.manifest)?;
    let split = PatientSplit::load(&plan.split)?;
    let samples = task_samples(&rows, task, &plan.magnification.name, &split, Partition::Test);
    if samples.is_empty() {
        return Err(OodError::NoTestFields {
            manifest: plan.manifest.clone(),
            magnification: plan.magnification.name.clone(),
            task: task.name(),
        });
    }
    let test = read_fields(&samples, plan.fields, side, norm)?;
    let read = test.len();
    let test = crate::export::familiarity::with_cameras(test, plan.cameras, &norm)
        .map_err(|source| OodError::Image { set: "test".into(), path: PathBuf::from("(test fields)"), source })?;
    let mut inside = Vec::with_capacity(test.len());
    let bar = crate::progress::bar(test.len() as u64, "ood: test fields", "fields");
    let whole = FieldRect::square(0, 0, side);
    for i in 0..test.len() {
        let familiarity = s.score_tensor(test.tensor_of(i, 1))?;
        inside.push(FieldScores { familiarity, stain: s.stain_excess(&test.rgb[i], whole) });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let threshold = stats.threshold;
    let flagged =
        |v: &[FieldScores]| v.iter().filter(|x| x.familiarity > threshold).count() as f64 / v.len().max(1) as f64;
    let test_pass_as_read = 1.0 - flagged(&inside[..read]);
    let test_pass_through_cameras = (inside.len() > read).then(|| 1.0 - flagged(&inside[read..]));
    let test_gate_pass = checked.then(|| {
        let passed = inside.iter().filter(|f| gate_score(f, threshold) <= 1.0).count();
        passed as f64 / inside.len().max(1) as f64
    });
    let targets = if plan.lab_style_fields > 0 {
        let train = task_samples(&rows, task, &plan.magnification.name, &split, Partition::Train);
        if train.is_empty() {
            return Err(OodError::NoTrainFields {
                manifest: plan.manifest.clone(),
                magnification: plan.magnification.name.clone(),
            });
        }
        let train = read_fields(&train, TARGET_FIELDS, side, norm)?;
        let pixels = sample_pixels(&train.rgb, 1 << 20);
        let refused = |source| OodError::Targets { fields: train.rgb.len(), source };
        Some(styles::Targets {
            reinhard: reinhard::fit_pixels(&pixels).map_err(refused)?,
            macenko: macenko::fit_pixels(&pixels, &MacenkoParams::default()).map_err(refused)?,
        })
    } else {
        None
    };
    let mut sets = Vec::new();
    for set in &plan.outside {
        // The set's tissue fields, kept to be scored again normalised.
        let mut crops = Vec::new();
        let (mut tissue_scores, mut all_scores, mut images) = (Vec::new(), Vec::new(), 0);
        let paths = images_of(&set.name, &set.paths)?;
        let bar = crate::progress::bar(paths.len() as u64, &format!("ood: {}", set.name), "images");
        for path in paths {
            bar.inc(1);
            let image = |source| OodError::Image { set: set.name.clone(), path: path.clone(), source };
            let img = load_rgb(&path).map_err(image)?;
            // At the model's scale, as the edge sees a calibrated camera's frame.
            let img = match set.um_per_px {
                Some(um) if (um - meta.um_per_px).abs() > 1e-9 => {
                    let spacing = PixelSpacing::isotropic(um).map_err(image)?;
                    resample(&img, spacing, meta.um_per_px, DEFAULT_UPSAMPLE_TOLERANCE).map_err(image)?.image
                }
                _ => img,
            };
            let (tissue, all) = fields_of(&img, side, plan.per_image).map_err(image)?;
            if all.is_empty() {
                continue;
            }
            images += 1;
            for r in tissue {
                tissue_scores.push(s.score_image(&img, r, image)?);
                if targets.is_some() {
                    crops.push(img.crop(r.x, r.y, r.size, r.size).map_err(image)?);
                }
            }
            // The unfiltered fields are scored only while no image of the set had tissue.
            if tissue_scores.is_empty() {
                for r in all {
                    all_scores.push(s.score_image(&img, r, image)?);
                }
            }
        }
        bar.finish_and_clear();
        let tissue_fields_only = !tissue_scores.is_empty();
        let scores = if tissue_fields_only { tissue_scores } else { all_scores };
        if scores.is_empty() {
            return Err(OodError::EmptySet { set: set.name.clone(), side });
        }
        let m = measure(&set.name, &scores, &inside, threshold, checked)?;
        let normalised_pass = match &targets {
            Some(t) if tissue_fields_only => {
                let raw_stain: Vec<f32> = scores.iter().map(|f| f.stain).collect();
                styles::normalised_pass(&mut s, &set.name, &crops, &raw_stain, t, threshold)?
            }
            _ => Vec::new(),
        };
        sets.push(SetResult {
            normalised_pass,
            name: set.name.clone(),
            images,
            fields: scores.len(),
            tissue_fields_only,
            auroc: m.auroc,
            flagged: m.flagged,
            median_score: median(scores.iter().map(|f| f.familiarity).collect()),
            stain_auroc: m.stain_auroc,
            gate_auroc: m.gate_auroc,
            gate_flagged: m.gate_flagged,
        });
    }
    if plan.restained {
        for stain in OtherStain::ALL {
            let mut scores = Vec::with_capacity(read);
            for rgb in &test.rgb[..read] {
                let other = restain(rgb, stain);
                let rect = FieldRect::square(0, 0, side);
                let name = format!("non-he-{}", stain.name());
                scores.push(s.score_image(&other, rect, |source| OodError::Image {
                    set: name,
                    path: PathBuf::from("(test fields)"),
                    source,
                })?);
            }
            let name = format!("non-he-{}", stain.name());
            // Against the test fields as read: the re-stained fields are those, in another stain.
            let m = measure(&name, &scores, &inside[..read], threshold, checked)?;
            sets.push(SetResult {
                auroc: m.auroc,
                flagged: m.flagged,
                images: read,
                fields: scores.len(),
                tissue_fields_only: true,
                median_score: median(scores.iter().map(|f| f.familiarity).collect()),
                stain_auroc: m.stain_auroc,
                gate_auroc: m.gate_auroc,
                gate_flagged: m.gate_flagged,
                normalised_pass: Vec::new(),
                name,
            });
        }
    }
    let lab_styles = if let Some(targets) = &targets {
        let step = read.div_ceil(plan.lab_style_fields).max(1);
        let picked: Vec<usize> = (0..read).step_by(step).take(plan.lab_style_fields).collect();
        let fields: Vec<RgbImage> = picked.iter().map(|i| test.rgb[*i].clone()).collect();
        let positives: Vec<bool> = picked.iter().map(|i| test.classes[*i] == positive).collect();
        styles::measure_styles(&mut s, &fields, &positives, targets, threshold, checked)?
    } else {
        Vec::new()
    };
    Ok(OodReport {
        lab_styles,
        bundle: plan.bundle.clone(),
        threshold,
        chosen_pass_share: stats.pass_share,
        test_fields: inside.len(),
        test_pass: 1.0 - flagged(&inside),
        test_pass_as_read,
        test_pass_through_cameras,
        test_median_score: median(inside.iter().map(|f| f.familiarity).collect()),
        sets,
        stain_limits: checked.then_some(limits),
        test_gate_pass,
    })
}

/// The report as a Markdown table, for people.
pub fn to_markdown(r: &OodReport) -> String {
    let mut s = format!(
        "Familiarity of {}: threshold {:.3} (chosen to pass {:.0}% of validation fields); \
         {:.1}% of {} test fields pass ({:.1}% as read, {} through simulated cameras; median score {:.2}).\n",
        r.bundle.display(),
        r.threshold,
        100.0 * r.chosen_pass_share,
        100.0 * r.test_pass,
        r.test_fields,
        100.0 * r.test_pass_as_read,
        r.test_pass_through_cameras.map_or("none".to_string(), |p| format!("{:.1}%", 100.0 * p)),
        r.test_median_score
    );
    let stain = r.stain_limits.zip(r.test_gate_pass);
    match stain {
        Some((l, pass)) => s.push_str(&format!(
            "Stain check at H {:.1}° E {:.1}° (each field's Macenko fit against the bundle's stain target): \
             {:.1}% of test fields pass familiarity and stain together.\n\n\
             | outside set | images | fields | tissue fields only | AUROC | flagged | median score | stain AUROC | gate AUROC | gate flagged | gate pass normalised |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n",
            l.haematoxylin_deg,
            l.eosin_deg,
            100.0 * pass
        )),
        None => s.push_str(
            "\n| outside set | images | fields | tissue fields only | AUROC | flagged | median score |\n\
             |---|---|---|---|---|---|---|\n",
        ),
    }
    let opt = |v: Option<f64>, pct: bool| match v {
        Some(v) if pct => format!("{:.1}%", 100.0 * v),
        Some(v) => format!("{v:.3}"),
        None => "-".into(),
    };
    for set in &r.sets {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {:.1}% | {:.2} |",
            set.name,
            set.images,
            set.fields,
            if set.tissue_fields_only { "yes" } else { "no (none had tissue)" },
            set.auroc,
            100.0 * set.flagged,
            set.median_score
        ));
        if stain.is_some() {
            s.push_str(&format!(
                " {} | {} | {} | {} |",
                opt(set.stain_auroc, false),
                opt(set.gate_auroc, false),
                opt(set.gate_flagged, true),
                normalised_passes(&set.normalised_pass)
            ));
        }
        s.push('\n');
    }
    if !r.lab_styles.is_empty() {
        s.push_str(
            "\nTest fields in other labs' styles, given to the network as stained, or normalised (Reinhard, \
             Macenko) to targets fitted on training fields; the gate checks the stain as stained.\n\n\
             | lab style | normalisation | fields | patch AUC | pass familiarity | pass the gate |\n\
             |---|---|---|---|---|---|\n",
        );
        for st in &r.lab_styles {
            s.push_str(&format!(
                "| {} | {} | {} | {:.3} | {:.1}% | {} |\n",
                st.style,
                st.method,
                st.fields,
                st.patch_auc,
                100.0 * st.familiarity_pass,
                opt(st.gate_pass, true)
            ));
        }
    }
    s
}

/// "reinhard 3.5%, macenko 4.7%", or a dash.
pub fn normalised_passes(v: &[MethodPass]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.iter().map(|m| format!("{} {:.1}%", m.method, 100.0 * m.pass)).collect::<Vec<_>>().join(", ")
}

/// `NAME[@UM_PER_PX]=PATH[,PATH…]` of `--outside`.
pub fn parse_outside(s: &str) -> Result<OutsideSet, String> {
    let expected = "expected NAME=PATH[,PATH...], or NAME@UM_PER_PX=PATH[,PATH...] for images at another scale";
    let (name, paths) = s.split_once('=').ok_or_else(|| format!("{s:?}; {expected}"))?;
    let (name, um_per_px) = match name.split_once('@') {
        Some((n, um)) => {
            let v = um.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0);
            let v = v.ok_or_else(|| format!("{s:?}: µm/px {um:?} is not a positive number; {expected}"))?;
            (n, Some(v))
        }
        None => (name, None),
    };
    if name.trim().is_empty() || paths.trim().is_empty() {
        return Err(format!("{s:?}; {expected}, with a name and at least one path"));
    }
    Ok(OutsideSet {
        name: name.trim().into(),
        paths: paths.split(',').map(|p| Path::new(p.trim()).to_path_buf()).collect(),
        um_per_px,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_sets_parse_and_fields_prefer_tissue() {
        let set = parse_outside("pen=a.png, b/").unwrap();
        assert_eq!((set.name.as_str(), set.paths.len(), set.um_per_px), ("pen", 2, None));
        assert!(parse_outside("nameless").unwrap_err().contains("NAME=PATH"));
        // A set at its own scale (it was scored at its pixel size, not the model's).
        let ome = parse_outside("lung-ome@0.346=slides/roi.ome.tif").unwrap();
        assert_eq!((ome.name.as_str(), ome.um_per_px), ("lung-ome", Some(0.346)));
        for bad in ["x@=a.png", "x@-1=a.png", "x@abc=a.png", "@0.5=a.png"] {
            let e = parse_outside(bad).unwrap_err();
            assert!(e.contains("UM_PER_PX") || e.contains("name"), "{bad}: {e}");
        }
        // Left half tissue pink, right half white: 2 of 4 fields have tissue.
        let mut img = RgbImage::filled(64, 64, [250, 250, 250]).unwrap();
        for y in 0..64 {
            for x in 0..32 {
                img.put(x, y, [200, 110, 170]);
            }
        }
        let (tissue, all) = fields_of(&img, 32, 8).unwrap();
        assert_eq!((tissue.len(), all.len()), (2, 4));
        assert!(tissue.iter().all(|r| r.x == 0));
        let (_, few) = fields_of(&img, 32, 2).unwrap();
        assert_eq!(few.len(), 2);
    }
}
