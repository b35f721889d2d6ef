//! Which inference runtime a setting, option or report names: `tract` or `onnxruntime` (the
//! spelling of site files, command lines and `tune`'s table).

use crate::choice::UnknownChoice;
use core::fmt;
use serde::{Deserialize, Serialize};

/// An inference runtime, by name (the engine resolves it to a loaded runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    Tract,
    Onnxruntime,
}

crate::from_str_by_parse!(BackendKind);

impl BackendKind {
    pub const ALL: [BackendKind; 2] = [BackendKind::Tract, BackendKind::Onnxruntime];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Tract => "tract",
            BackendKind::Onnxruntime => "onnxruntime",
        }
    }

    /// The runtime named `s`.
    pub fn parse(s: &str) -> Result<Self, UnknownChoice> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownChoice::one_of("backend", s, Self::ALL.map(Self::name)))
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}
