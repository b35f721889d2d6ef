//! The screening record: one verdict of the edge device, kept for later review.

use super::FormatError;
use super::error::invalid;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// What the device told the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    MelanomaSuspected,
    Nevus,
    Uncertain,
    InsufficientTissue,
    OutOfFocus,
    Underexposed,
    Overexposed,
    /// The frame, at the model's µm/px, is smaller than one field: nothing can be screened
    /// however much tissue it shows (a cropped or tiny image, or a too-coarse objective).
    FrameTooSmall,
    /// Most tissue fields are unlike anything the model was trained on (another organ or
    /// stain, a frozen or torn section, debris): no melanoma/nevus verdict is given.
    UnfamiliarTissue,
}

impl Verdict {
    /// Every verdict, in declaration order.
    pub const ALL: [Verdict; 9] = [
        Verdict::MelanomaSuspected,
        Verdict::Nevus,
        Verdict::Uncertain,
        Verdict::InsufficientTissue,
        Verdict::OutOfFocus,
        Verdict::Underexposed,
        Verdict::Overexposed,
        Verdict::FrameTooSmall,
        Verdict::UnfamiliarTissue,
    ];

    /// The verdict whose [`Verdict::label`] is `label`.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.label() == label)
    }

    /// The text shown on the screen and written to exports.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::MelanomaSuspected => "MELANOMA SUSPECTED",
            Verdict::Nevus => "NEVUS",
            Verdict::Uncertain => "UNCERTAIN",
            Verdict::InsufficientTissue => "INSUFFICIENT TISSUE",
            Verdict::OutOfFocus => "OUT OF FOCUS",
            Verdict::Underexposed => "UNDEREXPOSED",
            Verdict::Overexposed => "OVEREXPOSED",
            Verdict::FrameTooSmall => "FRAME TOO SMALL",
            Verdict::UnfamiliarTissue => "UNFAMILIAR TISSUE",
        }
    }
}

/// Why the record was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    VerdictChange,
    /// The user froze the view; `bundle` names the snapshot folder (frame JPEG, CAM PNG, record).
    Snapshot {
        bundle: String,
    },
    /// Screening could not start (or stopped): what the technician was shown.
    Fault {
        message: String,
    },
    /// A case (one patient's slides) was opened; records after it carry its id.
    CaseOpened,
    /// The open case was closed, with its case verdict (the highest sustained frame verdict;
    /// `None`: no frame got one).
    CaseClosed {
        verdict: Option<Verdict>,
    },
    /// The device restarted with this case open (a power cut or crash): its records are
    /// intact, it was not closed.
    CaseInterrupted,
}

/// Probabilities of one field of the frame's grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldScore {
    pub col: u16,
    pub row: u16,
    pub probabilities: Vec<f32>,
}

/// Which bundle produced a record, and who vouched for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// SHA-256 of the whole bundle file (metadata, thresholds, every form, signature): two
    /// bundles that share an ONNX graph but not a threshold are told apart.
    pub bundle_sha256: [u8; 32],
    /// The ed25519 public key that signed it; `None`: an unsigned bundle.
    pub signer: Option<[u8; 32]>,
}

/// One entry of the screening log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScreeningRecord {
    pub time_unix_ms: u64,
    pub frame_id: u64,
    pub kind: RecordKind,
    pub verdict: Verdict,
    /// Aggregated probability of the positive class behind the verdict.
    pub probability: f32,
    pub fields: Vec<FieldScore>,
    /// SHA-256 of the ONNX model that produced the probabilities.
    pub model_sha256: [u8; 32],
    /// Objective in use, e.g. "10x".
    pub objective: String,
    /// The bundle and its signer; `None` in records written before the log's version 2.
    pub model: Option<ModelIdentity>,
    /// The case open when the record was written (version 3).
    pub case: Option<String>,
    /// Each field's familiarity score, in the order of `fields`; empty when the bundle has no
    /// familiarity statistics (or in records before version 3).
    pub familiarity: Vec<f32>,
}

/// A record as version 2 of the log stored it (no case, no familiarity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScreeningRecordV2 {
    pub v1: ScreeningRecordV1,
    pub model: Option<ModelIdentity>,
}

impl From<ScreeningRecordV2> for ScreeningRecord {
    fn from(r: ScreeningRecordV2) -> Self {
        ScreeningRecord { model: r.model, ..r.v1.into() }
    }
}

/// Longest case id: a hospital accession number or barcode fits with room to spare.
pub const MAX_CASE_ID_LEN: usize = 64;

/// Checks a case id: 1 to 64 ASCII letters, digits, `-`, `_` or `.`, not starting with `.`
/// (it names a folder: no path separators, control characters or hidden names).
pub fn check_case_id(id: &str) -> Result<(), FormatError> {
    let bad = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    if id.is_empty() || id.len() > MAX_CASE_ID_LEN {
        return Err(invalid("case id", "length", format!("{} bytes; expected 1 to {MAX_CASE_ID_LEN}", id.len())));
    }
    if let Some(c) = bad {
        return Err(invalid(
            "case id",
            "characters",
            format!("\"{}\" holds {c:?}; expected letters, digits, '-', '_' or '.'", id.escape_debug()),
        ));
    }
    if id.starts_with('.') {
        return Err(invalid("case id", "characters", format!("{id:?} starts with '.'; expected a letter or digit")));
    }
    Ok(())
}

/// A record as version 1 of the log stored it (no model identity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScreeningRecordV1 {
    pub time_unix_ms: u64,
    pub frame_id: u64,
    pub kind: RecordKind,
    pub verdict: Verdict,
    pub probability: f32,
    pub fields: Vec<FieldScore>,
    pub model_sha256: [u8; 32],
    pub objective: String,
}

impl From<ScreeningRecordV1> for ScreeningRecord {
    fn from(r: ScreeningRecordV1) -> Self {
        ScreeningRecord {
            time_unix_ms: r.time_unix_ms,
            frame_id: r.frame_id,
            kind: r.kind,
            verdict: r.verdict,
            probability: r.probability,
            fields: r.fields,
            model_sha256: r.model_sha256,
            objective: r.objective,
            model: None,
            case: None,
            familiarity: Vec::new(),
        }
    }
}

impl ScreeningRecord {
    /// Probabilities must be finite and within 0..1.
    pub fn validate(&self) -> Result<(), FormatError> {
        const WHAT: &str = "screening record";
        let ok = |p: f32| p.is_finite() && (0.0..=1.0).contains(&p);
        if !ok(self.probability) {
            return Err(invalid(WHAT, "probability", format!("{}; expected 0 to 1", self.probability)));
        }
        for f in &self.fields {
            if let Some(p) = f.probabilities.iter().find(|p| !ok(**p)) {
                return Err(invalid(WHAT, "fields", format!("field {},{} has probability {p}", f.col, f.row)));
            }
        }
        if !self.familiarity.is_empty() && self.familiarity.len() != self.fields.len() {
            return Err(invalid(
                WHAT,
                "familiarity",
                format!("{} scores for {} fields; expected one a field", self.familiarity.len(), self.fields.len()),
            ));
        }
        if let Some(v) = self.familiarity.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(invalid(WHAT, "familiarity", format!("score {v}; expected a finite value of at least 0")));
        }
        if let Some(case) = &self.case {
            check_case_id(case)?;
        }
        Ok(())
    }
}
