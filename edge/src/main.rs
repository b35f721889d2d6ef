//! `melanoscope-edge`: the edge device's command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use melanoscope_edge::fields::field_report;
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::image::{load_rgb, save_rgb};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "melanoscope-edge", version, about = "Melanoma screening at the microscope")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Cut an image into model fields and report which pass the 40% background rule.
    Fields {
        /// PNG or JPEG image (a camera frame or photomicrograph).
        #[arg(long)]
        image: PathBuf,
        /// µm per pixel of the image (from the objective's calibration).
        #[arg(long)]
        um_per_px: f64,
        /// µm per pixel of the model's fields.
        #[arg(long, default_value_t = 1.0)]
        target_um_per_px: f64,
        /// Folder for `fields.json` and `fields.png`.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    match Cli::parse().command {
        Command::Fields { image, um_per_px, target_um_per_px, out } => {
            let img = load_rgb(&image)?;
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
        }
    }
    Ok(())
}
