//! `explain`: heatmaps, CAM mosaics, regions of interest and panels for whole slides.

use super::args::loader_config;
use anyhow::{Result, bail};
use melanoscope_slides::split::Partition;
use melanoscope_trainer::model::Arch;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Patch manifest (.parquet); tissue-mask patching covers whole slides.
    #[arg(long)]
    pub manifest: PathBuf,
    /// Patient split CSV; with it only --partition's slides are explained.
    #[arg(long)]
    pub split: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Partition::Test)]
    pub partition: Partition,
    #[arg(long, default_value = "40X")]
    pub magnification: String,
    #[arg(long, default_value = "resnet50")]
    pub arch: Arch,
    /// auto (CAM for ResNet, Grad-CAM for VGG19), cam or grad-cam.
    #[arg(long, value_enum, ignore_case = true, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
    /// Melanoma probability at which a patch joins a region of interest.
    #[arg(long, default_value_t = 0.5)]
    pub roi_threshold: f32,
    /// Thumbnail pixels per patch side in the heatmap and mosaic.
    #[arg(long, default_value_t = 32)]
    pub cell_px: u32,
    /// Figure panels for each slide's most suspicious patches.
    #[arg(long, default_value_t = 2)]
    pub panels: usize,
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    #[arg(long)]
    pub out: PathBuf,
}

/// `--method`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum MethodArg {
    Auto,
    Cam,
    #[value(alias = "gradcam")]
    GradCam,
}

pub fn explain(args: ExplainArgs) -> Result<()> {
    let ExplainArgs {
        checkpoint,
        manifest,
        split,
        partition,
        magnification,
        arch,
        method,
        roi_threshold,
        cell_px,
        panels,
        batch_size,
        workers,
        out,
    } = args;
    use melanoscope_trainer::explain::cam::CamMethod;
    use melanoscope_trainer::explain::run::{ExplainConfig, ExplainSummary, explain_slides, summarise};
    let method = match method {
        MethodArg::Auto => CamMethod::default_for(arch),
        MethodArg::Cam => CamMethod::Cam,
        MethodArg::GradCam => CamMethod::GradCam,
    };
    let rows = melanoscope_slides::manifest::read_manifest(&manifest)?;
    let split = split.map(|p| melanoscope_slides::split::PatientSplit::load(&p)).transpose()?;
    let chosen: Vec<_> = rows
        .iter()
        .filter(|r| r.magnification.eq_ignore_ascii_case(&magnification))
        .filter(|r| split.as_ref().is_none_or(|s| s.partition_of(&r.patient_id) == Some(partition)))
        .collect();
    if chosen.is_empty() {
        bail!("{}: no {magnification} patches to explain (partition {partition:?})", manifest.display());
    }
    let device = melanoscope_trainer::device::best_device();
    let (vs, net) = melanoscope_trainer::model::load_network(&checkpoint, arch, 2, device)?;
    let size = chosen[0].patch_size;
    let cfg = ExplainConfig {
        arch,
        method,
        class: 1,
        loader: loader_config(batch_size, workers, 0, false, size)?,
        device,
        out_dir: out.clone(),
        roi_threshold,
        cell_px,
        panels,
    };
    let (slides, failed) = explain_slides(&net, &vs, &cfg, &chosen);
    for f in &failed {
        eprintln!("warning: {f}");
    }
    let summary = ExplainSummary {
        arch: arch.name().into(),
        checkpoint: checkpoint.clone(),
        failed: failed.iter().map(|f| f.to_string()).collect(),
        localisation: summarise(&slides),
        method: format!("{method:?}"),
        roi_threshold,
        slides,
    };
    std::fs::create_dir_all(&out)?;
    melanoscope_shared::atomic::write_atomic(
        &out.join(melanoscope_shared::run_files::EXPLAIN_SUMMARY),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    println!("{}", serde_json::to_string_pretty(&summary.localisation)?);
    println!("explained {} slides into {}", summary.slides.len(), out.display());
    Ok(())
}
