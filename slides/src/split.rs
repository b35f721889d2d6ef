//! Patient-level splits: every slide of a patient lands in the same partition, so no patient's
//! tissue is seen in training and again in validation or test. Stratified by the patient's
//! label (MM if any of their slides is melanoma, else their most frequent nevus type), seeded.

use crate::cohort::{CohortSlide, Lesion};
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::rng::SplitMix64;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Partition {
    Train,
    Validation,
    Test,
}

impl Partition {
    pub fn name(&self) -> &'static str {
        match self {
            Partition::Train => "train",
            Partition::Validation => "validation",
            Partition::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Partition::Train, Partition::Validation, Partition::Test].into_iter().find(|p| p.name() == s.trim())
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[derive(Debug, Error)]
pub enum SplitError {
    #[error("split fractions {0:?} must be non-negative and sum to 1")]
    Fractions([f64; 3]),
    #[error("k-fold needs k >= 2 and no more folds than patients ({patients}); got k = {k}")]
    Folds { k: usize, patients: usize },
    #[error("cannot read split file {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("split file {path}: {problems}")]
    Invalid { path: PathBuf, problems: String },
    #[error("cannot write split file {path}: {detail}")]
    Write { path: PathBuf, detail: String },
}

/// Patient → partition, with the seed and fractions that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientSplit {
    pub assignments: BTreeMap<String, (Partition, Lesion)>,
}

/// The slides of a patch manifest as cohort entries, for splitting imported patch sets: one
/// entry per slide id with its patient and slide label. A row without a patient id becomes its
/// own patient (named after its file); how many did is returned beside, to be said.
pub fn slides_from_manifest(rows: &[crate::manifest::ManifestRow]) -> (Vec<CohortSlide>, usize) {
    let mut seen: BTreeMap<(String, String), CohortSlide> = BTreeMap::new();
    let mut own_patient = 0;
    for r in rows {
        let Some(label) = Lesion::parse(&r.slide_label).or_else(|| Lesion::parse(&r.label)) else { continue };
        let patient = if r.patient_id.trim().is_empty() {
            own_patient += 1;
            Path::new(&r.slide).file_stem().map_or_else(|| r.slide.clone(), |s| s.to_string_lossy().into_owned())
        } else {
            r.patient_id.clone()
        };
        let slide_id = if r.slide_id.trim().is_empty() { patient.clone() } else { r.slide_id.clone() };
        seen.entry((patient.clone(), slide_id.clone())).or_insert_with(|| CohortSlide {
            line: 0,
            slide: r.slide.clone().into(),
            slide_id,
            patient_id: patient,
            label,
            site: r.site.clone(),
            um_per_px: None,
            annotations: None,
        });
    }
    (seen.into_values().collect(), own_patient)
}

/// A warning when most patients of a patch manifest hold a single patch (at least 10 patients,
/// 90% of them with one patch each): the ids are then per file, as in public patch sets made by
/// augmentation or cut from a few slides, and near-duplicate patches of one lesion can fall on
/// both sides of the split.
pub fn single_patch_patients(rows: &[crate::manifest::ManifestRow]) -> Option<String> {
    let mut per_patient: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        let id = if r.patient_id.trim().is_empty() { r.slide.as_str() } else { r.patient_id.as_str() };
        *per_patient.entry(id).or_default() += 1;
    }
    let single = per_patient.values().filter(|n| **n == 1).count();
    let patients = per_patient.len();
    (patients >= 10 && single * 10 >= patients * 9).then(|| {
        format!(
            "{single} of {patients} patients hold a single patch each: the patient ids look like one per file \
             (a public patch set made by augmentation, or cut from a few slides), so near-duplicate patches of one \
             lesion can fall in both training and test, and the test figures (their slide and patient rows \
             too, which then equal the patch row) overstate. Give each patch its real patient with \
             `import-patches --patients FILE.csv` (columns file, patient_id, slide_id)"
        )
    })
}

/// The stratum of each patient: MM if any slide is melanoma, else the most frequent nevus
/// type (ties broken in IN, CN, JN order).
pub fn patient_strata(slides: &[CohortSlide]) -> BTreeMap<String, Lesion> {
    let mut counts: BTreeMap<&str, BTreeMap<Lesion, usize>> = BTreeMap::new();
    for s in slides {
        *counts.entry(&s.patient_id).or_default().entry(s.label).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(p, c)| {
            let label = if c.contains_key(&Lesion::MM) {
                Lesion::MM
            } else {
                // max_by_key keeps the last maximum; iterate in reverse so the first in order wins.
                c.iter().rev().max_by_key(|(_, n)| **n).map_or(Lesion::IN, |(l, _)| *l)
            };
            (p.to_string(), label)
        })
        .collect()
}

/// Patients of each stratum in a seeded random order (sorted first, so the order of the CSV does not matter).
fn shuffled_strata(slides: &[CohortSlide], seed: u64) -> BTreeMap<Lesion, Vec<String>> {
    let mut by_label: BTreeMap<Lesion, Vec<String>> = BTreeMap::new();
    for (patient, label) in patient_strata(slides) {
        by_label.entry(label).or_default().push(patient);
    }
    let mut rng = SplitMix64::new(seed);
    for patients in by_label.values_mut() {
        for i in (1..patients.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            patients.swap(i, j);
        }
    }
    by_label
}

/// Stratified patient split with `fractions` = (train, validation, test), e.g. (0.70, 0.15, 0.15).
/// A stratum of at least three patients always gives validation and test one patient each,
/// so that thresholds can be chosen and results reported for every class.
pub fn split_patients(slides: &[CohortSlide], fractions: [f64; 3], seed: u64) -> Result<PatientSplit, SplitError> {
    let sum: f64 = fractions.iter().sum();
    if fractions.iter().any(|f| !(f.is_finite() && *f >= 0.0)) || (sum - 1.0).abs() > 1e-6 {
        return Err(SplitError::Fractions(fractions));
    }
    let mut assignments = BTreeMap::new();
    for (label, patients) in shuffled_strata(slides, seed) {
        let n = patients.len();
        let share = |f: f64| (n as f64 * f).round() as usize;
        let (mut val, mut test) = (share(fractions[1]), share(fractions[2]));
        if n >= 3 {
            val = val.max(usize::from(fractions[1] > 0.0));
            test = test.max(usize::from(fractions[2] > 0.0));
        }
        // Training keeps at least one patient whenever it has a share.
        while val + test >= n && n > 0 && fractions[0] > 0.0 && val + test > 0 {
            if val >= test { val -= 1 } else { test -= 1 }
        }
        for (i, p) in patients.into_iter().enumerate() {
            let part = if i < val {
                Partition::Validation
            } else if i < val + test {
                Partition::Test
            } else {
                Partition::Train
            };
            assignments.insert(p, (part, label));
        }
    }
    Ok(PatientSplit { assignments })
}

/// Stratified k-fold by patient: fold `i` holds the patients dealt to it round-robin within each stratum.
pub fn kfold_patients(slides: &[CohortSlide], k: usize, seed: u64) -> Result<Vec<BTreeSet<String>>, SplitError> {
    let patients = patient_strata(slides).len();
    if k < 2 || k > patients {
        return Err(SplitError::Folds { k, patients });
    }
    let mut folds = vec![BTreeSet::new(); k];
    let mut next = 0;
    for (_, stratum) in shuffled_strata(slides, seed) {
        for p in stratum {
            folds[next % k].insert(p);
            next += 1;
        }
    }
    Ok(folds)
}

impl PatientSplit {
    pub fn partition_of(&self, patient: &str) -> Option<Partition> {
        self.assignments.get(patient).map(|(p, _)| *p)
    }

    /// Patients per (partition, stratum).
    pub fn counts(&self) -> BTreeMap<(Partition, Lesion), usize> {
        let mut c = BTreeMap::new();
        for (part, label) in self.assignments.values() {
            *c.entry((*part, *label)).or_default() += 1;
        }
        c
    }

    /// Writes `patient_id,partition,stratum` rows atomically.
    pub fn save(&self, path: &Path) -> Result<(), SplitError> {
        let mut text = String::from("patient_id,partition,stratum\n");
        for (patient, (part, label)) in &self.assignments {
            text.push_str(&format!("{patient},{part},{label}\n"));
        }
        write_atomic(path, text.as_bytes())
            .map_err(|e| SplitError::Write { path: path.into(), detail: melanoscope_shared::errors::error_chain(&e) })
    }

    /// Reads a split file, refusing any patient listed in two partitions.
    pub fn load(path: &Path) -> Result<Self, SplitError> {
        let text = melanoscope_shared::bounded::read_bounded_text(path, melanoscope_shared::bounded::MAX_CSV_BYTES)
            .map_err(|e| SplitError::Read {
                path: path.into(),
                detail: melanoscope_shared::errors::error_chain(&e.into_io()),
            })?;
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        let mut assignments: BTreeMap<String, (Partition, Lesion)> = BTreeMap::new();
        let mut first_line: BTreeMap<String, u64> = BTreeMap::new();
        let mut problems = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| SplitError::Invalid {
                path: path.into(),
                problems: melanoscope_shared::errors::error_chain(&e),
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let (patient, part, label) = (record.get(0), record.get(1).and_then(Partition::parse), record.get(2));
            let (Some(patient), Some(part), Some(label)) = (patient, part, label.and_then(Lesion::parse)) else {
                problems.push(format!("line {line}: expected patient_id,train|validation|test,MM|IN|CN|JN"));
                continue;
            };
            match assignments.get(patient) {
                Some((other, _)) if *other != part => problems.push(format!(
                    "line {line}: patient {patient} is in {part} here and in {other} on line {}; a patient's \
                     slides must stay in one partition",
                    first_line[patient]
                )),
                Some(_) => {}
                None => {
                    assignments.insert(patient.to_string(), (part, label));
                    first_line.insert(patient.to_string(), line);
                }
            }
        }
        if problems.is_empty() {
            Ok(Self { assignments })
        } else {
            Err(SplitError::Invalid { path: path.into(), problems: problems.join("; ") })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cohort(patients_per_class: usize) -> Vec<CohortSlide> {
        let mut slides = Vec::new();
        for (c, label) in Lesion::ALL.into_iter().enumerate() {
            for p in 0..patients_per_class {
                for s in 0..2 {
                    slides.push(CohortSlide {
                        line: slides.len() + 2,
                        slide: PathBuf::from(format!("{label}-{p}-{s}.tif")),
                        slide_id: format!("{label}-{p}-{s}"),
                        patient_id: format!("P{c}{p:03}"),
                        label,
                        site: None,
                        um_per_px: None,
                        annotations: None,
                    });
                }
            }
        }
        slides
    }

    fn patch(patient: &str, file: &str) -> crate::manifest::ManifestRow {
        crate::manifest::ManifestRow {
            slide: file.into(),
            slide_id: patient.into(),
            patient_id: patient.into(),
            label: "MM".into(),
            site: None,
            magnification: "40X".into(),
            requested_um_per_px: 0.25,
            effective_um_per_px: 0.25,
            level: 0,
            x0: 0,
            y0: 0,
            size0: 256,
            patch_size: 256,
            background_fraction: 0.1,
            slide_label: "MM".into(),
            region_id: None,
            region_name: None,
            region_class: None,
            region_overlap: None,
        }
    }

    /// A public patch set's manifest, one patient per file: warned about near-duplicates across
    /// the split (it was split without a word). Patients with several patches each: no warning.
    #[test]
    fn one_patch_per_patient_is_warned_about() {
        let per_file: Vec<_> = (0..40).map(|i| patch(&format!("img{i}"), &format!("MM/img{i}.png"))).collect();
        let w = single_patch_patients(&per_file).expect("a warning");
        assert!(w.contains("40 of 40 patients") && w.contains("near-duplicate") && w.contains("--patients"), "{w}");
        let real: Vec<_> = (0..40).map(|i| patch(&format!("P{}", i / 4), &format!("MM/P{}_{i}.png", i / 4))).collect();
        assert_eq!(single_patch_patients(&real), None);
        assert_eq!(single_patch_patients(&per_file[..5]), None, "too few patients to tell");
    }

    #[test]
    fn split_is_stratified_seeded_and_leak_free() {
        let slides = cohort(20);
        let split = split_patients(&slides, [0.7, 0.15, 0.15], 7).unwrap();
        for label in Lesion::ALL {
            let c = split.counts();
            assert_eq!(
                (c[&(Partition::Train, label)], c[&(Partition::Validation, label)], c[&(Partition::Test, label)]),
                (14, 3, 3)
            );
        }
        assert_eq!(split, split_patients(&slides, [0.7, 0.15, 0.15], 7).unwrap());
        assert_ne!(split, split_patients(&slides, [0.7, 0.15, 0.15], 8).unwrap());
        // Every slide of a patient follows the patient.
        for s in &slides {
            assert!(split.partition_of(&s.patient_id).is_some());
        }
    }

    #[test]
    fn small_strata_still_feed_validation_and_test() {
        let split = split_patients(&cohort(3), [0.7, 0.15, 0.15], 1).unwrap();
        let c = split.counts();
        for label in Lesion::ALL {
            assert_eq!(
                (c[&(Partition::Train, label)], c[&(Partition::Validation, label)], c[&(Partition::Test, label)]),
                (1, 1, 1)
            );
        }
        assert!(split_patients(&cohort(3), [0.7, 0.2, 0.2], 1).is_err());
    }

    #[test]
    fn save_load_round_trip_and_leak_refused() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("split");
        let path = dir.join("split.csv");
        let split = split_patients(&cohort(5), [0.7, 0.15, 0.15], 3).unwrap();
        split.save(&path).unwrap();
        assert_eq!(PatientSplit::load(&path).unwrap(), split);
        std::fs::write(&path, "patient_id,partition,stratum\nP1,train,MM\nP2,test,IN\nP1,test,MM\n").unwrap();
        let err = PatientSplit::load(&path).unwrap_err().to_string();
        assert!(err.contains("patient P1 is in test here and in train on line 2"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kfold_covers_every_patient_once() {
        let slides = cohort(5);
        let folds = kfold_patients(&slides, 5, 2).unwrap();
        let all: Vec<&String> = folds.iter().flatten().collect();
        assert_eq!(all.len(), 20);
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 20);
        assert!(folds.iter().all(|f| f.len() == 4));
        assert!(kfold_patients(&slides, 1, 2).is_err());
    }
}
