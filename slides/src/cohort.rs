//! The cohort file: one CSV row per slide with `slide` (path), `slide_id`, `patient_id`,
//! `label` (MM, IN, CN, JN) and optional `site`, `um_per_px` and `annotations` (a QuPath GeoJSON,
//! ASAP or Aperio XML file of delineated regions). Loading reports every problem of every row
//! with its line number at once, so a lab fixes the file in one pass. A bad row (a missing
//! slide file, an unknown label) sets that row aside, named, and the rest of the cohort goes on;
//! only a file that cannot be read as a cohort at all is refused.

use melanoscope_shared::folder_name::{collision_key, folder_name};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The study's lesion classes (defined in `shared` so the edge's tests render the same scenes).
pub use melanoscope_shared::Lesion;

/// One slide of the cohort.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortSlide {
    /// Line of the CSV file (header = line 1).
    pub line: usize,
    /// Path as resolved against the CSV's folder.
    pub slide: PathBuf,
    pub slide_id: String,
    pub patient_id: String,
    pub label: Lesion,
    pub site: Option<String>,
    /// µm/px override for slides whose metadata lacks it (plain images).
    pub um_per_px: Option<f64>,
    /// Delineated regions for this slide, resolved against the CSV's folder.
    pub annotations: Option<PathBuf>,
}

/// A validated cohort.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cohort {
    pub source: PathBuf,
    pub slides: Vec<CohortSlide>,
    /// Rows set aside, with every problem each has.
    pub rejected: Vec<RejectedRow>,
}

/// A cohort row that cannot be used, with all of its problems.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedRow {
    pub line: usize,
    /// As written in the row (may be empty).
    pub slide_id: String,
    pub slide: String,
    pub problems: Vec<String>,
}

impl fmt::Display for RejectedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cohort line {}: {}", self.line, self.problems.join("; "))
    }
}

/// One problem with the cohort file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortProblem {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for CohortProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, Error)]
pub enum CohortError {
    #[error("cannot read cohort file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cohort file {path} has {} problem(s):\n  {}", problems.len(),
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Invalid { path: PathBuf, problems: Vec<CohortProblem> },
}

const REQUIRED: [&str; 4] = ["slide", "slide_id", "patient_id", "label"];

/// Reads and validates a cohort CSV. Relative slide paths are taken from the CSV's folder.
pub fn load_cohort(path: &Path) -> Result<Cohort, CohortError> {
    let text = melanoscope_shared::bounded::read_bounded_text(path, melanoscope_shared::bounded::MAX_CSV_BYTES)
        .map_err(|e| CohortError::Read { path: path.into(), source: e.into_io() })?;
    // Absolute, so manifests written from the cohort name files that resolve from anywhere.
    let base = std::path::absolute(path)
        .map_err(|source| CohortError::Read { path: path.into(), source })?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let (slides, rejected) =
        parse_cohort(&text, &base, true).map_err(|problems| CohortError::Invalid { path: path.into(), problems })?;
    for r in &rejected {
        tracing::warn!(cohort = %path.display(), "{r}");
    }
    Ok(Cohort { source: path.into(), slides, rejected })
}

/// Parses cohort CSV text into its usable rows and the rows set aside; `check_files` also
/// requires every slide file to exist. `Err`: the text is not a cohort (header, no rows).
pub fn parse_cohort(
    text: &str,
    base: &Path,
    check_files: bool,
) -> Result<(Vec<CohortSlide>, Vec<RejectedRow>), Vec<CohortProblem>> {
    let mut rejected = Vec::new();
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![CohortProblem { line: 1, message: format!("unreadable header: {e}") }]),
    };
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|c| col(c).is_none()).collect();
    if !missing.is_empty() {
        return Err(vec![CohortProblem {
            line: 1,
            message: format!(
                "missing column(s) {}; the header must name {} (optional: site, um_per_px, annotations)",
                missing.join(", "),
                REQUIRED.join(", ")
            ),
        }]);
    }
    let idx = |name: &str| col(name).unwrap_or(usize::MAX);
    let (i_slide, i_id, i_patient, i_label) = (idx("slide"), idx("slide_id"), idx("patient_id"), idx("label"));
    let (i_site, i_mpp, i_ann) = (col("site"), col("um_per_px"), col("annotations"));

    let mut slides = Vec::new();
    let mut first_line_of_id: HashMap<String, usize> = HashMap::new();
    let mut folder_of_id: HashMap<String, (String, usize)> = HashMap::new();
    let mut label_of_path: HashMap<PathBuf, (Lesion, usize)> = HashMap::new();
    for (n, record) in reader.records().enumerate() {
        let line = record.as_ref().ok().and_then(|r| r.position()).map_or(n + 2, |p| p.line() as usize);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let problems = vec![format!("unreadable row: {e}")];
                rejected.push(RejectedRow { line, slide_id: String::new(), slide: String::new(), problems });
                continue;
            }
        };
        let field = |i: usize| record.get(i).unwrap_or("").to_string();
        // Every problem of the row, so it is fixed in one pass.
        let mut problems = Vec::new();
        let (slide_s, slide_id, patient_id, label_s) = (field(i_slide), field(i_id), field(i_patient), field(i_label));
        for (name, value) in [("slide", &slide_s), ("slide_id", &slide_id), ("patient_id", &patient_id)] {
            if value.is_empty() {
                problems.push(format!("{name} is empty"));
            }
        }
        let label = Lesion::parse(&label_s);
        if label.is_none() {
            problems.push(format!("unknown label {label_s:?}; expected one of MM, IN, CN, JN"));
        }
        let um_per_px = match i_mpp.map(field).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match s.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Some(v),
                _ => {
                    problems.push(format!("um_per_px {s:?} is not a positive number"));
                    None
                }
            },
        };
        let slide = base.join(&slide_s);
        if check_files && !slide_s.is_empty() && !slide.is_file() {
            problems.push(format!("slide file {} does not exist", slide.display()));
        }
        let folder = folder_name(&slide_id);
        if let Some(first) = first_line_of_id.get(&slide_id).filter(|_| !slide_id.is_empty()) {
            problems.push(format!("duplicate slide_id {slide_id:?} (first on line {first})"));
        } else if let Some((other, first)) = folder_of_id.get(&collision_key(&folder)) {
            // Two ids, one folder (on a case-insensitive disk): the second would be "resumed"
            // with the first's patches.
            problems.push(format!(
                "slide_id {slide_id:?} shares its folder name {folder:?} with {other:?} (line {first}); rename one"
            ));
        }
        if let Some(label) = label
            && !slide_s.is_empty()
        {
            match label_of_path.get(&slide) {
                Some((other, first)) if *other != label => {
                    problems.push(format!("slide {slide_s} is listed as {label} here and as {other} on line {first}"))
                }
                Some((_, first)) => problems.push(format!("slide {slide_s} is listed twice (first on line {first})")),
                None => {}
            }
        }
        let annotations = i_ann.map(field).filter(|s| !s.is_empty()).map(|a| base.join(a));
        if check_files
            && let Some(a) = &annotations
            && !a.is_file()
        {
            problems.push(format!("annotation file {} does not exist", a.display()));
        }
        let (Some(label), true) = (label, problems.is_empty()) else {
            rejected.push(RejectedRow { line, slide_id, slide: slide_s, problems });
            continue;
        };
        first_line_of_id.insert(slide_id.clone(), line);
        folder_of_id.insert(collision_key(&folder), (slide_id.clone(), line));
        label_of_path.insert(slide.clone(), (label, line));
        let site = i_site.map(field).filter(|s| !s.is_empty());
        slides.push(CohortSlide { line, slide, slide_id, patient_id, label, site, um_per_px, annotations });
    }
    if slides.is_empty() && rejected.is_empty() {
        return Err(vec![CohortProblem { line: 1, message: "no slides listed".into() }]);
    }
    Ok((slides, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_cohort_parses_with_lines_and_options() {
        let text = "slide,slide_id,patient_id,label,site,um_per_px,annotations\n\
                    a.svs,S1,P1,MM,north,,a.geojson\n\
                    b.tif,S2,P1,jn,,0.5,\n";
        let (slides, rejected) = parse_cohort(text, Path::new("/data"), false).unwrap();
        assert!(rejected.is_empty());
        assert_eq!(slides.len(), 2);
        assert_eq!(slides[0].slide, PathBuf::from("/data/a.svs"));
        assert_eq!((slides[0].line, slides[0].label, slides[0].site.as_deref()), (2, Lesion::MM, Some("north")));
        assert_eq!((slides[1].label, slides[1].um_per_px, slides[1].site.as_deref()), (Lesion::JN, Some(0.5), None));
        assert_eq!(slides[0].annotations, Some(PathBuf::from("/data/a.geojson")));
        assert_eq!(slides[1].annotations, None);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "slide,slide_id,patient_id,label,annotations\n\
                    a.svs,S1,P1,MM,a.xml\n\
                    b.svs,S1,P2,IN\n\
                    c.svs,S3,P3,BCC\n\
                    a.svs,S4,P1,CN\n\
                    ,S5,P5,MM\n\
                    d.svs,,P6,XX,\n";
        // Nothing exists under /nowhere: every row is set aside, none stops the others.
        let (slides, rejected) = parse_cohort(text, Path::new("/nowhere"), true).unwrap();
        assert!(slides.is_empty());
        let text: Vec<String> = rejected.iter().map(ToString::to_string).collect();
        let has = |line: usize, needle: &str| {
            rejected.iter().any(|r| r.line == line && r.problems.iter().any(|p| p.contains(needle)))
        };
        assert!(has(2, "slide file /nowhere/a.svs does not exist"), "{text:?}");
        assert!(has(2, "annotation file /nowhere/a.xml does not exist"), "{text:?}");
        assert!(has(4, "unknown label \"BCC\""), "{text:?}");
        assert!(has(6, "slide is empty"), "{text:?}");
        // Every problem of one row, not only its first.
        let last = rejected.iter().find(|r| r.line == 7).unwrap();
        assert_eq!(last.problems.len(), 3, "{last:?}");
        assert!(
            has(7, "slide_id is empty") && has(7, "unknown label \"XX\"") && has(7, "d.svs does not exist"),
            "{text:?}"
        );
        // A bad µm/px is one more problem of its row.
        let (_, rejected) =
            parse_cohort("slide,slide_id,patient_id,label,um_per_px\ne.svs,,P7,MM,-1\n", Path::new("/x"), false)
                .unwrap();
        assert_eq!(rejected[0].problems.len(), 2, "{rejected:?}");
        assert!(rejected[0].problems[1].contains("um_per_px \"-1\""), "{rejected:?}");

        // With the files present, duplicates and conflicts set aside the later row only.
        let (slides, rejected) = parse_cohort(
            "slide,slide_id,patient_id,label\na.svs,S1,P1,MM\nb.svs,S1,P2,IN\na.svs,S4,P1,CN\na.svs,S5,P1,MM\n",
            Path::new("/nowhere"),
            false,
        )
        .unwrap();
        assert_eq!(slides.iter().map(|s| s.slide_id.as_str()).collect::<Vec<_>>(), ["S1"]);
        let text: Vec<String> = rejected.iter().map(ToString::to_string).collect();
        let has = |line: usize, needle: &str| {
            rejected.iter().any(|r| r.line == line && r.problems.iter().any(|p| p.contains(needle)))
        };
        assert!(has(3, "duplicate slide_id \"S1\" (first on line 2)"), "{text:?}");
        // Ids that would share a folder: refused by name (before, `A_1` was "resumed" with
        // `A/1`'s patches, and `s1` shared `S1`'s folder on a case-insensitive disk).
        let (slides, rejected) = parse_cohort(
            "slide,slide_id,patient_id,label\na.svs,A/1,P1,MM\nb.svs,A_1,P2,IN\nc.svs,S7,P3,CN\nd.svs,s7,P4,JN\n",
            Path::new("/x"),
            false,
        )
        .unwrap();
        let ids: Vec<&str> = slides.iter().map(|s| s.slide_id.as_str()).collect();
        assert_eq!(ids, ["A/1", "A_1", "S7"], "A/1 and A_1 now have two folders");
        assert_eq!(rejected.len(), 1, "{rejected:?}");
        assert!(
            rejected[0].problems[0].contains("\"s7\" shares its folder name") && rejected[0].problems[0].contains("S7")
        );
        assert!(has(4, "listed as CN here and as MM on line 2"), "{text:?}");
        assert!(has(5, "listed twice (first on line 2)"), "{text:?}");
    }

    #[test]
    fn missing_columns_are_named() {
        let problems = parse_cohort("slide,label\nx,MM\n", Path::new("."), false).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("slide_id, patient_id"), "{}", problems[0]);
        let err = load_cohort(Path::new("/no/such/cohort.csv")).unwrap_err().to_string();
        assert!(err.contains("/no/such/cohort.csv"), "{err}");
    }

    /// A 1 GB cohort file (sparse here) is refused from its size, naming the file and the
    /// limit, before a byte is read (`split` on one took 8 GiB and was killed).
    #[test]
    fn a_gigabyte_cohort_is_refused_from_its_size() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("cohort-huge");
        let path = dir.join("cohort.csv");
        std::fs::File::create(&path).unwrap().set_len(1 << 30).unwrap();
        let e = melanoscope_shared::errors::error_chain(&load_cohort(&path).unwrap_err());
        assert!(e.contains("cohort.csv") && e.contains("more than 67108864 bytes"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
