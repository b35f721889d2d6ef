use alloc::string::{String, ToString};
use thiserror::Error;

/// Why bytes could not be decoded (or a value could not be encoded) in a shared format.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FormatError {
    #[error("{what}: {len} bytes is too short; expected at least {min}")]
    Truncated { what: &'static str, len: usize, min: usize },
    #[error("{what}: magic bytes {found:02x?} do not match {expected:02x?}; not a Melanoscope file of this kind")]
    BadMagic { what: &'static str, found: [u8; 4], expected: [u8; 4] },
    #[error("{what}: format version {found} is not supported; this build reads versions up to {supported}")]
    UnsupportedVersion { what: &'static str, found: u16, supported: u16 },
    #[error("{what}: checksum mismatch (stored {stored:08x}, computed {computed:08x}); the bytes are corrupt")]
    Checksum { what: &'static str, stored: u32, computed: u32 },
    #[error("{what}: payload does not decode: {detail}")]
    Decode { what: &'static str, detail: String },
    #[error("{what}: {extra} unexpected bytes after the payload")]
    TrailingBytes { what: &'static str, extra: usize },
    #[error("{what}: field `{field}` is invalid: {problem}")]
    Invalid { what: &'static str, field: &'static str, problem: String },
    #[error("COBS frame is malformed at byte {offset}: {problem}")]
    Cobs { offset: usize, problem: &'static str },
    #[error("{what}: cannot encode: {detail}")]
    Encode { what: &'static str, detail: String },
    #[error("{0}")]
    Io(String),
}

impl FormatError {
    /// The message without its leading "<what>: ", for a caller that names the file itself.
    pub fn detail(&self) -> String {
        let text = self.to_string();
        let what = match self {
            FormatError::Truncated { what, .. }
            | FormatError::BadMagic { what, .. }
            | FormatError::UnsupportedVersion { what, .. }
            | FormatError::Checksum { what, .. }
            | FormatError::Decode { what, .. }
            | FormatError::TrailingBytes { what, .. }
            | FormatError::Invalid { what, .. }
            | FormatError::Encode { what, .. } => *what,
            FormatError::Cobs { .. } | FormatError::Io(_) => return text,
        };
        match text.strip_prefix(what).and_then(|t| t.strip_prefix(": ")) {
            Some(rest) => rest.into(),
            None => text,
        }
    }
}

pub(crate) fn invalid(what: &'static str, field: &'static str, problem: impl Into<String>) -> FormatError {
    FormatError::Invalid { what, field, problem: problem.into() }
}
