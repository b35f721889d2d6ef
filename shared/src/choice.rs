//! The error of every fixed-choice value the project parses (model forms, aggregation rules,
//! architectures, tasks, speed modes, CAM methods, presets, magnifications): what was asked for, the value, and the
//! spellings it accepts. Command-line options parse through these (`FromStr`), so clap shows
//! the same message with the option's name.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// A value that is not one of an option's choices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; expected {expected}")]
pub struct UnknownChoice {
    pub what: &'static str,
    pub value: String,
    pub expected: String,
}

impl UnknownChoice {
    pub fn new(what: &'static str, value: &str, expected: impl Into<String>) -> Self {
        Self { what, value: value.to_string(), expected: expected.into() }
    }

    /// `a, b or c` from the choices' names.
    pub fn one_of<'a>(what: &'static str, value: &str, names: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<&str> = names.into_iter().collect();
        let expected = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        };
        Self::new(what, value, expected)
    }
}

/// Implements `FromStr` through a type's `parse` function.
#[macro_export]
macro_rules! from_str_by_parse {
    ($($t:ty),*) => {$(
        impl core::str::FromStr for $t {
            type Err = $crate::choice::UnknownChoice;
            fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    )*};
}
