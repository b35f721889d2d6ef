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
    // What a killed export left beside it goes first; this one is named by its process.
    if let Some(parent) = out.parent() {
        melanoscope_shared::atomic::remove_stale_temps(parent);
    }
    let tmp = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = write_export(cases, log, since_ms, device, &tmp);
    // A full stick: nothing half-written is left beside the exports.
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, out).map_err(io(out))?;
    Ok(ExportSummary { out: out.to_path_buf(), cases: manifest.cases.len(), files: manifest.files.len() + 1 })
}

/// The export's files and manifest, written into `tmp`.
fn write_export(cases: &Path, log: &Path, since_ms: u64, device: &str, tmp: &Path) -> Result<Manifest, CaseError> {
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
    std::fs::create_dir_all(tmp).map_err(io(tmp))?;
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
    Ok(manifest)
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

/// Refuses `rel` under `root` when any part of it is a symbolic link: an export holds plain
/// files, and a link would make `review` read (and copy) a file of the review station.
fn no_link_below(root: &Path, rel: &str) -> Result<(), String> {
    let mut at = root.to_path_buf();
    for part in Path::new(rel).components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!("{} is a symbolic link; an export holds plain files", at.display()));
            }
            Ok(_) => {}
            Err(e) => return Err(melanoscope_shared::errors::error_chain(&e)),
        }
    }
    Ok(())
}

/// The bytes of the listed file `f` of `export`, checked against the manifest (no link, a
/// regular file, its size and SHA-256).
fn read_listed(export: &Path, f: &ManifestFile) -> Result<Vec<u8>, String> {
    if !safe_relative(&f.path) {
        return Err("a path outside the export's cases/ folder".into());
    }
    no_link_below(export, &f.path)?;
    let bytes =
        read_bounded(&export.join(&f.path), MAX_FILE).map_err(|e| melanoscope_shared::errors::error_chain(&e))?;
    if bytes.len() as u64 != f.bytes {
        return Err(format!("{} bytes; the manifest says {}", bytes.len(), f.bytes));
    }
    let actual = hex(&sha256(&bytes));
    if actual != f.sha256 {
        return Err(format!("SHA-256 {actual}; the manifest says {}", f.sha256));
    }
    Ok(bytes)
}

/// An export's manifest, checked, with the first 8 hex digits of its SHA-256 (which tells two
/// exports of one device apart).
fn read_manifest(export: &Path) -> Result<(Manifest, String), ReviewError> {
    let damaged = |file: &str, detail: String| ReviewError::Damaged {
        export: export.display().to_string(),
        file: file.to_string(),
        detail,
    };
    no_link_below(export, "manifest.json").map_err(|d| damaged("manifest.json", d))?;
    let bytes = read_bounded(&export.join("manifest.json"), MAX_MANIFEST)
        .map_err(|e| damaged("manifest.json", melanoscope_shared::errors::error_chain(&e)))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| damaged("manifest.json", melanoscope_shared::errors::error_chain(&e)))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        let detail =
            format!("format {:?} version {}; expected {FORMAT} version {VERSION}", manifest.format, manifest.version);
        return Err(damaged("manifest.json", detail));
    }
    let mut ids = std::collections::BTreeSet::new();
    for c in &manifest.cases {
        melanoscope_shared::formats::check_case_id(&c.id)
            .map_err(|e| damaged("manifest.json", melanoscope_shared::errors::error_chain(&e)))?;
        if !ids.insert(c.id.as_str()) {
            return Err(damaged("manifest.json", format!("case {} is listed twice", c.id)));
        }
    }
    let mut paths = std::collections::BTreeSet::new();
    for f in &manifest.files {
        if !paths.insert(f.path.as_str()) {
            return Err(damaged("manifest.json", format!("file {} is listed twice", f.path)));
        }
    }
    let id: String = hex(&sha256(&bytes)).chars().take(8).collect();
    Ok((manifest, id))
}

/// Reads and checks an export against its manifest: every file present, of its size and hash,
/// inside the export, no symbolic link, no FIFO or device; no case or file listed twice.
pub fn verify_export(export: &Path) -> Result<Manifest, ReviewError> {
    verify(export).map(|(manifest, _)| manifest)
}

/// [`verify_export`], with the export's id (see [`read_manifest`]).
fn verify(export: &Path) -> Result<(Manifest, String), ReviewError> {
    let (manifest, id) = read_manifest(export)?;
    for f in &manifest.files {
        read_listed(export, f).map_err(|detail| ReviewError::Damaged {
            export: export.display().to_string(),
            file: f.path.clone(),
            detail,
        })?;
    }
    Ok((manifest, id))
}

/// What a review merged and refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewSummary {
    pub index: PathBuf,
    pub cases: usize,
    /// Exports refused, with why.
    pub refused: Vec<String>,
}

/// Creates `rel` (plain names) under `root`, refusing any part that is a symbolic link: a link
/// planted in the review folder must not carry the review's writes elsewhere.
fn plain_dir(root: &Path, rel: &[&str]) -> Result<PathBuf, CaseError> {
    let mut at = root.to_path_buf();
    for part in std::iter::once("").chain(rel.iter().copied()) {
        if !part.is_empty() {
            at.push(part);
        }
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                return Err(CaseError::Malformed {
                    path: at.display().to_string(),
                    detail: "a symbolic link or a file where the review writes a folder; expected a plain folder"
                        .into(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir(&at).map_err(io(&at))?,
            Err(e) => return Err(io(&at)(e)),
        }
    }
    Ok(at)
}

/// One case of an export, regenerated: its page made here from its validated `case.json`,
/// records and field images (never an HTML file from the export).
fn regenerate_case(export: &Path, manifest: &Manifest, id: &str, target: &Path) -> Result<CaseFile, String> {
    let listed = |rel: &str| manifest.files.iter().find(|f| f.path == format!("cases/{id}/{rel}"));
    let case_file = listed("case.json").ok_or("no case.json listed")?;
    let bytes = read_listed(export, case_file).map_err(|d| format!("{}: {d}", case_file.path))?;
    let case = CaseFile::parse(&case_file.path, &bytes).map_err(|e| melanoscope_shared::errors::error_chain(&e))?;
    if case.id != id {
        return Err(format!("{}: case {}; the manifest lists it as {id}", case_file.path, case.id));
    }
    let records = match listed("records.log") {
        Some(f) => {
            let bytes = read_listed(export, f).map_err(|d| format!("{}: {d}", f.path))?;
            let scan = melanoscope_shared::formats::scan_log(&bytes);
            scan.records.into_iter().map(|(_, r)| r).filter(|r| r.case.as_deref() == Some(id)).collect()
        }
        None => Vec::new(),
    };
    for f in &case.fields {
        // A field image that is not listed, not as listed, or not a PNG is left out; the page
        // says it is unreadable.
        let Some(listed) = listed(&f.file) else { continue };
        let Ok(png) = read_listed(export, listed) else { continue };
        let mut img = melanoscope_shared::image::RgbImage::filled(1, 1, [0; 3]).map_err(|e| e.to_string())?;
        let bounds = melanoscope_shared::image::FrameBounds::HARD;
        if melanoscope_shared::image::decode_rgb_into_bounded(&png, &mut img, bounds).is_err() {
            continue;
        }
        let folder = Path::new(&f.file).parent().and_then(Path::to_str).unwrap_or("fields");
        let dir = plain_dir(target, &[folder]).map_err(|e| melanoscope_shared::errors::error_chain(&e))?;
        let name = Path::new(&f.file).file_name().map(PathBuf::from).unwrap_or_default();
        melanoscope_shared::atomic::write_atomic(&dir.join(name), &png).map_err(|e| e.to_string())?;
    }
    let page = target.join("index.html");
    melanoscope_shared::atomic::write_atomic(&page, case_html(target, &case, &records).as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(case)
}

/// Checks every export and regenerates the cases of the sound ones under
/// `out/<device>-<export id>/<case>/` (two exports of one device, or two devices of one name,
/// never share a folder), and writes `out/index.html` listing them all; damaged exports, and
/// an export given twice, are refused and listed.
pub fn review(exports: &[PathBuf], out: &Path) -> Result<ReviewSummary, CaseError> {
    plain_dir(out, &[])?;
    let mut rows: Vec<(String, String, CaseFile)> = Vec::new();
    let mut refused = Vec::new();
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for export in exports {
        let (manifest, export_id) = match verify(export) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %melanoscope_shared::errors::Chain(&e), "export refused");
                refused.push(melanoscope_shared::errors::error_chain(&e));
                continue;
            }
        };
        if let Some(first) = seen.get(&export_id) {
            refused.push(format!("export {}: the same export as {first}; merged once", export.display()));
            continue;
        }
        seen.insert(export_id.clone(), export.display().to_string());
        let device = melanoscope_shared::folder_name::folder_name(&manifest.device);
        let folder = format!("{device}-{export_id}");
        for c in &manifest.cases {
            let target = plain_dir(out, &[&folder, &c.id])?;
            match regenerate_case(export, &manifest, &c.id, &target) {
                Ok(case) => rows.push((manifest.device.clone(), folder.clone(), case)),
                Err(why) => refused.push(format!("export {}: case {}: {why}", export.display(), c.id)),
            }
        }
    }
    rows.sort_by(|a, b| (a.2.opened_unix_ms, &a.1).cmp(&(b.2.opened_unix_ms, &b.1)));
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cases for review</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #bbb;padding:.25em .6em}th{background:#eee}</style></head><body>\n\
         <h1>Cases for review</h1>\n",
    );
    let _ = writeln!(h, "<p>{} cases from {} exports.</p>", rows.len(), seen.len());
    if !refused.is_empty() {
        h.push_str("<h2>Refused exports and cases</h2>\n<ul>");
        for r in &refused {
            let _ = write!(h, "<li>{}</li>", esc(r));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<table><tr><th>Opened (UTC)</th><th>Device</th><th>Case</th><th>Status</th><th>Verdict</th></tr>");
    for (device, folder, c) in &rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><a href=\"{d}/{id}/index.html\">{id}</a></td><td>{}</td><td>{}</td></tr>",
            iso8601_utc(c.opened_unix_ms),
            esc(device),
            esc(c.status.name()),
            esc(c.verdict.map_or("no verdict", |v| v.label())),
            d = esc(folder),
            id = esc(&c.id),
        );
    }
    h.push_str("</table>\n</body></html>\n");
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
