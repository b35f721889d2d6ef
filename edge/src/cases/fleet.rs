//! Cases carried off the device for review: `case export` writes a folder (for a USB stick)
//! with each case's records, fields and page and a manifest of every file's size and SHA-256;
//! `review` checks exports from several devices against their manifests, refuses a damaged one
//! naming the file, and merges the rest under one index page.

use super::page::{case_html, case_records};
use super::{CaseError, CaseFile, io, list_cases, read_bounded};
use crate::records::iso8601_utc;
use melanoscope_shared::formats::{encode_log_frame, hex, sha256};
use melanoscope_shared::html::escape as esc;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::{Component, Path, PathBuf};

const FORMAT: &str = "melanoscope-case-export";
const VERSION: u32 = 1;
/// Largest manifest and largest file of an export read back.
const MAX_MANIFEST: u64 = 16 << 20;
const MAX_FILE: u64 = 256 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative to the export folder, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestCase {
    pub id: String,
    pub status: String,
    pub verdict: Option<String>,
    pub opened_unix_ms: u64,
}

/// `manifest.json` of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub device: String,
    pub exported_unix_ms: u64,
    pub since_unix_ms: u64,
    pub cases: Vec<ManifestCase>,
    pub files: Vec<ManifestFile>,
}

/// `YYYY-MM-DD` → Unix milliseconds at 00:00 UTC.
pub fn parse_date(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?}; expected a date YYYY-MM-DD");
    let mut parts = s.trim().splitn(3, '-').map(str::parse::<i64>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days from civil (proleptic Gregorian), the inverse of records::iso8601_utc.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days as u64 * 86_400_000)
}

/// This device's name for exports: the host name, else `device`.
pub fn device_name() -> String {
    let name = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let name: String =
        name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(64).collect();
    if name.is_empty() || name.starts_with('.') { "device".into() } else { name }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportSummary {
    pub out: PathBuf,
    pub cases: usize,
    pub files: usize,
}

/// Writes the cases opened since `since_ms` to the folder `out` (which must not exist): built
/// beside it under a temporary name and renamed when complete.
pub fn export_cases(
    cases: &Path,
    log: &Path,
    since_ms: u64,
    device: &str,
    out: &Path,
) -> Result<ExportSummary, CaseError> {
    if out.exists() {
        return Err(CaseError::Malformed {
            path: out.display().to_string(),
            detail: "exists; an export goes to a new folder".into(),
        });
    }
    let name = out.file_name().map_or_else(|| "export".into(), |n| n.to_string_lossy().to_string());
    let tmp = out.with_file_name(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&tmp);
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        device: device.into(),
        exported_unix_ms: crate::records::unix_ms(),
        since_unix_ms: since_ms,
        cases: Vec::new(),
        files: Vec::new(),
    };
    let put = |rel: String, bytes: &[u8], manifest: &mut Manifest| -> Result<(), CaseError> {
        let path = tmp.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
        manifest.files.push(ManifestFile { path: rel, bytes: bytes.len() as u64, sha256: hex(&sha256(bytes)) });
        Ok(())
    };
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    for (folder, case) in list_cases(cases)?.into_iter().filter(|(_, c)| c.opened_unix_ms >= since_ms) {
        let base = format!("cases/{}", case.id);
        let records = case_records(log, &case.id);
        let mut log_bytes = Vec::new();
        for r in &records {
            log_bytes.extend(encode_log_frame(r).map_err(CaseError::Id)?);
        }
        put(format!("{base}/records.log"), &log_bytes, &mut manifest)?;
        for f in &case.fields {
            match read_bounded(&folder.join(&f.file), MAX_FILE) {
                Ok(png) => put(format!("{base}/{}", f.file), &png, &mut manifest)?,
                // The page says which image is missing; the rest of the case travels.
                Err(e) => {
                    tracing::warn!(case = %case.id, error = %melanoscope_shared::errors::Chain(&e), "field image left out of the export")
                }
            }
        }
        let json = read_bounded(&CaseFile::path(&folder), MAX_FILE)?;
        put(format!("{base}/case.json"), &json, &mut manifest)?;
        put(format!("{base}/index.html"), case_html(&folder, &case, &records).as_bytes(), &mut manifest)?;
        manifest.cases.push(ManifestCase {
            id: case.id.clone(),
            status: case.status.name().into(),
            verdict: case.verdict.map(|v| v.label().to_string()),
            opened_unix_ms: case.opened_unix_ms,
        });
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| CaseError::Malformed {
        path: "manifest.json".into(),
        detail: melanoscope_shared::errors::error_chain(&e),
    })?;
    let path = tmp.join("manifest.json");
    std::fs::write(&path, json).map_err(io(&path))?;
    std::fs::rename(&tmp, out).map_err(io(out))?;
    Ok(ExportSummary { out: out.to_path_buf(), cases: manifest.cases.len(), files: manifest.files.len() + 1 })
}

/// Why an export was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("export {export}: {file}: {detail}")]
    Damaged { export: String, file: String, detail: String },
    #[error(transparent)]
    Case(#[from] CaseError),
}

/// A manifest path that stays inside its export (`cases/…`, plain components only).
fn safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    path.starts_with("cases/") && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Reads and checks an export against its manifest: every file present, of its size and hash,
/// inside the export.
pub fn verify_export(export: &Path) -> Result<Manifest, ReviewError> {
    let damaged = |file: &str, detail: String| ReviewError::Damaged {
        export: export.display().to_string(),
        file: file.to_string(),
        detail,
    };
    let bytes = read_bounded(&export.join("manifest.json"), MAX_MANIFEST)
        .map_err(|e| damaged("manifest.json", melanoscope_shared::errors::error_chain(&e)))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| damaged("manifest.json", melanoscope_shared::errors::error_chain(&e)))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        let detail =
            format!("format {:?} version {}; expected {FORMAT} version {VERSION}", manifest.format, manifest.version);
        return Err(damaged("manifest.json", detail));
    }
    for c in &manifest.cases {
        melanoscope_shared::formats::check_case_id(&c.id)
            .map_err(|e| damaged("manifest.json", melanoscope_shared::errors::error_chain(&e)))?;
    }
    for f in &manifest.files {
        if !safe_relative(&f.path) {
            return Err(damaged(&f.path, "a path outside the export's cases/ folder".into()));
        }
        let bytes = read_bounded(&export.join(&f.path), MAX_FILE)
            .map_err(|e| damaged(&f.path, melanoscope_shared::errors::error_chain(&e)))?;
        if bytes.len() as u64 != f.bytes {
            return Err(damaged(&f.path, format!("{} bytes; the manifest says {}", bytes.len(), f.bytes)));
        }
        let actual = hex(&sha256(&bytes));
        if actual != f.sha256 {
            return Err(damaged(&f.path, format!("SHA-256 {actual}; the manifest says {}", f.sha256)));
        }
    }
    Ok(manifest)
}

/// What a review merged and refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewSummary {
    pub index: PathBuf,
    pub cases: usize,
    /// Exports refused, with why.
    pub refused: Vec<String>,
}

/// Checks every export, copies the cases of the sound ones under `out/<device>/<case>/`, and
/// writes `out/index.html` listing them all; damaged exports are refused and listed.
pub fn review(exports: &[PathBuf], out: &Path) -> Result<ReviewSummary, CaseError> {
    let mut rows = Vec::new();
    let mut refused = Vec::new();
    for export in exports {
        let manifest = match verify_export(export) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %melanoscope_shared::errors::Chain(&e), "export refused");
                refused.push(melanoscope_shared::errors::error_chain(&e));
                continue;
            }
        };
        let device: String = manifest
            .device
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(64)
            .collect();
        let device = if device.is_empty() || device.starts_with('.') { "device".to_string() } else { device };
        for f in &manifest.files {
            let target = out.join(&device).join(f.path.trim_start_matches("cases/"));
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
            }
            std::fs::copy(export.join(&f.path), &target).map_err(io(&target))?;
        }
        for c in manifest.cases {
            rows.push((device.clone(), c));
        }
    }
    rows.sort_by(|a, b| (a.1.opened_unix_ms, &a.0).cmp(&(b.1.opened_unix_ms, &b.0)));
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cases for review</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #bbb;padding:.25em .6em}th{background:#eee}</style></head><body>\n\
         <h1>Cases for review</h1>\n",
    );
    let _ = writeln!(h, "<p>{} cases from {} exports.</p>", rows.len(), exports.len() - refused.len());
    if !refused.is_empty() {
        h.push_str("<h2>Refused exports</h2>\n<ul>");
        for r in &refused {
            let _ = write!(h, "<li>{}</li>", esc(r));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<table><tr><th>Opened (UTC)</th><th>Device</th><th>Case</th><th>Status</th><th>Verdict</th></tr>");
    for (device, c) in &rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><a href=\"{d}/{id}/index.html\">{id}</a></td><td>{}</td><td>{}</td></tr>",
            iso8601_utc(c.opened_unix_ms),
            esc(device),
            esc(&c.status),
            esc(c.verdict.as_deref().unwrap_or("no verdict")),
            d = esc(device),
            id = esc(&c.id),
        );
    }
    h.push_str("</table>\n</body></html>\n");
    std::fs::create_dir_all(out).map_err(io(out))?;
    let index = out.join("index.html");
    melanoscope_shared::atomic::write_atomic(&index, h.as_bytes()).map_err(io(&index))?;
    Ok(ReviewSummary { index, cases: rows.len(), refused })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_paths() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(iso8601_utc(parse_date("2026-12-01").unwrap()), "2026-12-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(parse_date("2000-02-29").unwrap()), "2000-02-29T00:00:00.000Z");
        assert!(parse_date("yesterday").unwrap_err().contains("YYYY-MM-DD"));
        assert!(parse_date("2026-13-01").is_err());
        assert!(safe_relative("cases/S1/fields/a.png"));
        assert!(!safe_relative("cases/../../etc/passwd"));
        assert!(!safe_relative("/etc/passwd"));
        assert!(!safe_relative("manifest.json"));
    }
}
