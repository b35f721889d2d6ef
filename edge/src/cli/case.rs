//! `melanoscope-edge case …` and `review`: open and close cases on the running screen (through
//! its control socket), write a case's page, export cases for review, and merge exports.

use anyhow::{Result, bail};
use melanoscope_edge::cases::control::{Request, send};
use melanoscope_edge::cases::fleet::{device_name, export_cases, parse_date, review};
use melanoscope_edge::cases::page::write_case_page;
use melanoscope_edge::config::EdgeConfig;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SiteArg {
    /// Site settings (TOML) laid over the defaults: where the cases, log and socket are.
    #[arg(long, default_value = "/etc/melanoscope/site.toml")]
    pub config: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
pub enum CaseCommand {
    /// Open case ID on the running screen (letters, digits, '-', '_', '.'; e.g. a barcode).
    Open {
        id: String,
        #[command(flatten)]
        site: SiteArg,
    },
    /// Close the open case on the running screen.
    Close {
        #[command(flatten)]
        site: SiteArg,
    },
    /// Which case the running screen has open.
    Status {
        #[command(flatten)]
        site: SiteArg,
    },
    /// Write case ID's page (one self-contained HTML file) to OUT/index.html.
    Report {
        id: String,
        #[arg(long)]
        out: PathBuf,
        /// Open the page in headless Chromium: every image loads, no console message.
        #[arg(long)]
        check_in_browser: bool,
        #[command(flatten)]
        site: SiteArg,
    },
    /// Export the cases opened since DATE (YYYY-MM-DD, UTC) to a new folder for review:
    /// records, fields, pages and a manifest of checksums.
    Export {
        #[arg(long, value_parser = parse_date)]
        since: u64,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        site: SiteArg,
    },
}

fn load(site: &SiteArg) -> Result<EdgeConfig> {
    Ok(EdgeConfig::load(Some(&site.config))?)
}

fn control(site: &SiteArg, request: Request) -> Result<()> {
    let cfg = load(site)?;
    let answer = send(&cfg.control_socket(), &request)?;
    println!("{answer}");
    Ok(())
}

pub fn run(command: CaseCommand) -> Result<()> {
    match command {
        CaseCommand::Open { id, site } => {
            // Refused here with the reason before it reaches the screen.
            melanoscope_shared::formats::check_case_id(&id)?;
            control(&site, Request::Open(id))
        }
        CaseCommand::Close { site } => control(&site, Request::Close),
        CaseCommand::Status { site } => control(&site, Request::Status),
        CaseCommand::Report { id, out, check_in_browser, site } => {
            let cfg = load(&site)?;
            let page = write_case_page(&cfg.cases_dir(), &cfg.log.path, &id, &out)?;
            if check_in_browser {
                check_in_chromium(&page, &out)?;
            }
            println!("{}", page.display());
            Ok(())
        }
        CaseCommand::Export { since, out, site } => {
            let cfg = load(&site)?;
            let s = export_cases(&cfg.cases_dir(), &cfg.log.path, since, &device_name(), &out)?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(())
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// Case exports (folders written by `case export`), from any number of devices.
    #[arg(long = "export", required = true)]
    pub exports: Vec<PathBuf>,
    /// Where the merged cases and their index page go.
    #[arg(long)]
    pub out: PathBuf,
}

/// `review`: exit status 1 when an export was refused (the others are merged).
pub fn review_command(args: ReviewArgs) -> Result<i32> {
    let s = review(&args.exports, &args.out)?;
    println!("{}", serde_json::to_string_pretty(&s)?);
    for r in &s.refused {
        eprintln!("refused: {r}");
    }
    Ok(i32::from(!s.refused.is_empty()))
}

/// The case page opened in headless Chromium: every image loaded and no console message.
#[cfg(feature = "browser-check")]
fn check_in_chromium(page: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let check = melanoscope_pagecheck::check_page(page, &out.join("screenshot.png"))
        .map_err(|e| anyhow::Error::new(e).context(format!("opening {} in Chromium", page.display())))?;
    let broken = check.broken();
    if !broken.is_empty() || !check.console.is_empty() {
        bail!("{}: images that did not load {broken:?}, console {:?}", page.display(), check.console);
    }
    eprintln!("{}: {} images loaded in Chromium, no console message", page.display(), check.images.len());
    Ok(())
}

/// Board binaries have no browser: the option is refused, naming what would give it.
#[cfg(not(feature = "browser-check"))]
fn check_in_chromium(page: &std::path::Path, _out: &std::path::Path) -> Result<()> {
    bail!(
        "{}: --check-in-browser needs a build with the `browser-check` feature (a host with \
         Chromium); the page itself was written",
        page.display()
    )
}

#[cfg(all(test, not(feature = "browser-check")))]
mod tests {
    #[test]
    fn checking_in_a_browser_without_the_feature_is_an_error_naming_it() {
        let e = super::check_in_chromium("case/index.html".as_ref(), "case".as_ref()).unwrap_err().to_string();
        assert!(e.contains("case/index.html") && e.contains("browser-check"), "{e}");
    }
}
