//! `melanoscope-edge check-config`: a site file checked against the defaults, and the settings
//! that result, printed as TOML.

use anyhow::Result;
use melanoscope_edge::config::EdgeConfig;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    #[arg(long, default_value = "/etc/melanoscope/site.toml")]
    pub config: PathBuf,
}

pub fn run(args: CheckConfigArgs) -> Result<()> {
    let cfg = EdgeConfig::load(Some(&args.config))?;
    println!("{}", toml::to_string(&cfg)?);
    match cfg.active_objective() {
        Ok((name, _, u)) => eprintln!("objective {name}: {u} µm/px"),
        Err(e) => eprintln!("warning: {e}"),
    }
    Ok(())
}
