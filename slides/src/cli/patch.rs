//! `patch`: the slides of a cohort cut into patches at one or more magnifications.

use crate::annotations::{AnnotationPolicy, RegionLabelMap};
use crate::cohort::load_cohort;
use crate::patching::{PatchImageFormat, PatchJob, run_patch_job};
use crate::slide::MagnificationPresets;
use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ImageFormatArg {
    Png,
    Jpeg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AnnotationsArg {
    Auto,
    None,
}

#[derive(clap::Args, Debug)]
pub struct PatchArgs {
    /// Cohort CSV: slide, slide_id, patient_id, label (MM/IN/CN/JN), optional site, um_per_px.
    #[arg(long)]
    pub cohort: PathBuf,
    /// Output folder (manifest.parquet, report.json, slides/<id>/{patches.parquet,qc.png}).
    #[arg(long)]
    pub out: PathBuf,
    /// `all`, or a comma-separated list of 40X, 20X, 10X, 4X or µm/px values.
    #[arg(long, default_value = "all")]
    pub magnifications: String,
    /// Also write patch images in class folders, like the study's dataset.
    #[arg(long, value_enum)]
    pub export_images: Option<ImageFormatArg>,
    /// µm/px for slides whose metadata lacks it (the cohort's um_per_px column wins).
    #[arg(long)]
    pub um_per_px: Option<f64>,
    /// Slides processed in parallel.
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(2, |n| n.get()))]
    pub threads: usize,
    /// `auto`: patch inside the regions of the cohort's `annotations` column, or of a QuPath
    /// GeoJSON / ASAP / Aperio XML file beside the slide (<stem>.geojson, .json, .xml);
    /// slides with neither use the tissue mask. `none`: tissue mask only.
    #[arg(long, value_enum, default_value = "auto")]
    pub annotations: AnnotationsArg,
    /// Keep a patch when at least this fraction of it lies inside one included region.
    #[arg(long, default_value_t = 0.5)]
    pub min_region_overlap: f32,
    /// Region classes that remove patches (comma-separated, compared without case).
    #[arg(long, default_value_t = crate::annotations::DEFAULT_EXCLUDE_CLASSES.join(","))]
    pub exclude_classes: String,
    /// Only these region classes are patched (comma-separated); any other class is an error.
    #[arg(long)]
    pub include_classes: Option<String>,
    /// Patch labels from region classes: `standard` (MM/Melanoma, IN/Intradermal nevus, ...),
    /// a CSV of class,label rows, or inline `Tumor=MM,Nevus=IN`. Slide labels stay the cohort's.
    #[arg(long)]
    pub region_labels: Option<String>,
    /// Seconds one slide may take; a slide past it fails, named in the report, and the others
    /// go on (0: no limit).
    #[arg(long, default_value_t = 3600.0)]
    pub slide_time_limit: f64,
    /// Patch only shard K of N (`K/N`, from 0): the slides whose id hashes to K. Inside a Slurm
    /// array job it defaults to the task's shard. `merge patches --out OUT` joins the shards.
    #[arg(long)]
    pub shard: Option<String>,
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect()
}

pub fn run(args: PatchArgs) -> Result<ExitCode> {
    let magnifications = MagnificationPresets::default().parse_list(&args.magnifications)?;
    if !(0.0..=1.0).contains(&args.min_region_overlap) {
        bail!("--min-region-overlap {}: expected a fraction between 0 and 1", args.min_region_overlap);
    }
    let annotations = match args.annotations {
        AnnotationsArg::None => None,
        AnnotationsArg::Auto => Some(AnnotationPolicy {
            exclude_classes: list(&args.exclude_classes),
            include_classes: args.include_classes.as_deref().map(list),
            region_labels: args.region_labels.as_deref().map(RegionLabelMap::parse_spec).transpose()?,
            min_overlap: args.min_region_overlap,
        }),
    };
    let limit = args.slide_time_limit;
    if !(limit.is_finite() && limit >= 0.0) {
        bail!("--slide-time-limit {limit}: expected seconds (0 for no limit)");
    }
    let slide_time_limit = if limit > 0.0 {
        Some(
            std::time::Duration::try_from_secs_f64(limit)
                .with_context(|| format!("--slide-time-limit {limit}: expected seconds (0 for no limit)"))?,
        )
    } else {
        None
    };
    let shard = crate::shard::Shard::resolve(args.shard.as_deref())?;
    let cohort = load_cohort(&args.cohort)?;
    let job = PatchJob {
        out_dir: args.out,
        magnifications,
        mask_um_per_px: 8.0,
        export_images: args.export_images.map(|f| match f {
            ImageFormatArg::Png => PatchImageFormat::Png,
            ImageFormatArg::Jpeg => PatchImageFormat::Jpeg,
        }),
        default_um_per_px: args.um_per_px,
        threads: args.threads,
        show_progress: true,
        annotations,
        slide_time_limit,
        shard,
    };
    let report = run_patch_job(&job, &cohort)?;
    if !shard.is_whole() {
        println!(
            "shard {shard}: {} of the cohort's {} slides",
            report.slides.len(),
            cohort.slides.len() + cohort.rejected.len()
        );
    }
    print!("{}", report.summary());
    Ok(match report.failed {
        0 => ExitCode::SUCCESS,
        n if n == report.slides.len() => {
            eprintln!("every slide failed ({n}); nothing was patched");
            ExitCode::from(4)
        }
        n => {
            eprintln!("{n} of {} slides failed; the rest were patched", report.slides.len());
            ExitCode::from(3)
        }
    })
}
