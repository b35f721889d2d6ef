//! Model-bundle metadata: everything the edge needs to use an exported model exactly as it
//! was trained and validated. Bytes: `"MSCB"`, version (u16 LE), postcard payload, CRC32.

use super::envelope::{decode_exact, open_versioned, seal_versioned};
use super::error::invalid;
use super::{FormatError, hex};
use crate::metrics::ThresholdRule;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

const MAGIC: [u8; 4] = *b"MSCB";
const VERSION: u16 = 1;
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
    /// The form's short name: `f32`, `f16` or `int8` (how settings and reports name it).
    pub fn name(&self) -> &'static str {
        match self {
            Quantization::F32 => "f32",
            Quantization::F16 => "f16",
            Quantization::Int8 { .. } => "int8",
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
        let d = &self.decision;
        if usize::from(d.positive_class) >= n {
            return Err(invalid(WHAT, "decision.positive_class", format!("{}; only {n} classes", d.positive_class)));
        }
        if !(0.0..=1.0).contains(&d.threshold) {
            return Err(invalid(WHAT, "decision.threshold", format!("{}; expected 0 to 1", d.threshold)));
        }
        if !(0.0..=0.5).contains(&d.uncertain_band) {
            return Err(invalid(WHAT, "decision.uncertain_band", format!("{}; expected 0 to 0.5", d.uncertain_band)));
        }
        if let ThresholdRule::TargetSensitivity(t) = d.rule
            && !(t > 0.0 && t <= 1.0)
        {
            return Err(invalid(WHAT, "decision.rule", format!("target sensitivity {t}; expected above 0, at most 1")));
        }
        if let Some(m) = self.validation.iter().find(|m| !m.value.is_finite() || m.name.is_empty()) {
            return Err(invalid(WHAT, "validation", format!("metric {:?} = {}", m.name, m.value)));
        }
        Ok(())
    }

    /// Validated, versioned bytes.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        self.validate()?;
        seal_versioned(WHAT, MAGIC, VERSION, self)
    }

    /// Decodes and validates bytes written by [`Self::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let meta: Self = decode_exact(WHAT, open_versioned(WHAT, bytes, MAGIC, VERSION)?)?;
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
