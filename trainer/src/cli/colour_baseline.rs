//! `colour-baseline`: how far colour alone (patch RGB mean/std) gets on a manifest and split.

use anyhow::Result;
use melanoscope_slides::split::PatientSplit;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ColourBaselineArgs {
    #[arg(long)]
    pub manifest: PathBuf,
    #[arg(long)]
    pub split: PathBuf,
    #[arg(long, default_value = "40X")]
    pub magnification: String,
}

pub fn colour_baseline(args: ColourBaselineArgs) -> Result<()> {
    let rows = melanoscope_slides::manifest::read_manifest(&args.manifest)?;
    let split = PatientSplit::load(&args.split)?;
    let report =
        melanoscope_trainer::experiment::colour_baseline::colour_only_baseline(&rows, &split, &args.magnification)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
