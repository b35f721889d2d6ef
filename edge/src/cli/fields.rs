//! `melanoscope-edge fields`: cut an image into model fields and report which pass the 40%
//! background rule (`fields.json`, and `fields.png` for a look).

use anyhow::{Context, Result};
use melanoscope_edge::fields::field_report;
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::image::{load_rgb, save_rgb};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct FieldsArgs {
    /// PNG, JPEG or TIFF image (a camera frame or photomicrograph).
    #[arg(long)]
    pub image: PathBuf,
    /// µm per pixel of the image (from the objective's calibration).
    #[arg(long)]
    pub um_per_px: f64,
    /// µm per pixel of the model's fields.
    #[arg(long, default_value_t = 1.0)]
    pub target_um_per_px: f64,
    /// Folder for `fields.json` and `fields.png`.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: FieldsArgs) -> Result<()> {
    let FieldsArgs { image, um_per_px, target_um_per_px, out } = args;
    let img = load_rgb(&image).with_context(|| format!("reading {}", image.display()))?;
    let (report, qc) = field_report(&img, um_per_px, target_um_per_px)
        .with_context(|| format!("preprocessing {}", image.display()))?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    write_atomic(&out.join("fields.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    save_rgb(&out.join("fields.png"), &qc)?;
    if report.fields.is_empty() {
        eprintln!(
            "warning: {} is {}x{} px at {} µm/px, smaller than one {}x{} field; nothing to screen",
            image.display(),
            report.resampled_width,
            report.resampled_height,
            report.target_um_per_px,
            melanoscope_shared::FIELD_SIZE,
            melanoscope_shared::FIELD_SIZE
        );
    }
    println!(
        "{}: {}x{} at {} µm/px -> {}x{} at {} µm/px; {} of {} fields kept; wrote {}",
        image.display(),
        report.source_width,
        report.source_height,
        report.source_um_per_px,
        report.resampled_width,
        report.resampled_height,
        report.target_um_per_px,
        report.kept,
        report.fields.len(),
        out.display()
    );
    Ok(())
}
