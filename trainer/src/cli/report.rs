//! `report`: one self-contained HTML page of a run folder, optionally checked in headless
//! Chromium (every image loaded, no console message) with a screenshot kept beside it.

use anyhow::{Result, bail};
use melanoscope_trainer::report::browser::check_page;
use melanoscope_trainer::report::write_report;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The run folder: what `make demo` writes to out/demo, or a lab's own, laid out as its
    /// commands wrote it (each part is found by what its file holds, 4 folders deep; what is
    /// not found is named).
    #[arg(long)]
    pub run: PathBuf,
    /// Folder for index.html and its assets/ (default: <run>/report).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Open the page in headless Chromium: fail when an image does not load or the console
    /// says anything; keep a screenshot as <out>/screenshot.png.
    #[arg(long)]
    pub check_in_browser: bool,
}

pub fn report(args: ReportArgs) -> Result<()> {
    let out = args.out.unwrap_or_else(|| args.run.join("report"));
    let done = write_report(&args.run, &out)?;
    for s in &done.skipped {
        eprintln!("report: skipped in \"{}\": {}", s.section, s.why);
    }
    eprintln!(
        "report: {} sections, {} images and SVGs, {} pieces skipped",
        done.sections.len(),
        done.assets,
        done.skipped.len()
    );
    if args.check_in_browser {
        let shot = out.join("screenshot.png");
        let check = check_page(&done.page, &shot)?;
        let broken = check.broken();
        eprintln!(
            "browser: {} images, {} broken, {} console messages; screenshot {}",
            check.images.len(),
            broken.len(),
            check.console.len(),
            shot.display()
        );
        if !broken.is_empty() || !check.console.is_empty() {
            bail!("the page did not load cleanly: broken images {broken:?}; console {:?}", check.console);
        }
    }
    println!("{}", done.page.display());
    Ok(())
}
