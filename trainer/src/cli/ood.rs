//! `ood`: the AUROC of a bundle's familiarity score against outside sets, and the share of
//! in-distribution test fields its threshold passes (JSON to `--out`, a table on stdout).

use anyhow::{Context, Result};
use melanoscope_shared::stain::StainLimits;
use melanoscope_slides::slide::Magnification;
use melanoscope_trainer::ood::{OodPlan, OutsideSet, parse_outside, run, to_markdown};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct OodArgs {
    /// The model bundle (exported with familiarity statistics).
    #[arg(long)]
    pub bundle: PathBuf,
    #[arg(long)]
    pub manifest: PathBuf,
    #[arg(long)]
    pub split: PathBuf,
    /// The magnification of the bundle's test fields (e.g. 40X).
    #[arg(long, default_value = "40X")]
    pub magnification: Magnification,
    /// In-distribution test fields scored.
    #[arg(long, default_value_t = 256)]
    pub fields: usize,
    /// An outside set: NAME=PATH[,PATH...] (image files or folders of them), or
    /// NAME@UM_PER_PX=PATH[,...] for images at another µm/px (resampled to the bundle's, as the
    /// edge resamples a calibrated camera's frames); repeat for more.
    #[arg(long = "outside", value_parser = parse_outside)]
    pub outside: Vec<OutsideSet>,
    /// Fields cut from one outside image at most.
    #[arg(long, default_value_t = 16)]
    pub per_image: usize,
    /// Leave out the test fields re-rendered in other stains (IHC DAB, trichrome, PAS).
    #[arg(long)]
    pub no_restained: bool,
    /// Simulated microscope cameras the test fields are also seen through (as `export
    /// --frame-cameras` saw the statistics' fields); 0 for the fields as read only.
    #[arg(long, default_value_t = 4)]
    pub cameras: u32,
    /// The edge's `screening.stain_max_angle_haematoxylin` and `_eosin` (degrees, `H,E`) the
    /// stain check is measured at, with a bundle that carries a Macenko stain target.
    #[arg(long, default_value = "15,6", value_parser = parse_limits)]
    pub stain_limits: StainLimits,
    /// Test fields re-stained in other labs' styles (weaker haematoxylin, stronger eosin, a
    /// blue-grey cast, a faded slide) and measured as stained and normalised each way; 0 for
    /// none.
    #[arg(long, default_value_t = 96)]
    pub lab_style_fields: usize,
    /// The report as JSON.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn ood(args: OodArgs) -> Result<()> {
    let plan = OodPlan {
        bundle: args.bundle,
        manifest: args.manifest,
        split: args.split,
        magnification: args.magnification,
        fields: args.fields,
        outside: args.outside,
        per_image: args.per_image,
        restained: !args.no_restained,
        cameras: args.cameras,
        stain_limits: args.stain_limits,
        lab_style_fields: args.lab_style_fields,
    };
    let report = run(&plan)?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    melanoscope_shared::atomic::write_atomic(&args.out, json.as_bytes())
        .with_context(|| format!("writing {}", args.out.display()))?;
    print!("{}", to_markdown(&report));
    Ok(())
}

/// `H,E` in degrees, each above 0 and at most 90.
fn parse_limits(s: &str) -> Result<StainLimits, String> {
    let expected = || format!("{s:?}; expected H,E: two angles in degrees above 0, at most 90 (e.g. 15,6)");
    let v: Vec<f32> =
        s.split(',').map(|p| p.trim().parse::<f32>()).collect::<Result<_, _>>().map_err(|_| expected())?;
    match v.as_slice() {
        [h, e] if [h, e].iter().all(|a| **a > 0.0 && **a <= 90.0) => {
            Ok(StainLimits { haematoxylin_deg: *h, eosin_deg: *e })
        }
        _ => Err(expected()),
    }
}
