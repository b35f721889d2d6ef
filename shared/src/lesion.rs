//! The study's lesion classes.

use core::fmt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Lesion {
    /// Melanoma.
    MM,
    /// Intradermal nevus.
    IN,
    /// Compound nevus.
    CN,
    /// Junctional nevus.
    JN,
}

impl Lesion {
    pub const ALL: [Lesion; 4] = [Lesion::MM, Lesion::IN, Lesion::CN, Lesion::JN];

    pub fn code(&self) -> &'static str {
        match self {
            Lesion::MM => "MM",
            Lesion::IN => "IN",
            Lesion::CN => "CN",
            Lesion::JN => "JN",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code().eq_ignore_ascii_case(s.trim()))
    }

    pub fn is_nevus(&self) -> bool {
        *self != Lesion::MM
    }
}

impl fmt::Display for Lesion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.code())
    }
}
