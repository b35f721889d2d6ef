//! The case page a pathologist reviews: one self-contained HTML file (every image inlined, no
//! script), with the case id and times, the objective and µm/px, the model card (bundle hash,
//! signer), the case verdict, its verdict history from the record log, the most suspicious
//! fields beside their CAM overlays, and the gated frames counted by reason.

use super::{CaseError, CaseFile, io};
use crate::records::iso8601_utc;
use melanoscope_shared::formats::{RecordKind, ScreeningRecord};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use melanoscope_shared::html::{base64, escape as esc};

/// What a record did, as the history table says it.
fn what(r: &ScreeningRecord) -> String {
    match &r.kind {
        RecordKind::VerdictChange => "verdict".into(),
        RecordKind::Snapshot { bundle } => format!("snapshot {bundle}"),
        RecordKind::Fault { message } => format!("fault: {message}"),
        RecordKind::CaseOpened => "case opened".into(),
        RecordKind::CaseClosed { .. } => "case closed".into(),
        RecordKind::CaseInterrupted => "case interrupted (restart)".into(),
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:70em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}\
th{background:#eee}.verdict{font-size:1.4em;font-weight:bold}.fields figure{display:inline-block;margin:.5em}\
.fields img{width:24em;border:1px solid #888}code{font-size:.85em;word-break:break-all}";

/// The case page's HTML from its folder and the records of the log that carry its id.
pub fn case_html(folder: &Path, case: &CaseFile, records: &[ScreeningRecord]) -> String {
    let mut h = String::new();
    let t = |ms: u64| iso8601_utc(ms);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Case {id}</title>\
         <style>{STYLE}</style></head><body>\n<h1>Case {id}</h1>\n",
        id = esc(&case.id)
    );
    let verdict = case.verdict.map_or("no verdict (no frame was screened to one)", |v| v.label());
    let _ = write!(h, "<p class=\"verdict\">Case verdict: {}</p>\n<table>", esc(verdict));
    let closed = match (case.status, case.closed_unix_ms) {
        (_, Some(ms)) => t(ms),
        (super::CaseStatus::Interrupted, None) => "not closed: interrupted (power cut or crash)".into(),
        _ => "still open".into(),
    };
    let rows = [
        ("Status", case.status.name().to_string()),
        ("Opened", t(case.opened_unix_ms)),
        ("Closed", closed),
        ("Objective", format!("{} ({} µm per camera pixel)", case.objective, case.um_per_px)),
        (
            "Frames",
            format!("{} ({} screened to a verdict, {} gated)", case.frames, case.screened, case.frames - case.screened),
        ),
    ];
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    h.push_str("</table>\n<h2>Model</h2>\n<table>");
    let m = &case.model;
    let card = [
        ("Architecture, task, form", format!("{} {} {}", m.architecture, m.task, m.form)),
        ("Model µm/px", m.model_um_per_px.to_string()),
        ("Threshold", format!("{:.3}", m.threshold)),
        (
            "Unfamiliar-tissue gate",
            match m.familiarity_threshold {
                Some(t) => format!("on (a field scoring above {t:.3} is unfamiliar)"),
                None => "off".into(),
            },
        ),
        ("Bundle SHA-256", m.bundle_sha256.clone()),
        ("Signer", m.signer.clone()),
    ];
    for (k, v) in card {
        let _ = write!(h, "<tr><th>{k}</th><td><code>{}</code></td></tr>", esc(&v));
    }
    h.push_str("</table>\n<h2>Gated frames</h2>\n");
    if case.gated.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str("<table><tr><th>Reason</th><th>Frames</th></tr>");
        for (reason, n) in &case.gated {
            let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(reason));
        }
        h.push_str("</table>\n");
    }
    let _ = write!(h, "<h2>Most suspicious fields ({})</h2>\n<div class=\"fields\">", case.fields.len());
    for f in &case.fields {
        let path = folder.join(&f.file);
        let familiarity = f.familiarity.map_or(String::new(), |s| format!(", familiarity score {s:.2}"));
        let caption = format!(
            "p(melanoma) {:.3}, frame {}, field {},{}, {}{familiarity}",
            f.probability,
            f.frame_id,
            f.col,
            f.row,
            t(f.time_unix_ms)
        );
        // A field image lost to a damaged disk is named, not the whole page lost.
        match super::read_bounded(&path, 64 << 20) {
            Ok(png) => {
                let _ = write!(
                    h,
                    "<figure><img alt=\"field {},{} of frame {}\" src=\"data:image/png;base64,{}\">\
                     <figcaption>{caption}</figcaption></figure>",
                    f.col,
                    f.row,
                    f.frame_id,
                    base64(&png)
                );
            }
            Err(e) => {
                let _ = write!(
                    h,
                    "<figure><p>image unreadable: {}</p><figcaption>{caption}</figcaption></figure>",
                    esc(&melanoscope_shared::errors::error_chain(&e))
                );
            }
        }
    }
    h.push_str("</div>\n<h2>Verdict history</h2>\n");
    h.push_str("<table><tr><th>Time (UTC)</th><th>Frame</th><th>Record</th><th>Verdict</th><th>p</th><th>Unfamiliar fields</th></tr>");
    for r in records {
        let unfamiliar = match m.familiarity_threshold {
            Some(limit) if !r.familiarity.is_empty() => {
                format!("{} of {}", r.familiarity.iter().filter(|s| **s > limit).count(), r.familiarity.len())
            }
            _ => "-".to_string(),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td></tr>",
            t(r.time_unix_ms),
            r.frame_id,
            esc(&what(r)),
            esc(r.verdict.label()),
            r.probability,
            unfamiliar
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

/// The records of `log` that carry case `id`, in order (an unreadable log gives none, with a
/// warning: the page still shows the case folder).
pub fn case_records(log: &Path, id: &str) -> Vec<ScreeningRecord> {
    match melanoscope_shared::formats::read_log_file(log) {
        Ok(scan) => scan.records.into_iter().map(|(_, r)| r).filter(|r| r.case.as_deref() == Some(id)).collect(),
        Err(e) => {
            tracing::warn!(log = %log.display(), error = %melanoscope_shared::errors::Chain(&e), "the record log does not read; the page has no history");
            Vec::new()
        }
    }
}

/// Writes case `id`'s page to `out/index.html` (atomically) and returns its path.
pub fn write_case_page(cases: &Path, log: &Path, id: &str, out: &Path) -> Result<PathBuf, CaseError> {
    let (folder, case) = super::find_case(cases, id)?;
    let records = case_records(log, id);
    let html = case_html(&folder, &case, &records);
    std::fs::create_dir_all(out).map_err(io(out))?;
    let page = out.join("index.html");
    melanoscope_shared::atomic::write_atomic(&page, html.as_bytes()).map_err(io(&page))?;
    Ok(page)
}
