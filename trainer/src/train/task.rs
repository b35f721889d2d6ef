//! The study's classification tasks and which patches each one trains on.

use crate::data::loader::{Sample, samples_where};
use melanoscope_slides::manifest::ManifestRow;
use melanoscope_slides::split::{Partition, PatientSplit};

/// A task: which lesion labels form which class. For the melanoma tasks the melanoma class is
/// class 1, the positive class of every binary metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    MmVsNevi,
    MmVsIn,
    MmVsCn,
    MmVsJn,
    Nevi3,
    All4,
}

melanoscope_shared::from_str_by_parse!(Task);

impl Task {
    pub const ALL: [Task; 6] = [Task::MmVsNevi, Task::MmVsIn, Task::MmVsCn, Task::MmVsJn, Task::Nevi3, Task::All4];

    pub fn name(&self) -> &'static str {
        match self {
            Task::MmVsNevi => "mm-vs-nevi",
            Task::MmVsIn => "mm-vs-in",
            Task::MmVsCn => "mm-vs-cn",
            Task::MmVsJn => "mm-vs-jn",
            Task::Nevi3 => "nevi-3class",
            Task::All4 => "all-4class",
        }
    }

    pub fn parse(s: &str) -> Result<Self, melanoscope_shared::choice::UnknownChoice> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| melanoscope_shared::choice::UnknownChoice::one_of("task", s, Self::ALL.map(|t| t.name())))
    }

    /// Class names, in class-index order.
    pub fn classes(&self) -> Vec<&'static str> {
        match self {
            Task::MmVsNevi => vec!["nevus", "MM"],
            Task::MmVsIn => vec!["IN", "MM"],
            Task::MmVsCn => vec!["CN", "MM"],
            Task::MmVsJn => vec!["JN", "MM"],
            Task::Nevi3 => vec!["IN", "CN", "JN"],
            Task::All4 => vec!["MM", "IN", "CN", "JN"],
        }
    }

    /// The class of a patch labelled `label`, or `None` when the task leaves it out.
    pub fn class_of(&self, label: &str) -> Option<usize> {
        let l = label.trim().to_ascii_uppercase();
        match self {
            Task::MmVsNevi => match l.as_str() {
                "MM" => Some(1),
                "IN" | "CN" | "JN" => Some(0),
                _ => None,
            },
            _ => self.classes().iter().position(|c| c.eq_ignore_ascii_case(&l)),
        }
    }
}

/// Whether a patch cut at `row_magnification` belongs to `magnification`: `mixed` takes every
/// magnification (the study's mixed-magnification experiment).
pub fn magnification_matches(magnification: &str, row_magnification: &str) -> bool {
    magnification.eq_ignore_ascii_case("mixed") || row_magnification.eq_ignore_ascii_case(magnification)
}

/// The rows the task uses at `magnification` among the patients `split` puts in `partition`.
pub fn task_rows<'a>(
    rows: &'a [ManifestRow],
    task: Task,
    magnification: &str,
    split: &PatientSplit,
    partition: Partition,
) -> Vec<&'a ManifestRow> {
    rows.iter()
        .filter(|r| {
            magnification_matches(magnification, &r.magnification)
                && split.partition_of(&r.patient_id) == Some(partition)
                && task.class_of(&r.label).is_some()
        })
        .collect()
}

/// The samples of [`task_rows`], in the same order.
pub fn task_samples(
    rows: &[ManifestRow],
    task: Task,
    magnification: &str,
    split: &PatientSplit,
    partition: Partition,
) -> Vec<Sample> {
    samples_where(task_rows(rows, task, magnification, split, partition), |r| task.class_of(&r.label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_map_the_studys_labels() {
        assert_eq!(Task::parse("MM-vs-Nevi"), Ok(Task::MmVsNevi));
        assert!(Task::parse("bcc").unwrap_err().to_string().contains("nevi-3class"));
        let t = Task::MmVsNevi;
        assert_eq!(
            [t.class_of("MM"), t.class_of("in"), t.class_of("CN"), t.class_of("JN")],
            [Some(1), Some(0), Some(0), Some(0)]
        );
        assert_eq!(
            (Task::MmVsCn.class_of("IN"), Task::MmVsCn.class_of("CN"), Task::MmVsCn.class_of("MM")),
            (None, Some(0), Some(1))
        );
        assert_eq!((Task::Nevi3.class_of("MM"), Task::Nevi3.class_of("JN")), (None, Some(2)));
        assert_eq!(Task::All4.classes().len(), 4);
    }

    #[test]
    fn samples_come_from_the_partition_magnification_and_classes_asked_for() {
        use melanoscope_slides::cohort::Lesion;
        let row = |patient: &str, label: &str, mag: &str, x0: i64| ManifestRow {
            slide: format!("/s/{patient}.tif"),
            slide_id: patient.into(),
            patient_id: patient.into(),
            label: label.into(),
            site: None,
            magnification: mag.into(),
            requested_um_per_px: 0.25,
            effective_um_per_px: 0.25,
            level: 0,
            x0,
            y0: 0,
            size0: 256,
            patch_size: 256,
            background_fraction: 0.1,
            slide_label: label.into(),
            region_id: None,
            region_name: None,
            region_class: None,
            region_overlap: None,
        };
        let rows = vec![
            row("P1", "MM", "40X", 0),
            row("P1", "MM", "20X", 256),
            row("P2", "JN", "40X", 512),
            row("P3", "IN", "40X", 768),
            row("P4", "CN", "40X", 1024),
        ];
        let split = PatientSplit {
            assignments: [
                ("P1".to_string(), (Partition::Train, Lesion::MM)),
                ("P2".to_string(), (Partition::Train, Lesion::JN)),
                ("P3".to_string(), (Partition::Validation, Lesion::IN)),
                ("P4".to_string(), (Partition::Train, Lesion::CN)),
            ]
            .into(),
        };
        let train = task_samples(&rows, Task::MmVsJn, "40x", &split, Partition::Train);
        assert_eq!(train.iter().map(|s| (s.x0, s.class)).collect::<Vec<_>>(), vec![(0, 1), (512, 0)]);
        let val = task_samples(&rows, Task::MmVsNevi, "40X", &split, Partition::Validation);
        assert_eq!(val.iter().map(|s| (s.x0, s.class)).collect::<Vec<_>>(), vec![(768, 0)]);
        assert!(task_samples(&rows, Task::Nevi3, "40X", &split, Partition::Test).is_empty());
    }
}
