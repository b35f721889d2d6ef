//! Versioned binary formats: the model-bundle metadata, the screening record, and the
//! append-only record log (COBS frames of version + postcard payload + CRC32).
//!
//! Every decoder treats its input as untrusted: truncated, bit-flipped or foreign bytes
//! give a [`FormatError`] that says what was expected, never a panic.

mod backend;
mod bundle;
mod cobs;
mod envelope;
mod error;
mod familiarity;
mod form;
#[cfg(feature = "std")]
mod key_file;
mod log;
#[cfg(feature = "std")]
mod log_file;
mod model_file;
mod record;
mod stain_target;

use alloc::string::String;
pub use backend::BackendKind;
pub use bundle::{
    Architecture, DecisionThresholds, FormFamiliarity, FrameChoice, ModelBundleMeta, NamedMetric, Quantization,
};
pub use cobs::{cobs_decode, cobs_encode};
pub use error::FormatError;
pub use familiarity::{Familiarity, FamiliarityScorer};
pub use form::Form;
#[cfg(feature = "std")]
pub use key_file::{KeyFileError, read_key_file};
pub use log::{Damage, LogScan, encode_log_frame, scan_log};
#[cfg(feature = "std")]
pub use log_file::{LogStorage, RecordLogWriter, read_log_file};
pub use model_file::{BundleForm, BundleSignature, ModelFile, ReferenceField, SignatureStatus, parse_key_hex};
pub use record::{FieldScore, MAX_CASE_ID_LEN, ModelIdentity, RecordKind, ScreeningRecord, Verdict, check_case_id};
pub use stain_target::{LabStats, MacenkoStain, StainTarget};

/// SHA-256 of `bytes` (the ONNX model, for the bundle and for every screening record).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Lower-case hex of a hash, for messages and exports.
pub fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
