//! The pages the web view serves from disk: the device's cases (each page made from its case
//! folder, as `case report` makes it) and a review folder. A path from a request is decoded,
//! refused when any part is not a plain name (`..`, `.hidden`, a backslash, a NUL), refused
//! when any part on disk is a symbolic link, and checked once more to resolve inside its root:
//! nothing outside the served folders is read.

use crate::cases::page::{case_html, case_records};
use crate::cases::{find_case, list_cases};
use crate::records::iso8601_utc;
use melanoscope_shared::folder_name::is_plain;
use melanoscope_shared::html::escape as esc;
use std::path::{Path, PathBuf};

/// Largest file served from the review folder.
const MAX_FILE: u64 = 64 << 20;

/// Why a path is not served (answered 404 with the reason, never more).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}: not a plain name (letters, digits, '-', '_', '.', not starting with '.')")]
    Name(String),
    #[error("{0} is a symbolic link; only plain files inside the served folder are served")]
    Link(String),
    #[error("{0}: not found")]
    Missing(String),
    #[error("{0}: larger than {MAX_FILE} bytes")]
    TooLarge(String),
}

/// `rel` (already percent-decoded; `/`-separated) as a path inside `root`: each part plain, no
/// part a link, and the whole resolving inside `root`.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, Refused> {
    let mut at = root.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        if !is_plain(part) {
            return Err(Refused::Name(part.escape_debug().to_string()));
        }
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return Err(Refused::Link(rel.to_string())),
            Ok(_) => {}
            Err(_) => return Err(Refused::Missing(rel.to_string())),
        }
    }
    // Belt and braces: the root itself may be reached through links the site set up, but what
    // is below it must stay below it.
    let (root_c, at_c) = (root.canonicalize(), at.canonicalize());
    match (root_c, at_c) {
        (Ok(r), Ok(a)) if a.starts_with(&r) => Ok(at),
        _ => Err(Refused::Missing(rel.to_string())),
    }
}

/// A file of the review folder: its bytes and content type (a folder gives its `index.html`).
pub fn review_file(root: &Path, rel: &str) -> Result<(Vec<u8>, &'static str), Refused> {
    let mut path = resolve(root, rel)?;
    if path.is_dir() {
        path = resolve(root, &format!("{rel}/index.html"))?;
    }
    let meta = std::fs::metadata(&path).map_err(|_| Refused::Missing(rel.into()))?;
    if !meta.is_file() {
        return Err(Refused::Missing(rel.into()));
    }
    if meta.len() > MAX_FILE {
        return Err(Refused::TooLarge(rel.into()));
    }
    let bytes = std::fs::read(&path).map_err(|_| Refused::Missing(rel.into()))?;
    Ok((bytes, content_type(&path)))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("json") => "application/json",
        Some("csv") => "text/csv; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Refuses a case folder holding any symbolic link (its page inlines the files it names).
fn no_links_in(folder: &Path, depth: u32) -> Result<(), Refused> {
    let shown = || folder.display().to_string();
    let meta = std::fs::symlink_metadata(folder).map_err(|_| Refused::Missing(shown()))?;
    if meta.file_type().is_symlink() {
        return Err(Refused::Link(shown()));
    }
    if !meta.is_dir() || depth == 0 {
        return Ok(());
    }
    for entry in std::fs::read_dir(folder).map_err(|_| Refused::Missing(shown()))?.flatten() {
        no_links_in(&entry.path(), depth - 1)?;
    }
    Ok(())
}

/// The page of case `id` of `cases` (made now from its folder and the record log).
pub fn case_page(cases: &Path, log: &Path, id: &str) -> Result<String, Refused> {
    if !is_plain(id) {
        return Err(Refused::Name(id.escape_debug().to_string()));
    }
    // case.json and fields/*.png: two levels below the case folder.
    no_links_in(&cases.join(id), 2)?;
    resolve(cases, id)?;
    let (folder, case) = find_case(cases, id).map_err(|_| Refused::Missing(id.into()))?;
    Ok(case_html(&folder, &case, &case_records(log, id)))
}

/// The list of the device's cases, newest first, each linking to its page.
pub fn case_index(cases: &Path) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">\
         <title>Cases</title></head><body>\n<h1>Cases on this device</h1>\n<p><a href=\"/\">Live screen</a></p>\n",
    );
    let mut cases = match list_cases(cases) {
        Ok(c) => c,
        Err(e) => {
            h.push_str(&format!(
                "<p>No cases: {}</p></body></html>\n",
                esc(&melanoscope_shared::errors::error_chain(&e))
            ));
            return h;
        }
    };
    // A case folder that is a link is not listed (nor served).
    cases.retain(|(folder, _)| std::fs::symlink_metadata(folder).is_ok_and(|m| !m.file_type().is_symlink()));
    cases.reverse();
    h.push_str("<table><tr><th>Opened (UTC)</th><th>Case</th><th>Status</th><th>Verdict</th></tr>\n");
    for (_, c) in &cases {
        h.push_str(&format!(
            "<tr><td>{}</td><td><a href=\"/cases/{id}/\">{id}</a></td><td>{}</td><td>{}</td></tr>\n",
            iso8601_utc(c.opened_unix_ms),
            esc(c.status.name()),
            esc(c.verdict.map_or("no verdict", |v| v.label())),
            id = esc(&c.id),
        ));
    }
    h.push_str("</table></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use melanoscope_shared::scratch::ScratchDir;

    /// `..`, hidden names, encoded separators and links are refused; plain files are served.
    #[test]
    fn only_plain_files_inside_the_root_are_served() {
        let dir = ScratchDir::new("web-files");
        let root = dir.join("review");
        std::fs::create_dir_all(root.join("dev-1/S1")).unwrap();
        std::fs::write(root.join("index.html"), b"<p>index</p>").unwrap();
        std::fs::write(root.join("dev-1/S1/index.html"), b"case").unwrap();
        std::fs::write(dir.join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("leak.html")).unwrap();
        std::os::unix::fs::symlink(&dir, root.join("up")).unwrap();
        assert_eq!(review_file(&root, "").unwrap(), (b"<p>index</p>".to_vec(), "text/html; charset=utf-8"));
        assert_eq!(review_file(&root, "dev-1/S1/").unwrap().0, b"case");
        for bad in ["../secret.txt", "dev-1/../../secret.txt", ".hidden", "a\\b", "a\0b"] {
            assert!(matches!(review_file(&root, bad), Err(Refused::Name(_))), "{bad}");
        }
        assert!(matches!(review_file(&root, "leak.html"), Err(Refused::Link(_))));
        assert!(matches!(review_file(&root, "up/secret.txt"), Err(Refused::Link(_))));
        assert!(matches!(review_file(&root, "none.html"), Err(Refused::Missing(_))));
    }
}
