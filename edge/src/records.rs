//! The screening record for later review: every verdict change and every snapshot is appended
//! to the shared record log (fsync'd, so a power cut loses at most the record being written),
//! and a snapshot is a folder holding the camera frame (JPEG), the rendered CAM overlay (PNG)
//! and the record (JSON), written under a temporary name and renamed when complete.

use melanoscope_shared::formats::{
    FieldScore, ModelIdentity, RecordKind, RecordLogWriter, ScreeningRecord, Verdict, hex, read_log_file,
};
use melanoscope_shared::image::{RgbImage, encode_jpeg, encode_rgb};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub mod queue;

/// Why a record, snapshot or export could not be written; the cause is kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}")]
    Io { path: String, source: std::io::Error },
    #[error("record log")]
    Log(#[from] melanoscope_shared::formats::FormatError),
    #[error("snapshot image {path}")]
    Image { path: String, source: melanoscope_shared::image::ImageError },
    #[error("{path}: encoding the export")]
    Json { path: String, source: serde_json::Error },
    #[error("{path}: encoding the export")]
    Csv { path: String, source: csv::Error },
    #[error("{path}: not a Melanoscope record log ({bytes} bytes, no record in them decodes)")]
    NotALog { path: String, bytes: usize },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError + '_ {
    move |source| RecordError::Io { path: path.display().to_string(), source }
}

/// The record log's export formats (`log export --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

/// Writes the log and snapshot folders of one screening session.
#[derive(Debug)]
pub struct Recorder {
    log: RecordLogWriter,
    snapshots: PathBuf,
    model_sha256: [u8; 32],
    identity: ModelIdentity,
    objective: String,
    pub records_written: u64,
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Recorder {
    pub fn open(
        log: &Path,
        sync: bool,
        snapshots: &Path,
        model_sha256: [u8; 32],
        identity: ModelIdentity,
        objective: &str,
    ) -> Result<Self, RecordError> {
        if let Some(dir) = log.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let log = RecordLogWriter::open(log, sync)?;
        std::fs::create_dir_all(snapshots).map_err(io(snapshots))?;
        Ok(Self {
            log,
            snapshots: snapshots.to_path_buf(),
            model_sha256,
            identity,
            objective: objective.into(),
            records_written: 0,
        })
    }

    pub fn record(
        &self,
        time_unix_ms: u64,
        frame_id: u64,
        kind: RecordKind,
        verdict: Verdict,
        probability: f32,
        fields: Vec<FieldScore>,
    ) -> ScreeningRecord {
        ScreeningRecord {
            time_unix_ms,
            frame_id,
            kind,
            verdict,
            probability: if probability.is_finite() { probability.clamp(0.0, 1.0) } else { 0.0 },
            fields,
            model_sha256: self.model_sha256,
            objective: self.objective.clone(),
            model: Some(self.identity),
            case: None,
            familiarity: Vec::new(),
        }
    }

    pub fn append(&mut self, record: &ScreeningRecord) -> Result<(), RecordError> {
        self.log.append(record)?;
        self.records_written += 1;
        Ok(())
    }

    /// Writes a snapshot folder and returns it with its record, for the caller to log (through
    /// [`queue::LogQueue::snapshot`], so the record waits with the others while the log fails).
    pub fn write_snapshot(
        &self,
        frame: &RgbImage,
        overlay: &RgbImage,
        mut record: ScreeningRecord,
    ) -> Result<(PathBuf, ScreeningRecord), RecordError> {
        let name = format!("snapshot-{}-{:06}", record.time_unix_ms, record.frame_id);
        let dir = self.snapshots.join(&name);
        let tmp = self.snapshots.join(format!(".{name}.partial"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        record.kind = RecordKind::Snapshot { bundle: name.clone() };
        let image = |source| RecordError::Image { path: tmp.display().to_string(), source };
        let jpeg = encode_jpeg(frame, 92).map_err(image)?;
        let png = encode_rgb(overlay, image::ImageFormat::Png).map_err(image)?;
        let json = serde_json::to_vec_pretty(&ExportRow::from(&record))
            .map_err(|source| RecordError::Json { path: tmp.display().to_string(), source })?;
        for (file, bytes) in [("frame.jpg", &jpeg), ("cam.png", &png), ("record.json", &json)] {
            melanoscope_shared::atomic::write_atomic(&tmp.join(file), bytes).map_err(io(&tmp.join(file)))?;
        }
        std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
        Ok((dir, record))
    }
}

/// One record as exports show it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ExportRow {
    pub time_unix_ms: u64,
    pub time_utc: String,
    /// The case open when the record was written (empty: none).
    pub case: String,
    pub frame_id: u64,
    pub kind: String,
    pub snapshot: String,
    pub verdict: String,
    pub probability: f32,
    pub fields: usize,
    /// Highest positive-class probability of any field (the last class of each field).
    pub max_field_probability: f32,
    /// The fields' familiarity scores (distance from the training data; above the bundle's
    /// threshold a field is unfamiliar): the highest and the mean; empty when the record has
    /// none (no gate, or not a frame's record).
    pub max_familiarity: Option<f32>,
    pub mean_familiarity: Option<f32>,
    pub objective: String,
    pub model_sha256: String,
    /// SHA-256 of the whole bundle file (empty in records from before it was kept).
    pub bundle_sha256: String,
    /// The signing key (hex), `unsigned`, or empty in records from before it was kept.
    pub signer: String,
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` from Unix milliseconds (civil-from-days, proleptic Gregorian).
pub fn iso8601_utc(ms: u64) -> String {
    let (days, rem) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

impl From<&ScreeningRecord> for ExportRow {
    fn from(r: &ScreeningRecord) -> Self {
        let (kind, snapshot) = match &r.kind {
            RecordKind::VerdictChange => ("verdict-change".to_string(), String::new()),
            RecordKind::Snapshot { bundle } => ("snapshot".to_string(), bundle.clone()),
            RecordKind::Fault { message } => (format!("fault: {message}"), String::new()),
            RecordKind::CaseOpened => ("case-opened".to_string(), String::new()),
            RecordKind::CaseClosed { .. } => ("case-closed".to_string(), String::new()),
            RecordKind::CaseInterrupted => ("case-interrupted".to_string(), String::new()),
        };
        ExportRow {
            time_unix_ms: r.time_unix_ms,
            time_utc: iso8601_utc(r.time_unix_ms),
            case: r.case.clone().unwrap_or_default(),
            frame_id: r.frame_id,
            kind,
            snapshot,
            verdict: r.verdict.label().to_string(),
            probability: r.probability,
            fields: r.fields.len(),
            max_field_probability: r.fields.iter().filter_map(|f| f.probabilities.last()).cloned().fold(0.0, f32::max),
            max_familiarity: r.familiarity.iter().copied().reduce(f32::max),
            mean_familiarity: (!r.familiarity.is_empty())
                .then(|| r.familiarity.iter().sum::<f32>() / r.familiarity.len() as f32),
            objective: r.objective.clone(),
            model_sha256: hex(&r.model_sha256),
            bundle_sha256: r.model.map(|m| hex(&m.bundle_sha256)).unwrap_or_default(),
            signer: match r.model {
                Some(ModelIdentity { signer: Some(key), .. }) => hex(&key),
                Some(ModelIdentity { signer: None, .. }) => "unsigned".into(),
                None => String::new(),
            },
        }
    }
}

/// What an export found in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub records: usize,
    pub damaged: usize,
    pub torn_tail: bool,
}

/// Writes the log at `log` as CSV or JSON (`format`) to `out`, atomically.
pub fn export_log(log: &Path, format: ExportFormat, out: &Path) -> Result<ExportSummary, RecordError> {
    let scan = read_log_file(log)?;
    let bytes = std::fs::metadata(log).map_or(0, |m| m.len() as usize);
    if scan.records.is_empty() && bytes > 0 {
        return Err(RecordError::NotALog { path: log.display().to_string(), bytes });
    }
    let rows: Vec<ExportRow> = scan.records.iter().map(|(_, r)| ExportRow::from(r)).collect();
    let bytes = match format {
        ExportFormat::Json => serde_json::to_vec_pretty(&rows)
            .map_err(|source| RecordError::Json { path: out.display().to_string(), source })?,
        ExportFormat::Csv => {
            let csv = |source| RecordError::Csv { path: out.display().to_string(), source };
            let mut w = csv::Writer::from_writer(Vec::new());
            for r in &rows {
                w.serialize(r).map_err(csv)?;
            }
            if rows.is_empty() {
                // The header row comes with the first record; an empty log still gets it, so a
                // spreadsheet or script reading the export sees the columns.
                let mut header = csv::Writer::from_writer(Vec::new());
                header.serialize(ExportRow::default()).map_err(csv)?;
                let text = header
                    .into_inner()
                    .map_err(|e| RecordError::Io { path: out.display().to_string(), source: e.into_error() })?;
                let first_line = text.split(|b| *b == b'\n').next().unwrap_or_default();
                w = csv::Writer::from_writer([first_line, b"\n"].concat());
            }
            w.into_inner().map_err(|e| RecordError::Io { path: out.display().to_string(), source: e.into_error() })?
        }
    };
    melanoscope_shared::atomic::write_atomic(out, &bytes).map_err(io(out))?;
    for d in &scan.damaged {
        tracing::warn!(offset = d.offset, len = d.len, error = %d.error, "damaged stretch of the record log skipped");
    }
    Ok(ExportSummary { records: rows.len(), damaged: scan.damaged.len(), torn_tail: scan.torn_tail.is_some() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_log_exports_a_csv_with_its_header_row() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("rec-empty");
        let log = dir.join("screening.log");
        std::fs::write(&log, b"").unwrap();
        let out = dir.join("out.csv");
        let s = export_log(&log, ExportFormat::Csv, &out).unwrap();
        assert_eq!(s.records, 0);
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(
            text.starts_with("time_unix_ms,time_utc,case,frame_id,kind,") && text.trim_end().ends_with(",signer"),
            "{text:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_utc(1_795_651_200_123), "2026-11-26T00:00:00.123Z");
    }

    #[test]
    fn snapshots_and_changes_are_logged_and_exported() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("rec");
        let log = dir.join("screening.log");
        let identity = ModelIdentity { bundle_sha256: [8; 32], signer: None };
        let mut rec = Recorder::open(&log, false, &dir.join("snaps"), [7; 32], identity, "10x").unwrap();
        let fields = vec![
            FieldScore { col: 1, row: 0, probabilities: vec![0.2, 0.8] },
            FieldScore { col: 2, row: 0, probabilities: vec![0.6, 0.4] },
        ];
        let mut r =
            rec.record(1_795_651_200_000, 3, RecordKind::VerdictChange, Verdict::MelanomaSuspected, 0.8, fields);
        r.familiarity = vec![1.5, 4.5];
        rec.append(&r).unwrap();
        let img = RgbImage::filled(16, 16, [200, 100, 150]).unwrap();
        let (snap, snap_record) = rec.write_snapshot(&img, &img, r.clone()).unwrap();
        rec.append(&snap_record).unwrap();
        for f in ["frame.jpg", "cam.png", "record.json"] {
            assert!(snap.join(f).is_file(), "{f}");
        }
        assert!(
            !std::fs::read_dir(dir.join("snaps")).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.'))
        );
        let csv_path = dir.join("log.csv");
        let s = export_log(&log, ExportFormat::Csv, &csv_path).unwrap();
        assert_eq!((s.records, s.damaged, s.torn_tail), (2, 0, false));
        let text = std::fs::read_to_string(&csv_path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("time_unix_ms,time_utc,case,frame_id,kind,snapshot,verdict"), "{}", lines[0]);
        assert!(
            lines[1].contains("2026-11-26T00:00:00.000Z") && lines[1].contains("MELANOMA SUSPECTED"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains(",snapshot,snapshot-1795651200000-000003,"), "{}", lines[2]);
        assert!(lines[0].ends_with(",model_sha256,bundle_sha256,signer"), "{}", lines[0]);
        assert!(lines[1].ends_with(&format!(",{},unsigned", hex(&[8; 32]))), "{}", lines[1]);
        let json_path = dir.join("log.json");
        export_log(&log, ExportFormat::Json, &json_path).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
        assert!((v[0]["max_field_probability"].as_f64().unwrap() - 0.8).abs() < 1e-6, "{v}");
        // The fields' familiarity scores (they were in the log, not in its exports).
        assert_eq!(
            (v[0]["max_familiarity"].as_f64(), v[0]["mean_familiarity"].as_f64()),
            (Some(4.5), Some(3.0)),
            "{v}"
        );
        assert!(lines[0].contains(",max_field_probability,max_familiarity,mean_familiarity,"), "{}", lines[0]);
        assert!(lines[1].contains(",0.8,4.5,3.0,"), "{}", lines[1]);
        // A file that is not a log says so instead of "torn by a power cut".
        let other = dir.join("notes.txt");
        std::fs::write(&other, "calibration notes: 40x objective, 0.25 um/px\n".repeat(50)).unwrap();
        let err = export_log(&other, ExportFormat::Csv, &dir.join("x.csv")).unwrap_err().to_string();
        assert!(err.contains("notes.txt") && err.contains("not a Melanoscope record log"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
