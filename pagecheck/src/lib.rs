//! A report page opened in a real browser (its own crate: the trainer's run report and the
//! edge's case pages are checked alike): headless Chromium loads a small checking page beside
//! the report that frames it, lists every image and whether it loaded (decoded, non-zero
//! size), and Chromium's own log gives any console message (the report has no script, so any
//! message is the browser complaining). A second run saves a screenshot. The page's HTML
//! itself is `melanoscope_shared::html`'s: this crate only opens pages.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::path::{Path, PathBuf};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("no Chromium found (set MELANOSCOPE_CHROMIUM, or install Debian's `chromium`: scripts/setup.sh does)")]
    NoBrowser,
    #[error("{path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{browser} did not finish within {seconds} s")]
    Timeout { browser: String, seconds: u64 },
    #[error("{browser} exited with {status}: {stderr}")]
    Failed { browser: String, status: String, stderr: String },
    #[error("the checking page gave no result (the report did not load?): {0}")]
    NoResult(String),
}

/// What the browser saw.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BrowserCheck {
    /// Every `<img>` of the page with whether it loaded.
    pub images: Vec<ImageLoad>,
    /// Console messages while the page loaded.
    pub console: Vec<String>,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImageLoad {
    pub src: String,
    pub loaded: bool,
}

impl BrowserCheck {
    pub fn broken(&self) -> Vec<&str> {
        self.images.iter().filter(|i| !i.loaded).map(|i| i.src.as_str()).collect()
    }
}

/// The Chromium to use: `MELANOSCOPE_CHROMIUM`, else `chromium`, `chromium-browser` or
/// `google-chrome` on the PATH.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MELANOSCOPE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser", "google-chrome"].map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

const CHECKER: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>check</title></head><body>
<pre id="result">pending</pre>
<iframe id="page" src="index.html" width="1280" height="900"></iframe>
<script>
const frame = document.getElementById('page');
function check() {
  const d = frame.contentDocument;
  if (!d) { document.getElementById('result').textContent = 'no-document'; return; }
  const images = Array.from(d.images).map(i => ({src: i.getAttribute('src') || '', loaded: i.complete && i.naturalWidth > 0}));
  document.getElementById('result').textContent = JSON.stringify({images: images, console: [], title: d.title});
}
frame.addEventListener('load', check);
if (frame.contentDocument && frame.contentDocument.readyState === 'complete') check();
</script></body></html>
"#;

const TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `browser` with `args`, bounded by [`TIMEOUT`]; its standard output and error.
fn run(browser: &Path, args: &[String], profile: &Path) -> Result<(String, String), BrowserError> {
    let name = browser.display().to_string();
    let io = |source| BrowserError::Io { path: browser.to_path_buf(), source };
    let out_file = profile.join("stdout.txt");
    let err_file = profile.join("stderr.txt");
    let file = |p: &Path| std::fs::File::create(p).map_err(|source| BrowserError::Io { path: p.to_path_buf(), source });
    let mut child = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--allow-file-access-from-files"])
        .arg(format!("--user-data-dir={}", profile.join("profile").display()))
        .args(["--enable-logging=stderr", "--v=0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(file(&out_file)?)
        .stderr(file(&err_file)?)
        .spawn()
        .map_err(io)?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(io)? {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BrowserError::Timeout { browser: name, seconds: TIMEOUT.as_secs() });
        }
        // Polling a child process for its exit; not a wait for a result to appear.
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (stdout, stderr) = (read(&out_file), read(&err_file));
    if !status.success() {
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(BrowserError::Failed { browser: name, status: status.to_string(), stderr: tail });
    }
    Ok((stdout, stderr))
}

/// A throw-away browser profile and log folder, removed when dropped.
struct Profile(PathBuf);

impl Profile {
    fn new() -> Result<Self, BrowserError> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("melanoscope-browser-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|source| BrowserError::Io { path: dir.clone(), source })?;
        Ok(Self(dir))
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
}

/// Opens `page` (a report's index.html) in headless Chromium: which images loaded, what the
/// console said; then saves a screenshot of the page's top to `screenshot`.
pub fn check_page(page: &Path, screenshot: &Path) -> Result<BrowserCheck, BrowserError> {
    let browser = find_chromium().ok_or(BrowserError::NoBrowser)?;
    let dir = page.parent().unwrap_or(Path::new("."));
    let abs = |p: &Path| std::fs::canonicalize(p).map_err(|source| BrowserError::Io { path: p.to_path_buf(), source });
    let page = abs(page)?;
    let dir = abs(dir)?;
    let profile = Profile::new()?;
    // The checker must sit beside the page: file pages reach only their own folder.
    let checker = dir.join(".browser-check.html");
    let io = |source| BrowserError::Io { path: checker.clone(), source };
    std::fs::write(&checker, CHECKER).map_err(io)?;
    let url = |p: &Path| {
        format!("file://{}", p.display().to_string().replace('%', "%25").replace(' ', "%20").replace('#', "%23"))
    };
    let checked =
        run(&browser, &["--virtual-time-budget=10000".into(), "--dump-dom".into(), url(&checker)], &profile.0);
    let _ = std::fs::remove_file(&checker);
    let (dom, log) = checked?;
    let start = dom.find("id=\"result\">").map(|i| i + "id=\"result\">".len());
    let body = start.and_then(|s| dom[s..].find("</pre>").map(|e| unescape(&dom[s..s + e])));
    let mut result: BrowserCheck = match body {
        Some(b) => serde_json::from_str(&b).map_err(|_| BrowserError::NoResult(b))?,
        None => return Err(BrowserError::NoResult(dom.chars().take(200).collect())),
    };
    result.console = log.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    if let Some(parent) = screenshot.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| BrowserError::Io { path: parent.to_path_buf(), source })?;
    }
    let shot = screenshot.with_extension("tmp.png");
    run(
        &browser,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400".into(),
            "--hide-scrollbars".into(),
            url(&page),
        ],
        &profile.0,
    )?;
    std::fs::rename(&shot, screenshot).map_err(|source| BrowserError::Io { path: shot.clone(), source })?;
    Ok(result)
}
