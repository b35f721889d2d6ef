//! `experiment`: the study's grid of architectures and presets.

use super::args::TrainingOptions;
use anyhow::{Result, bail};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExperimentArgs {
    /// Patch manifest (.parquet).
    #[arg(long)]
    pub manifest: PathBuf,
    /// Patient split CSV (from `split`).
    #[arg(long)]
    pub split: PathBuf,
    /// Comma-separated: resnet18, resnet50, vgg19.
    #[arg(long, value_delimiter = ',', default_value = "resnet50,vgg19")]
    pub archs: Vec<melanoscope_trainer::model::Arch>,
    /// `all` (the study's nine) or a comma-separated list such as mm-vs-nevi@40X,nevi-3class@40X.
    #[arg(long, default_value = "all")]
    pub presets: String,
    /// Folder of pretrained weights named <arch>.safetensors (overrides --weights per architecture).
    #[arg(long)]
    pub weights_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    #[command(flatten)]
    pub training: TrainingOptions,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn experiment(args: ExperimentArgs) -> Result<()> {
    let ExperimentArgs { manifest, split, archs, presets, weights_dir, resamples, training, out } = args;
    use melanoscope_trainer::experiment::grid::{GridConfig, Outcome, run_grid};
    let presets = melanoscope_trainer::experiment::parse_presets(&presets)?;
    let rows = melanoscope_trainer::manifest::read_manifest(&manifest)?;
    let split = melanoscope_trainer::split::PatientSplit::load(&split)?;
    let device = melanoscope_trainer::device::best_device();
    melanoscope_trainer::device::share_cores_with_loader(device);
    let size = rows.first().map_or(256, |r| r.patch_size);
    let fit = training.fit_config(melanoscope_trainer::model::Arch::ResNet50, 2, size, out.clone(), device)?;
    let cfg = GridConfig { archs, presets, fit, weights_dir, resamples, out_dir: out.clone() };
    let total = cfg.archs.len() * cfg.presets.len();
    let bar = indicatif::ProgressBar::new(total as u64);
    let results = run_grid(&cfg, &rows, &split, |r| {
        let status = match &r.outcome {
            Outcome::Binary { .. } | Outcome::Multiclass { .. } => "done".to_string(),
            Outcome::Skipped { reason } => format!("skipped ({reason})"),
            Outcome::Failed { error } => format!("FAILED ({error})"),
        };
        bar.println(format!("{} {}: {status}", r.arch, r.preset));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    println!("{}", std::fs::read_to_string(out.join("experiments.md"))?);
    let failed = results.iter().filter(|r| matches!(r.outcome, Outcome::Failed { .. })).count();
    if failed > 0 {
        bail!("{failed} of {total} runs failed; see {}", out.join("experiments.md").display());
    }
    Ok(())
}
