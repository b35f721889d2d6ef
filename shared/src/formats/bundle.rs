//! Model-bundle metadata: everything the edge needs to use an exported model exactly as it
//! was trained and validated. Bytes: `"MSCB"`, version (u16 LE), postcard payload, CRC32.
//! Version 2 added [`FrameChoice`] (the threshold chosen on validation frames); metadata
//! without one is still written as version 1, which edges built before it read. Version 3
//! added [`Familiarity`] (the training distribution of the pooled features, for the
//! unfamiliar-tissue gate); metadata without it keeps its older version. Version 4 added the
//! [`StainTarget`] (the training patches' stain, for the edge's normalisation and stain check).

use super::envelope::{decode_exact, open_any_version, seal_versioned};
use super::error::invalid;
use super::familiarity::Familiarity;
use super::form::Form;
use super::stain_target::StainTarget;
use super::{FormatError, hex};
use crate::metrics::{Aggregation, ThresholdRule};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

const MAGIC: [u8; 4] = *b"MSCB";
/// The newest version this build writes and reads.
const VERSION: u16 = 4;
/// Metadata without a [`FrameChoice`] or [`Familiarity`].
const PATCH_LEVEL_VERSION: u16 = 1;
/// Metadata with a [`FrameChoice`] and without [`Familiarity`].
const FRAME_LEVEL_VERSION: u16 = 2;
/// Metadata with familiarity and without a [`StainTarget`].
const FAMILIARITY_VERSION: u16 = 3;
const WHAT: &str = "model bundle metadata";

/// Network architecture of the exported model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Architecture {
    ResNet18,
    ResNet50,
    Vgg19,
}

/// Numeric form of the exported weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Quantization {
    F32,
    F16,
    /// Static INT8: `calibration` names the method (e.g. "percentile-99.99"), `samples` how many fields.
    Int8 {
        calibration: String,
        samples: u32,
    },
}

impl Quantization {
    /// The form these weights are in.
    pub fn form(&self) -> Form {
        match self {
            Quantization::F32 => Form::F32,
            Quantization::F16 => Form::F16,
            Quantization::Int8 { .. } => Form::Int8,
        }
    }
}

/// The validation-chosen operating point the edge applies unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecisionThresholds {
    /// Index of the class whose probability is thresholded (melanoma in MM-vs-nevi tasks).
    pub positive_class: u16,
    /// Probability at or above which the verdict is positive.
    pub threshold: f64,
    /// Half-width of the band around `threshold` reported as UNCERTAIN (0 for none).
    pub uncertain_band: f64,
    pub rule: ThresholdRule,
}

/// How the bundle's `decision` was chosen at the level the edge decides: on validation frames
/// (windows of a camera's size cut from validation slides, their tissue fields aggregated as
/// the edge aggregates them). The patch-level operating point is kept beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameChoice {
    /// The operating point chosen on validation patches (what the slide tables use).
    pub patch_decision: DecisionThresholds,
    pub aggregation: Aggregation,
    /// The validation frames' size in camera pixels and µm per camera pixel.
    pub frame_width: u32,
    pub frame_height: u32,
    pub frame_um_per_px: f64,
    /// Validation frames screened (with enough tissue), and how many of them were melanoma.
    pub frames: u32,
    pub positive_frames: u32,
    /// The chosen threshold's sensitivity and specificity on those frames, and their AUC.
    pub sensitivity: f64,
    pub specificity: f64,
    pub auc: f64,
}

/// A named validation figure, e.g. ("slide_auc", 0.97).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedMetric {
    pub name: String,
    pub value: f64,
}

/// Metadata stored beside the ONNX bytes in a model bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelBundleMeta {
    pub architecture: Architecture,
    /// Study task, e.g. "mm-vs-nevi" or "nevi-3class".
    pub task: String,
    pub classes: Vec<String>,
    /// Side of the square input field in pixels.
    pub input_size: u32,
    /// µm per pixel the model was trained at.
    pub um_per_px: f64,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub decision: DecisionThresholds,
    pub quantization: Quantization,
    pub validation: Vec<NamedMetric>,
    /// SHA-256 of the ONNX bytes this metadata describes.
    pub onnx_sha256: [u8; 32],
    pub created_unix_s: u64,
    pub trainer_version: String,
    /// Present when `decision` was chosen on validation frames (version 2).
    pub frame_choice: Option<FrameChoice>,
    /// The training distribution of the pooled features of the first form's graph (version
    /// 3); without it the edge screens with the unfamiliar-tissue gate off.
    pub familiarity: Option<Familiarity>,
    /// The same for each other form of the bundle (INT8 features differ from f32's enough to
    /// move the score), by form name; [`super::ModelFile::into_form`] puts the chosen form's in
    /// `familiarity`.
    pub form_familiarity: Vec<FormFamiliarity>,
    /// The stain of the training patches (version 4); without it the edge screens with stain
    /// normalisation and the stain check off, and says so at start.
    pub stain: Option<StainTarget>,
}

/// Familiarity statistics of one of the bundle's other forms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormFamiliarity {
    /// The form (`int8`, `f16`; a string in the encoding).
    pub form: Form,
    pub stats: Familiarity,
}

/// Version 3: version 4 without `stain`.
#[derive(Serialize, Deserialize)]
struct MetaV3 {
    v1: MetaV1,
    frame_choice: Option<FrameChoice>,
    familiarity: Option<Familiarity>,
    form_familiarity: Vec<FormFamiliarity>,
}

/// Version 2: version 3 without `familiarity`.
#[derive(Serialize, Deserialize)]
struct MetaV2 {
    v1: MetaV1,
    frame_choice: Option<FrameChoice>,
}

/// Version 1: the same fields without `frame_choice` (postcard is not self-describing).
#[derive(Serialize, Deserialize)]
struct MetaV1 {
    architecture: Architecture,
    task: String,
    classes: Vec<String>,
    input_size: u32,
    um_per_px: f64,
    mean: [f32; 3],
    std: [f32; 3],
    decision: DecisionThresholds,
    quantization: Quantization,
    validation: Vec<NamedMetric>,
    onnx_sha256: [u8; 32],
    created_unix_s: u64,
    trainer_version: String,
}

impl MetaV1 {
    fn of(m: &ModelBundleMeta) -> Self {
        let m = m.clone();
        Self {
            architecture: m.architecture,
            task: m.task,
            classes: m.classes,
            input_size: m.input_size,
            um_per_px: m.um_per_px,
            mean: m.mean,
            std: m.std,
            decision: m.decision,
            quantization: m.quantization,
            validation: m.validation,
            onnx_sha256: m.onnx_sha256,
            created_unix_s: m.created_unix_s,
            trainer_version: m.trainer_version,
        }
    }

    fn upgrade(self) -> ModelBundleMeta {
        ModelBundleMeta {
            architecture: self.architecture,
            task: self.task,
            classes: self.classes,
            input_size: self.input_size,
            um_per_px: self.um_per_px,
            mean: self.mean,
            std: self.std,
            decision: self.decision,
            quantization: self.quantization,
            validation: self.validation,
            onnx_sha256: self.onnx_sha256,
            created_unix_s: self.created_unix_s,
            trainer_version: self.trainer_version,
            frame_choice: None,
            familiarity: None,
            form_familiarity: Vec::new(),
            stain: None,
        }
    }
}

/// The field names of an operating point in errors: positive class, threshold, band, rule.
const DECISION_FIELDS: [&str; 4] =
    ["decision.positive_class", "decision.threshold", "decision.uncertain_band", "decision.rule"];
const PATCH_DECISION_FIELDS: [&str; 4] = [
    "frame_choice.patch_decision.positive_class",
    "frame_choice.patch_decision.threshold",
    "frame_choice.patch_decision.uncertain_band",
    "frame_choice.patch_decision.rule",
];

/// Checks one operating point; `fields` name its fields in errors.
fn validate_decision(d: &DecisionThresholds, classes: usize, fields: [&'static str; 4]) -> Result<(), FormatError> {
    if usize::from(d.positive_class) >= classes {
        return Err(invalid(WHAT, fields[0], format!("{}; only {classes} classes", d.positive_class)));
    }
    if !(0.0..=1.0).contains(&d.threshold) {
        return Err(invalid(WHAT, fields[1], format!("{}; expected 0 to 1", d.threshold)));
    }
    if !(0.0..=0.5).contains(&d.uncertain_band) {
        return Err(invalid(WHAT, fields[2], format!("{}; expected 0 to 0.5", d.uncertain_band)));
    }
    if let ThresholdRule::TargetSensitivity(t) = d.rule
        && !(t > 0.0 && t <= 1.0)
    {
        return Err(invalid(WHAT, fields[3], format!("target sensitivity {t}; expected above 0, at most 1")));
    }
    Ok(())
}

impl FrameChoice {
    fn validate(&self, classes: usize) -> Result<(), FormatError> {
        validate_decision(&self.patch_decision, classes, PATCH_DECISION_FIELDS)?;
        if let Aggregation::TopK(0) = self.aggregation {
            return Err(invalid(WHAT, "frame_choice.aggregation", "top-0; expected k of at least 1"));
        }
        for (name, v) in
            [("frame_choice.frame_width", self.frame_width), ("frame_choice.frame_height", self.frame_height)]
        {
            if !(16..=65_536).contains(&v) {
                return Err(invalid(WHAT, name, format!("{v}; expected 16 to 65536 pixels")));
            }
        }
        if !(0.01..=1000.0).contains(&self.frame_um_per_px) {
            let v = self.frame_um_per_px;
            return Err(invalid(WHAT, "frame_choice.frame_um_per_px", format!("{v}; expected 0.01 to 1000")));
        }
        if self.positive_frames > self.frames {
            return Err(invalid(
                WHAT,
                "frame_choice.positive_frames",
                format!("{} of {} frames; expected at most all", self.positive_frames, self.frames),
            ));
        }
        for (name, v) in [
            ("frame_choice.sensitivity", self.sensitivity),
            ("frame_choice.specificity", self.specificity),
            ("frame_choice.auc", self.auc),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(WHAT, name, format!("{v}; expected 0 to 1")));
            }
        }
        Ok(())
    }
}

impl ModelBundleMeta {
    /// Checks every field against what the edge can use; the error names the field.
    pub fn validate(&self) -> Result<(), FormatError> {
        let n = self.classes.len();
        if !(2..=16).contains(&n) {
            return Err(invalid(WHAT, "classes", format!("{n} classes; expected 2 to 16")));
        }
        for (i, c) in self.classes.iter().enumerate() {
            if c.is_empty() || c.len() > 64 {
                return Err(invalid(
                    WHAT,
                    "classes",
                    format!("class {i} name has {} bytes; expected 1 to 64", c.len()),
                ));
            }
            if self.classes[..i].contains(c) {
                return Err(invalid(WHAT, "classes", format!("class name {c:?} appears twice")));
            }
        }
        if !(16..=4096).contains(&self.input_size) {
            return Err(invalid(WHAT, "input_size", format!("{}; expected 16 to 4096 pixels", self.input_size)));
        }
        // Physical range of light microscopy: 100X oil (~0.05 µm/px) to whole-slide thumbnails.
        if !(0.01..=1000.0).contains(&self.um_per_px) {
            return Err(invalid(WHAT, "um_per_px", format!("{}; expected 0.01 to 1000", self.um_per_px)));
        }
        // Inputs are on a 0..1 scale; a std far below 1e-3 would blow normalised values up to infinity.
        for c in 0..3 {
            if !(-10.0..=10.0).contains(&self.mean[c]) {
                return Err(invalid(WHAT, "mean", format!("channel {c} is {}; expected -10 to 10", self.mean[c])));
            }
            if !(1e-3..=10.0).contains(&self.std[c]) {
                return Err(invalid(WHAT, "std", format!("channel {c} is {}; expected 0.001 to 10", self.std[c])));
            }
        }
        validate_decision(&self.decision, n, DECISION_FIELDS)?;
        if let Some(f) = &self.frame_choice {
            f.validate(n)?;
        }
        if let Some(f) = &self.familiarity {
            f.validate(n)?;
        }
        if self.form_familiarity.len() > 3 {
            return Err(invalid(
                WHAT,
                "form_familiarity",
                format!("{} forms; expected at most 3", self.form_familiarity.len()),
            ));
        }
        for f in &self.form_familiarity {
            f.stats.validate(n)?;
        }
        if let Some(s) = &self.stain {
            s.validate()?;
        }
        if let Some(m) = self.validation.iter().find(|m| !m.value.is_finite() || m.name.is_empty()) {
            return Err(invalid(WHAT, "validation", format!("metric {:?} = {}", m.name, m.value)));
        }
        Ok(())
    }

    /// Validated, versioned bytes: version 1 without a frame choice or familiarity, 2 with a
    /// frame choice only, 3 with familiarity, 4 with a stain target (so that edges built before
    /// each read the rest).
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        self.validate()?;
        if self.stain.is_some() {
            return seal_versioned(WHAT, MAGIC, VERSION, self);
        }
        match (&self.frame_choice, &self.familiarity) {
            (None, None) if self.form_familiarity.is_empty() => {
                seal_versioned(WHAT, MAGIC, PATCH_LEVEL_VERSION, &MetaV1::of(self))
            }
            (Some(f), None) if self.form_familiarity.is_empty() => seal_versioned(
                WHAT,
                MAGIC,
                FRAME_LEVEL_VERSION,
                &MetaV2 { v1: MetaV1::of(self), frame_choice: Some(f.clone()) },
            ),
            _ => seal_versioned(
                WHAT,
                MAGIC,
                FAMILIARITY_VERSION,
                &MetaV3 {
                    v1: MetaV1::of(self),
                    frame_choice: self.frame_choice.clone(),
                    familiarity: self.familiarity.clone(),
                    form_familiarity: self.form_familiarity.clone(),
                },
            ),
        }
    }

    /// Decodes and validates bytes written by [`Self::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let (version, payload) = open_any_version(WHAT, bytes, MAGIC, PATCH_LEVEL_VERSION..=VERSION)?;
        // One encoding per metadata: each version carries what the one before it lacks.
        let meta = match version {
            PATCH_LEVEL_VERSION => decode_exact::<MetaV1>(WHAT, payload)?.upgrade(),
            FRAME_LEVEL_VERSION => {
                let v2: MetaV2 = decode_exact(WHAT, payload)?;
                if v2.frame_choice.is_none() {
                    return Err(invalid(WHAT, "frame_choice", "a version 2 metadata without one; expected version 1"));
                }
                ModelBundleMeta { frame_choice: v2.frame_choice, ..v2.v1.upgrade() }
            }
            FAMILIARITY_VERSION => {
                let v3: MetaV3 = decode_exact(WHAT, payload)?;
                if v3.familiarity.is_none() && v3.form_familiarity.is_empty() {
                    return Err(invalid(
                        WHAT,
                        "familiarity",
                        "a version 3 metadata without it; expected version 1 or 2",
                    ));
                }
                ModelBundleMeta {
                    frame_choice: v3.frame_choice,
                    familiarity: v3.familiarity,
                    form_familiarity: v3.form_familiarity,
                    ..v3.v1.upgrade()
                }
            }
            _ => {
                let meta: Self = decode_exact(WHAT, payload)?;
                if meta.stain.is_none() {
                    return Err(invalid(WHAT, "stain", "a version 4 metadata without it; expected version 1 to 3"));
                }
                meta
            }
        };
        meta.validate()?;
        Ok(meta)
    }

    /// Checks that `onnx` is the model this metadata describes.
    pub fn verify_onnx(&self, onnx: &[u8]) -> Result<(), FormatError> {
        let actual = super::sha256(onnx);
        if actual == self.onnx_sha256 {
            Ok(())
        } else {
            Err(invalid(
                WHAT,
                "onnx_sha256",
                format!("bundle says {} but the ONNX bytes hash to {}", hex(&self.onnx_sha256), hex(&actual)),
            ))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    pub(crate) fn sample() -> ModelBundleMeta {
        ModelBundleMeta {
            architecture: Architecture::ResNet50,
            task: "mm-vs-nevi".into(),
            classes: vec!["nevus".into(), "melanoma".into()],
            input_size: 256,
            um_per_px: 0.25,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            decision: DecisionThresholds {
                positive_class: 1,
                threshold: 0.42,
                uncertain_band: 0.1,
                rule: ThresholdRule::TargetSensitivity(0.95),
            },
            quantization: Quantization::Int8 { calibration: "percentile-99.99".into(), samples: 512 },
            validation: vec![NamedMetric { name: "slide_auc".into(), value: 0.97 }],
            onnx_sha256: crate::formats::sha256(b"onnx"),
            created_unix_s: 1_790_000_000,
            trainer_version: "0.1.0".into(),
            frame_choice: None,
            familiarity: None,
            form_familiarity: Vec::new(),
            stain: None,
        }
    }

    #[test]
    fn round_trip_and_hash_check() {
        let m = sample();
        let bytes = m.encode().unwrap();
        assert_eq!(&bytes[..4], b"MSCB");
        assert_eq!(ModelBundleMeta::decode(&bytes).unwrap(), m);
        m.verify_onnx(b"onnx").unwrap();
        let err = m.verify_onnx(b"other").unwrap_err().to_string();
        assert!(err.contains("onnx_sha256"), "{err}");
    }

    pub(crate) fn with_frame_choice() -> ModelBundleMeta {
        let mut m = sample();
        let patch_decision = m.decision;
        m.decision.threshold = 0.61;
        m.frame_choice = Some(FrameChoice {
            patch_decision,
            aggregation: Aggregation::Mean,
            frame_width: 1280,
            frame_height: 960,
            frame_um_per_px: 0.25,
            frames: 40,
            positive_frames: 12,
            sensitivity: 1.0,
            specificity: 0.93,
            auc: 0.98,
        });
        m
    }

    #[test]
    fn a_frame_choice_makes_version_2_and_without_one_it_stays_version_1() {
        let v1 = sample().encode().unwrap();
        assert_eq!(u16::from_le_bytes([v1[4], v1[5]]), 1);
        let m = with_frame_choice();
        let v2 = m.encode().unwrap();
        assert_eq!(u16::from_le_bytes([v2[4], v2[5]]), 2);
        let back = ModelBundleMeta::decode(&v2).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.frame_choice.as_ref().unwrap().patch_decision.threshold, 0.42);
        // Version 2 without a frame choice is not how this build writes it.
        let odd =
            seal_versioned(WHAT, MAGIC, FRAME_LEVEL_VERSION, &MetaV2 { v1: MetaV1::of(&sample()), frame_choice: None })
                .unwrap();
        let e = ModelBundleMeta::decode(&odd).unwrap_err().to_string();
        assert!(e.contains("frame_choice") && e.contains("expected version 1"), "{e}");
        for bit in 0..v2.len() * 8 {
            let mut b = v2.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(ModelBundleMeta::decode(&b).is_err(), "bit {bit} flipped");
        }
    }

    /// Familiarity makes version 3, which round-trips; a version 3 without it is refused, and
    /// a version 2 written before it still reads (with none).
    #[test]
    fn familiarity_makes_version_3() {
        let mut m = with_frame_choice();
        m.familiarity = Some(super::super::familiarity::tests::stats());
        let v3 = m.encode().unwrap();
        assert_eq!(u16::from_le_bytes([v3[4], v3[5]]), 3);
        assert_eq!(ModelBundleMeta::decode(&v3).unwrap(), m);
        let bare =
            MetaV3 { v1: MetaV1::of(&sample()), frame_choice: None, familiarity: None, form_familiarity: Vec::new() };
        let odd = seal_versioned(WHAT, MAGIC, FAMILIARITY_VERSION, &bare).unwrap();
        let e = ModelBundleMeta::decode(&odd).unwrap_err().to_string();
        assert!(e.contains("familiarity") && e.contains("expected version 1 or 2"), "{e}");
        let v2 = with_frame_choice().encode().unwrap();
        assert_eq!(ModelBundleMeta::decode(&v2).unwrap().familiarity, None);
        // Statistics for three classes in a two-class bundle are named.
        m.familiarity.as_mut().unwrap().class_means.extend([4.0, 5.0]);
        let e = m.encode().unwrap_err().to_string();
        assert!(e.contains("familiarity.class_means"), "{e}");
    }

    /// A stain target makes version 4, which round-trips; version 4 without one is refused; a
    /// version 3 written before it reads with none; a target that would make NaN is named.
    #[test]
    fn a_stain_target_makes_version_4() {
        use super::super::stain_target::MacenkoStain;
        let mut m = with_frame_choice();
        m.familiarity = Some(super::super::familiarity::tests::stats());
        let v3 = m.encode().unwrap();
        let stain = MacenkoStain { stains: [[0.6, 0.8, 0.0], [0.0, 0.6, 0.8]], max_concentrations: [1.9, 1.1] };
        m.stain = Some(StainTarget::Macenko(stain));
        let v4 = m.encode().unwrap();
        assert_eq!(u16::from_le_bytes([v4[4], v4[5]]), 4);
        assert_eq!(ModelBundleMeta::decode(&v4).unwrap(), m);
        assert_eq!(ModelBundleMeta::decode(&v3).unwrap().stain, None);
        let odd = seal_versioned(WHAT, MAGIC, VERSION, &ModelBundleMeta { stain: None, ..m.clone() }).unwrap();
        let e = ModelBundleMeta::decode(&odd).unwrap_err().to_string();
        assert!(e.contains("stain") && e.contains("expected version 1 to 3"), "{e}");
        m.stain = Some(StainTarget::Macenko(MacenkoStain { max_concentrations: [f32::NAN, 1.0], ..stain }));
        let e = m.encode().unwrap_err().to_string();
        assert!(e.contains("stain.max_concentrations"), "{e}");
    }

    #[test]
    fn frame_choice_fields_are_checked_and_named() {
        type Spoil = fn(&mut FrameChoice);
        let cases: [(Spoil, &str); 6] = [
            (|f| f.patch_decision.threshold = 1.5, "frame_choice.patch_decision.threshold"),
            (|f| f.aggregation = Aggregation::TopK(0), "frame_choice.aggregation"),
            (|f| f.frame_width = 3, "frame_choice.frame_width"),
            (|f| f.frame_um_per_px = f64::NAN, "frame_choice.frame_um_per_px"),
            (|f| f.positive_frames = 41, "frame_choice.positive_frames"),
            (|f| f.auc = f64::NAN, "frame_choice.auc"),
        ];
        for (spoil, field) in cases {
            let mut m = with_frame_choice();
            spoil(m.frame_choice.as_mut().unwrap());
            let e = m.encode().unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn frame_aggregation_rules_as_the_edge_applies_them() {
        assert!((Aggregation::Mean.apply(&mut [0.2, 0.4, 0.9]) - 0.5).abs() < 1e-12);
        assert!((Aggregation::TopK(2).apply(&mut [0.2, 0.4, 0.9]) - 0.65).abs() < 1e-12);
        assert_eq!(Aggregation::Mean.apply(&mut []), 0.0);
        assert_eq!(Aggregation::TopK(3).name(), "top-3");
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error() {
        let bytes = sample().encode().unwrap();
        for len in 0..bytes.len() {
            assert!(ModelBundleMeta::decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(ModelBundleMeta::decode(&b).is_err(), "bit {bit} flipped");
        }
    }

    #[test]
    fn invalid_fields_are_named() {
        let mut m = sample();
        m.um_per_px = -1.0;
        assert!(m.encode().unwrap_err().to_string().contains("um_per_px"));
        let mut m = sample();
        m.decision.positive_class = 2;
        assert!(m.encode().unwrap_err().to_string().contains("positive_class"));
        let mut m = sample();
        m.classes = vec!["a".into(), "a".into()];
        assert!(m.encode().unwrap_err().to_string().contains("twice"));
        // Found by the fuzzer: a NaN target sensitivity passed validation (and NaN != NaN).
        let mut m = sample();
        m.decision.rule = ThresholdRule::TargetSensitivity(f64::NAN);
        assert!(m.encode().unwrap_err().to_string().contains("decision.rule"));
        let mut m = sample();
        m.std[2] = 1.8e-40;
        assert!(m.encode().unwrap_err().to_string().contains("std"));
        let mut bytes = sample().encode().unwrap();
        bytes[4] = 9;
        let err = ModelBundleMeta::decode(&bytes).unwrap_err();
        assert!(matches!(err, FormatError::Checksum { .. }), "{err}");
        assert!(matches!(ModelBundleMeta::decode(b"PK\x03\x04rest-of-zip"), Err(FormatError::BadMagic { .. })));
    }

    proptest! {
        #[test]
        fn arbitrary_valid_metadata_round_trips(
            threshold in 0.0f64..=1.0, band in 0.0f64..=0.5, mpp in 0.01f64..100.0,
            size in 16u32..=4096, names in proptest::collection::btree_set("[a-zA-Z]{1,12}", 2..6),
            hash in any::<[u8; 32]>(), t in any::<u64>()
        ) {
            let mut m = sample();
            m.decision.threshold = threshold;
            m.decision.uncertain_band = band;
            m.um_per_px = mpp;
            m.input_size = size;
            m.classes = names.into_iter().collect();
            m.onnx_sha256 = hash;
            m.created_unix_s = t;
            m.task = t.to_string();
            let back = ModelBundleMeta::decode(&m.encode().unwrap()).unwrap();
            prop_assert_eq!(back, m);
        }
    }
}
