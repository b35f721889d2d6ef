//! Magnifications by physical resolution. The study names 4X/10X/20X/40X; scanners differ in
//! what "40X" means, so a magnification here is a µm/px and the presets are configurable.

use melanoscope_shared::choice::UnknownChoice;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A named target resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Magnification {
    pub name: String,
    pub um_per_px: f64,
}

impl fmt::Display for Magnification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} µm/px)", self.name, self.um_per_px)
    }
}

/// A preset name (40X, 20X, 10X, 4X, any case) or a µm/px value, as on the command line.
impl std::str::FromStr for Magnification {
    type Err = UnknownChoice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MagnificationPresets::default().parse(s)
    }
}

/// The table of named magnifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MagnificationPresets {
    pub presets: Vec<Magnification>,
}

impl Default for MagnificationPresets {
    /// 40X = 0.25, 20X = 0.5, 10X = 1.0, 4X = 2.5 µm/px (the study lists 0.275, 0.5, 1 and 5).
    fn default() -> Self {
        let m = |name: &str, um_per_px| Magnification { name: name.into(), um_per_px };
        Self { presets: vec![m("40X", 0.25), m("20X", 0.5), m("10X", 1.0), m("4X", 2.5)] }
    }
}

impl MagnificationPresets {
    /// Looks up `40X` (any case), or takes a number of µm/px such as `0.3` or `0.3um`.
    pub fn parse(&self, text: &str) -> Result<Magnification, UnknownChoice> {
        let t = text.trim();
        if let Some(m) = self.presets.iter().find(|m| m.name.eq_ignore_ascii_case(t)) {
            return Ok(m.clone());
        }
        let number = t.trim_end_matches("um").trim_end_matches("µm").trim_end_matches("/px").trim();
        match number.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(Magnification { name: format!("{v}um"), um_per_px: v }),
            _ => Err(UnknownChoice::new(
                "magnification",
                text,
                format!(
                    "one of {} or a µm/px value such as 0.3",
                    self.presets.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// `all` gives every preset; otherwise a comma-separated list.
    pub fn parse_list(&self, text: &str) -> Result<Vec<Magnification>, UnknownChoice> {
        if text.trim().eq_ignore_ascii_case("all") {
            return Ok(self.presets.clone());
        }
        text.split(',').map(|t| self.parse(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_free_values() {
        let p = MagnificationPresets::default();
        assert_eq!(p.parse("40x").unwrap().um_per_px, 0.25);
        assert_eq!(p.parse("0.275um").unwrap().um_per_px, 0.275);
        assert_eq!(p.parse_list("all").unwrap().len(), 4);
        assert_eq!(p.parse_list("20X,4X").unwrap()[1].um_per_px, 2.5);
        let err = p.parse("60X").unwrap_err().to_string();
        assert!(err.contains("40X, 20X, 10X, 4X"), "{err}");
        assert!(p.parse("-1").is_err());
    }
}
