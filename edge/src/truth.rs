//! Replayed frames judged against what they show: a `frames.csv` (file, lesion) beside the
//! frames says which lesion each file is, and the session's verdict for each frame is set
//! beside it. A melanoma is right when called MELANOMA SUSPECTED, a nevus (IN, CN, JN) when
//! called NEVUS; UNCERTAIN and the gates are never right: the user learns nothing.

use melanoscope_shared::Lesion;
use melanoscope_shared::formats::Verdict;
use melanoscope_shared::run_files::screen::{FrameRow, JudgedFrame, TruthTable, file_name};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a truth file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    #[error("{path}: cannot read it")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    /// The truth file and the replayed frames do not name the same files.
    #[error("{path} does not match the replayed frames: {detail}")]
    Mismatch { path: PathBuf, detail: String },
}

/// A truth file larger than this is not a list of frames.
const MAX_TRUTH_BYTES: u64 = 16 << 20;

/// The lesion of each frame file, by file name.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    path: PathBuf,
    lesions: BTreeMap<String, Lesion>,
}

/// The verdict that is right for `lesion`.
pub fn expected_verdict(lesion: Lesion) -> Verdict {
    if lesion.is_nevus() { Verdict::Nevus } else { Verdict::MelanomaSuspected }
}

impl Truth {
    /// Reads a `frames.csv`: a header with `file` and `lesion` columns (others ignored), one
    /// row a frame; lesions MM, IN, CN or JN.
    pub fn load(path: &Path) -> Result<Self, TruthError> {
        use melanoscope_shared::bounded::{BoundedReadError, read_bounded};
        let text = read_bounded(path, MAX_TRUTH_BYTES).map_err(|e| match e {
            BoundedReadError::Io(source) => TruthError::Read { path: path.to_path_buf(), source },
            BoundedReadError::TooLarge { .. } => TruthError::Invalid {
                path: path.to_path_buf(),
                detail: format!("over {MAX_TRUTH_BYTES} bytes; a frame list is at most that"),
            },
        })?;
        Self::parse(path, &text)
    }

    /// [`Truth::load`] on bytes already read; `path` names them in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, TruthError> {
        let invalid = |detail: String| TruthError::Invalid { path: path.to_path_buf(), detail };
        let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(bytes);
        let header = reader.headers().map_err(|e| invalid(format!("header: {e}")))?.clone();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
                .ok_or_else(|| invalid(format!("no `{name}` column; expected a header with file and lesion")))
        };
        let (file_col, lesion_col) = (column("file")?, column("lesion")?);
        let mut lesions = BTreeMap::new();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let record = record.map_err(|e| invalid(format!("line {line}: {e}")))?;
            let file = file_name(record.get(file_col).unwrap_or("")).to_string();
            if file.is_empty() {
                return Err(invalid(format!("line {line}: empty file name")));
            }
            let text = record.get(lesion_col).unwrap_or("");
            let lesion = Lesion::parse(text)
                .ok_or_else(|| invalid(format!("line {line}: lesion {text:?}; expected MM, IN, CN or JN")))?;
            if lesions.insert(file.clone(), lesion).is_some() {
                return Err(invalid(format!("line {line}: file {file} is listed twice")));
            }
        }
        if lesions.is_empty() {
            return Err(invalid("no frames listed".into()));
        }
        Ok(Self { path: path.to_path_buf(), lesions })
    }

    /// Checks that the truth names exactly the `replayed` files (by file name); the error
    /// names the first file of either side that the other lacks.
    pub fn check_files(&self, replayed: &[PathBuf]) -> Result<(), TruthError> {
        let mismatch = |detail: String| TruthError::Mismatch { path: self.path.clone(), detail };
        let names: Vec<String> = replayed.iter().map(|p| file_name(&p.display().to_string()).to_string()).collect();
        if let Some(missing) = names.iter().find(|n| !self.lesions.contains_key(n.as_str())) {
            return Err(mismatch(format!("replayed file {missing} has no row")));
        }
        if let Some(extra) = self.lesions.keys().find(|k| !names.contains(k)) {
            return Err(mismatch(format!("row for {extra}, which is not among the {} replayed files", names.len())));
        }
        Ok(())
    }

    /// Sets each screened frame beside its truth; a frame whose file has no row is an error.
    pub fn judge(&self, frames: &[FrameRow]) -> Result<TruthTable, TruthError> {
        let mut judged = Vec::with_capacity(frames.len());
        for row in frames {
            let name = file_name(&row.file);
            let lesion = *self.lesions.get(name).ok_or_else(|| TruthError::Mismatch {
                path: self.path.clone(),
                detail: format!("screened frame {} ({name}) has no row", row.frame),
            })?;
            let expected = expected_verdict(lesion).label().to_string();
            judged.push(JudgedFrame {
                right: row.verdict == expected,
                lesion: lesion.code().to_string(),
                expected,
                row: row.clone(),
            });
        }
        let right = judged.iter().filter(|j| j.right).count();
        Ok(TruthTable { truth: self.path.clone(), total: judged.len(), frames: judged, right })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(text: &str) -> Result<Truth, TruthError> {
        Truth::parse(Path::new("frames.csv"), text.as_bytes())
    }

    fn row(frame: u64, file: &str, verdict: Verdict) -> FrameRow {
        FrameRow {
            frame,
            file: file.into(),
            verdict: verdict.label().into(),
            probability: Some(0.5),
            frame_probability: Some(0.5),
            tissue_fields: 15,
            max_familiarity: None,
            unfamiliar_fields: 0,
        }
    }

    #[test]
    fn judges_each_frame_by_its_lesion_and_counts_only_decisive_right_verdicts() {
        let t =
            truth("file,lesion,um_per_px\nMM-0.jpg,MM,0.25\nIN-0.jpg,IN,0.25\nJN-0.jpg,jn,0.25\nCN-0.jpg,CN,0.25\n")
                .unwrap();
        let frames = [
            row(0, "/frames/CN-0.jpg", Verdict::MelanomaSuspected),
            row(1, "/frames/IN-0.jpg", Verdict::Nevus),
            row(2, "/frames/JN-0.jpg", Verdict::Uncertain),
            row(3, "/frames/MM-0.jpg", Verdict::MelanomaSuspected),
        ];
        let table = t.judge(&frames).unwrap();
        assert_eq!((table.right, table.total), (2, 4));
        let right: Vec<bool> = table.frames.iter().map(|j| j.right).collect();
        assert_eq!(right, [false, true, false, true]);
        assert_eq!(table.frames[2].expected, "NEVUS");
        let text = table.to_text();
        assert!(text.contains("2 of 4 frames right"), "{text}");
        assert!(text.lines().nth(1).unwrap().contains("CN-0.jpg"), "{text}");
    }

    #[test]
    fn a_truth_that_does_not_match_the_replayed_files_names_the_first_mismatch() {
        let t = truth("file,lesion\na.jpg,MM\nb.jpg,IN\n").unwrap();
        let files = |names: &[&str]| names.iter().map(|n| PathBuf::from(format!("/x/{n}"))).collect::<Vec<_>>();
        t.check_files(&files(&["a.jpg", "b.jpg"])).unwrap();
        let e = t.check_files(&files(&["a.jpg", "c.jpg", "d.jpg"])).unwrap_err().to_string();
        assert!(e.contains("replayed file c.jpg has no row"), "{e}");
        let e = t.check_files(&files(&["a.jpg"])).unwrap_err().to_string();
        assert!(e.contains("row for b.jpg") && e.contains("1 replayed files"), "{e}");
        let e = t.judge(&[row(7, "/x/z.png", Verdict::Nevus)]).unwrap_err().to_string();
        assert!(e.contains("frame 7 (z.png)"), "{e}");
    }

    #[test]
    fn malformed_truth_files_are_refused_with_the_line_and_what_was_expected() {
        for (text, expected) in [
            ("name,kind\na.jpg,MM\n", "no `file` column"),
            ("file,lesion\na.jpg,melanoma\n", "line 2: lesion \"melanoma\"; expected MM, IN, CN or JN"),
            ("file,lesion\na.jpg,MM\na.jpg,IN\n", "line 3: file a.jpg is listed twice"),
            ("file,lesion\n,MM\n", "line 2: empty file name"),
            ("file,lesion\na.jpg,MM,extra\n", "line 2"),
            ("file,lesion\n", "no frames listed"),
            ("", "no `file` column"),
        ] {
            let e = truth(text).unwrap_err().to_string();
            assert!(e.starts_with("frames.csv: ") && e.contains(expected), "{text:?}: {e}");
        }
        let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert!(Truth::parse(Path::new("frames.csv"), &binary).is_err());
        // An enormous file is refused from its size, before it is read (a sparse file here).
        let big = std::env::temp_dir().join(format!("msc-truth-big-{}.csv", std::process::id()));
        std::fs::File::create(&big).unwrap().set_len(MAX_TRUTH_BYTES + 1).unwrap();
        let e = Truth::load(&big).unwrap_err().to_string();
        std::fs::remove_file(&big).unwrap();
        assert!(e.contains("a frame list is at most"), "{e}");
        let e = Truth::load(Path::new("/nonexistent/frames.csv")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/frames.csv: cannot read it"), "{e}");
    }
}
