//! The study's experiments as presets and a grid runner: each architecture is trained on each
//! preset (task at a magnification), evaluated on the test patients with validation-chosen
//! thresholds, and the results gathered into one set of study-style tables (Markdown, CSV,
//! JSON) with ROC curves and confusion matrices as SVG.

pub mod colour_baseline;
pub mod grid;
pub mod plots;

#[cfg(test)]
mod tests;

use crate::train::task::Task;
use melanoscope_shared::choice::UnknownChoice;

/// A task at a magnification (`40X`, … or `mixed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub task: Task,
    pub magnification: String,
}

impl Preset {
    /// `task@magnification`, the name used on the command line and for run folders.
    pub fn name(&self) -> String {
        format!("{}@{}", self.task.name(), self.magnification)
    }

    pub fn parse(s: &str) -> Result<Self, UnknownChoice> {
        let (task, mag) = s
            .split_once('@')
            .ok_or_else(|| UnknownChoice::new("preset", s, "task@magnification, e.g. mm-vs-nevi@40X"))?;
        let mag = mag.trim();
        if !(mag.eq_ignore_ascii_case("mixed")
            || ["4X", "10X", "20X", "40X"].iter().any(|m| m.eq_ignore_ascii_case(mag)))
        {
            return Err(UnknownChoice::one_of("preset magnification", mag, ["4X", "10X", "20X", "40X", "mixed"]));
        }
        Ok(Self { task: Task::parse(task)?, magnification: mag.to_ascii_uppercase().replace("MIXED", "mixed") })
    }
}

/// The study's experiments: melanoma vs nevi at each magnification and mixed, melanoma vs each
/// nevus type at 40X, and the three nevi among themselves at 40X.
pub fn study_presets() -> Vec<Preset> {
    let p = |task, mag: &str| Preset { task, magnification: mag.into() };
    vec![
        p(Task::MmVsNevi, "4X"),
        p(Task::MmVsNevi, "10X"),
        p(Task::MmVsNevi, "20X"),
        p(Task::MmVsNevi, "40X"),
        p(Task::MmVsNevi, "mixed"),
        p(Task::MmVsIn, "40X"),
        p(Task::MmVsCn, "40X"),
        p(Task::MmVsJn, "40X"),
        p(Task::Nevi3, "40X"),
    ]
}

/// `all` (the study's presets) or a comma-separated list of `task@magnification`.
pub fn parse_presets(s: &str) -> Result<Vec<Preset>, UnknownChoice> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(study_presets());
    }
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(Preset::parse).collect()
}
