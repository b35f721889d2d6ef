//! The table from region class names to lesion labels, so one slide can carry several labelled
//! regions (a melanoma arising in a nevus, say).

use crate::cohort::Lesion;

/// Why a region label map could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LabelMapError {
    #[error("region label map {path}")]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("region label map {0:?}: not a file, not `standard`, and not inline `Class=LABEL,...`")]
    NotASpec(String),
    #[error("region label map ({origin}): {}", problems.join("; "))]
    Entries { origin: String, problems: Vec<String> },
}

/// Class name (compared without case) → lesion.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionLabelMap {
    entries: Vec<(String, Lesion)>,
}

impl RegionLabelMap {
    /// The study's codes and their names: MM/Melanoma, IN/Intradermal nevus, CN/Compound nevus,
    /// JN/Junctional nevus (also with "naevus").
    pub fn standard() -> Self {
        let mut entries = Vec::new();
        for (l, name) in [
            (Lesion::MM, "Melanoma"),
            (Lesion::IN, "Intradermal nevus"),
            (Lesion::CN, "Compound nevus"),
            (Lesion::JN, "Junctional nevus"),
        ] {
            entries.push((l.code().to_string(), l));
            entries.push((name.to_string(), l));
            entries.push((name.replace("nevus", "naevus"), l));
        }
        entries.dedup();
        Self { entries }
    }

    /// `standard`, a CSV file of `class,label` rows, or inline `Class=LABEL,Class=LABEL`.
    pub fn parse_spec(spec: &str) -> Result<Self, LabelMapError> {
        if spec.trim().eq_ignore_ascii_case("standard") {
            return Ok(Self::standard());
        }
        let path = std::path::Path::new(spec);
        if path.is_file() {
            let text = melanoscope_shared::bounded::read_bounded_text(path, 1 << 20)
                .map_err(|e| LabelMapError::Read { path: path.to_path_buf(), source: e.into_io() })?;
            return Self::parse_rows(text.lines().enumerate().map(|(i, l)| (i + 1, l, ',')), &format!("file {spec}"));
        }
        if !spec.contains('=') {
            return Err(LabelMapError::NotASpec(spec.to_string()));
        }
        Self::parse_rows(spec.split(',').enumerate().map(|(i, l)| (i + 1, l, '=')), "inline map")
    }

    fn parse_rows<'a>(rows: impl Iterator<Item = (usize, &'a str, char)>, source: &str) -> Result<Self, LabelMapError> {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for (n, row, sep) in rows {
            let row = row.trim();
            if row.is_empty() || row.starts_with('#') {
                continue;
            }
            let Some((class, label)) = row.rsplit_once(sep) else {
                problems.push(format!("entry {n} {row:?}: expected class{sep}label"));
                continue;
            };
            // Spaces inside the quotes count as outside them: lookups trim the class they get.
            let unquote = |s: &'a str| s.trim().trim_matches('"').trim();
            let (class, label) = (unquote(class), unquote(label));
            // A header row such as `class,label` is allowed.
            if n == 1 && sep == ',' && label.eq_ignore_ascii_case("label") {
                continue;
            }
            match Lesion::parse(label) {
                Some(l) if !class.is_empty() => entries.push((class.to_string(), l)),
                Some(_) => problems.push(format!("entry {n} {row:?}: empty class name")),
                None => problems.push(format!("entry {n} {row:?}: label {label:?} is not one of MM, IN, CN, JN")),
            }
        }
        if entries.is_empty() && problems.is_empty() {
            problems.push("no entries".into());
        }
        if problems.is_empty() {
            Ok(Self { entries })
        } else {
            Err(LabelMapError::Entries { origin: source.to_string(), problems })
        }
    }

    pub fn get(&self, class: &str) -> Option<Lesion> {
        self.entries.iter().find(|(c, _)| c.eq_ignore_ascii_case(class.trim())).map(|(_, l)| *l)
    }

    pub fn known_classes(&self) -> Vec<String> {
        self.entries.iter().map(|(c, _)| c.clone()).collect()
    }

    pub fn fingerprint(&self) -> String {
        self.entries.iter().map(|(c, l)| format!("{c}={l}")).collect::<Vec<_>>().join("|")
    }
}
