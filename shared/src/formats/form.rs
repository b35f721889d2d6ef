//! The numeric form of an exported model: one type for every place that names one — the
//! trainer's `--form`, the bundle's forms and their familiarity entries, the site file's
//! `model.form` and tuned choice, `tune`'s rows, `check-bundle --form` and the case's model
//! card. Written everywhere as its short name (`f32`, `f16`, `int8`), in text formats and in
//! the bundle's binary metadata alike (a string there, as before the type existed).

use crate::choice::UnknownChoice;
use core::fmt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A model's numeric form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Form {
    /// The exporter's reference form, and every bundle's first.
    #[default]
    F32,
    /// Weights and arithmetic in half precision; input and outputs stay f32.
    F16,
    /// Static INT8 (QOperator), calibrated on validation fields.
    Int8,
}

crate::from_str_by_parse!(Form);

impl Form {
    pub const ALL: [Form; 3] = [Form::F32, Form::F16, Form::Int8];

    /// `f32`, `f16` or `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Form::F32 => "f32",
            Form::F16 => "f16",
            Form::Int8 => "int8",
        }
    }

    /// The form named `s` (its short name, any case).
    pub fn parse(s: &str) -> Result<Self, UnknownChoice> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownChoice::one_of("model form", s, Self::ALL.map(Form::name)))
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl Serialize for Form {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Form {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = Form;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a model form: f32, f16 or int8")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Form, E> {
                Form::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse_print_and_travel_as_their_names() {
        for f in Form::ALL {
            assert_eq!(Form::parse(f.name()), Ok(f));
            assert_eq!(f.name().parse::<Form>(), Ok(f));
        }
        assert_eq!(Form::parse(" INT8 "), Ok(Form::Int8));
        let e = Form::parse("int4").unwrap_err().to_string();
        assert!(e.contains("\"int4\"") && e.contains("f32, f16 or int8"), "{e}");
        assert_eq!(serde_json::to_string(&Form::F16).unwrap(), "\"f16\"");
        assert_eq!(serde_json::from_str::<Form>("\"int8\"").unwrap(), Form::Int8);
        assert!(serde_json::from_str::<Form>("\"fp16\"").unwrap_err().to_string().contains("fp16"));
        // In the bundle's binary metadata a form is the string it was before it had a type.
        let bytes = postcard::to_allocvec(&Form::Int8).unwrap();
        assert_eq!(bytes, postcard::to_allocvec("int8").unwrap());
        assert_eq!(postcard::from_bytes::<Form>(&bytes).unwrap(), Form::Int8);
    }
}
