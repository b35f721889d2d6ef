//! One page a pathologist can read: `report --run <folder>` gathers what a run folder holds
//! (patch sets, evaluation reports, the experiment grid, explanations, bundles, edge
//! screening and benchmarks) into a static, self-contained HTML page: inline CSS, no script,
//! nothing fetched; its images and SVGs are copied beside it into `assets/`. A piece that is
//! missing or damaged is skipped with a note that names it and why; the rest is written.

mod html;
mod layout;
mod sections;

pub use melanoscope_pagecheck as browser;

use std::path::{Path, PathBuf};

/// Why no page could be written at all (a damaged piece is skipped instead).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("run folder {0}: not a folder")]
    NoRun(PathBuf),
    #[error("{path}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Why a section, or a piece of one, is not on the page.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Skip {
    /// The run folder has nothing the section shows.
    #[error("{0}")]
    Absent(&'static str),
    /// A file is there but cannot be shown: missing, too large, not what its writer writes.
    #[error("{file}: {why}")]
    Damaged { file: String, why: String },
}

/// A piece of the run left out of the page, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Skipped {
    pub section: String,
    pub why: String,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportOutcome {
    pub page: PathBuf,
    /// Sections written with content, in page order.
    pub sections: Vec<String>,
    pub skipped: Vec<Skipped>,
    /// Images and SVGs copied beside the page.
    pub assets: usize,
}

/// The page being assembled: its body, what was skipped, and the assets copied so far.
pub(crate) struct Page {
    run: PathBuf,
    out: PathBuf,
    body: String,
    section: String,
    sections: Vec<String>,
    skipped: Vec<Skipped>,
    assets: Vec<String>,
    layout: layout::Layout,
}

/// Largest JSON file read (a report, a summary); anything bigger is not one of ours.
const MAX_JSON_BYTES: u64 = 64 << 20;
/// Largest image or SVG copied beside the page.
const MAX_ASSET_BYTES: u64 = 32 << 20;

impl Page {
    /// Notes that `what` was left out of the current section, and why.
    pub(crate) fn skip(&mut self, skip: Skip) {
        let why = skip.to_string();
        self.body.push_str(&format!("<p class=\"skipped\">Skipped: {}</p>\n", html::escape(&why)));
        self.skipped.push(Skipped { section: self.section.clone(), why });
    }

    pub(crate) fn push(&mut self, html: &str) {
        self.body.push_str(html);
    }

    /// `path` relative to the run folder, for notes.
    pub(crate) fn name(&self, path: &Path) -> String {
        path.strip_prefix(&self.run).unwrap_or(path).display().to_string()
    }

    pub(crate) fn run(&self) -> &Path {
        &self.run
    }

    /// A relative link from the page to `path` (a file left where it is, like a case page).
    pub(crate) fn link(&self, path: &Path) -> String {
        let common = self.out.components().zip(path.components()).take_while(|(a, b)| a == b).count();
        let ups = self.out.components().count() - common;
        let mut link: Vec<String> = vec!["..".into(); ups];
        link.extend(path.components().skip(common).map(|c| c.as_os_str().to_string_lossy().into_owned()));
        // Percent-encoded, so that a folder name with spaces or `#` stays one link.
        let mut href = String::new();
        for b in link.join("/").bytes() {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                href.push(char::from(b));
            } else {
                href.push_str(&format!("%{b:02X}"));
            }
        }
        href
    }

    pub(crate) fn layout(&self) -> &layout::Layout {
        &self.layout
    }

    /// The file at `path` read as its writer's type `T`; the skip names the file and what is
    /// wrong with it (a renamed or missing field included).
    pub(crate) fn read<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<T, Skip> {
        let text = self.bytes(path, MAX_JSON_BYTES)?;
        serde_json::from_slice(&text).map_err(|e| {
            let why =
                if e.is_data() { format!("not what its writer writes ({e})") } else { format!("not valid JSON ({e})") };
            Skip::Damaged { file: self.name(path), why }
        })
    }

    /// The bytes of `path`, at most `limit` of them; refused when the path leaves the run
    /// folder (a run file naming `../` paths must not copy the host's files into a report).
    pub(crate) fn bytes(&self, path: &Path, limit: u64) -> Result<Vec<u8>, Skip> {
        use melanoscope_shared::bounded::{BoundedReadError, read_bounded};
        use std::path::Component;
        let damaged = |why: String| Skip::Damaged { file: self.name(path), why };
        let inside = path
            .strip_prefix(&self.run)
            .is_ok_and(|rest| rest.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)));
        if !inside {
            return Err(damaged(format!("outside the run folder {}; expected a file inside it", self.run.display())));
        }
        read_bounded(path, limit).map_err(|e| match e {
            BoundedReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => damaged("missing".into()),
            BoundedReadError::Io(e) => damaged(melanoscope_shared::errors::error_chain(&e)),
            BoundedReadError::TooLarge { .. } => damaged(format!("more than {limit} bytes; expected at most that")),
        })
    }

    /// Copies the image or SVG at `path` beside the page after checking that a browser can
    /// show it, and returns the `<img>` for it (or a skip note, returning an empty string).
    pub(crate) fn image(&mut self, path: &Path, alt: &str, class: &str) -> String {
        match self.copy_asset(path) {
            Ok(src) => format!("<img class=\"{class}\" src=\"{}\" alt=\"{}\">", html::escape(&src), html::escape(alt)),
            Err(skip) => {
                self.skip(skip);
                String::new()
            }
        }
    }

    fn copy_asset(&mut self, path: &Path) -> Result<String, Skip> {
        let name = self.name(path);
        let bytes = self.bytes(path, MAX_ASSET_BYTES)?;
        let damaged = |why: String| Skip::Damaged { file: name.clone(), why };
        let svg = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg"));
        if svg {
            check_svg(&bytes).map_err(|why| damaged(why.to_string()))?;
        } else {
            let mut img = melanoscope_shared::image::RgbImage::filled(1, 1, [0; 3])
                .map_err(|e| damaged(melanoscope_shared::errors::error_chain(&e)))?;
            melanoscope_shared::image::decode_rgb_into_bounded(
                &bytes,
                &mut img,
                melanoscope_shared::image::FrameBounds::HARD,
            )
            .map_err(|e| damaged(format!("not an image a browser can show ({e})")))?;
        }
        // One flat folder; the run-relative path makes the name unique.
        let flat: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
        let target = self.out.join("assets").join(&flat);
        melanoscope_shared::atomic::write_atomic(&target, &bytes)
            .map_err(|e| Skip::Damaged { file: target.display().to_string(), why: format!("cannot write it: {e}") })?;
        if !self.assets.contains(&flat) {
            self.assets.push(flat.clone());
        }
        Ok(format!("assets/{flat}"))
    }
}

/// An SVG the browser will draw: UTF-8 text with a closed `<svg>` root.
fn check_svg(bytes: &[u8]) -> Result<(), &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text; expected an SVG")?;
    let t = text.trim();
    let start = t.find("<svg").ok_or("no <svg> element")?;
    if !t.ends_with("</svg>") || !t[start..].contains('>') {
        return Err("the <svg> element is not closed (truncated?)");
    }
    Ok(())
}

/// Writes `<out>/index.html` (and `assets/`) from the run folder `run`.
pub fn write_report(run: &Path, out: &Path) -> Result<ReportOutcome, ReportError> {
    if !run.is_dir() {
        return Err(ReportError::NoRun(run.to_path_buf()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    std::fs::create_dir_all(out.join("assets")).map_err(io(&out.join("assets")))?;
    // Absolute, so that the parts' paths and the summaries' absolute paths compare.
    let run = std::fs::canonicalize(run).map_err(io(run))?;
    let out = std::fs::canonicalize(out).map_err(io(out))?;
    let layout = layout::Layout::find(&run, &out);
    let mut page = Page {
        run: run.clone(),
        out: out.clone(),
        layout,
        body: String::new(),
        section: String::new(),
        sections: Vec::new(),
        skipped: Vec::new(),
        assets: Vec::new(),
    };
    for (title, build) in sections::ALL {
        page.section = (*title).to_string();
        page.push(&format!("<section>\n<h2>{}</h2>\n", html::escape(title)));
        let before = page.body.len();
        match build(&mut page) {
            Ok(()) => page.sections.push((*title).to_string()),
            Err(skip) => {
                page.body.truncate(before);
                page.skip(skip);
            }
        }
        page.push("</section>\n");
    }
    let html = html::document(&page.run.display().to_string(), &page.body, &page.skipped);
    let path = out.join("index.html");
    melanoscope_shared::atomic::write_atomic(&path, html.as_bytes()).map_err(io(&path))?;
    Ok(ReportOutcome { page: path, sections: page.sections, skipped: page.skipped, assets: page.assets.len() })
}
