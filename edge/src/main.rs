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
    /// Open a model bundle as screening would: check its version, hash and signature, run its
    /// reference fields and compare; print its metadata as JSON. Exit 1 when it is refused.
    CheckBundle {
        #[arg(long)]
        bundle: PathBuf,
        /// Files holding trusted ed25519 public keys (64 hex digits each).
        #[arg(long, value_delimiter = ',')]
        trusted_keys: Vec<PathBuf>,
        /// Refuse a bundle that is not signed by one of the trusted keys.
        #[arg(long)]
        require_signature: bool,
        /// Fields per inference run.
        #[arg(long, default_value_t = 4)]
        batch: usize,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Inference backend: tract, or onnxruntime (builds with the `onnxruntime` feature).
        #[arg(long, default_value = "tract")]
        backend: String,
        /// libonnxruntime.so for the onnxruntime backend (default: $ORT_DYLIB_PATH).
        #[arg(long)]
        onnxruntime_lib: Option<PathBuf>,
    },
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
        Command::CheckBundle { bundle, trusted_keys, require_signature, batch, threads, backend, onnxruntime_lib } => {
            use melanoscope_edge::engine::{Backend, LoadedBundle, set_threads};
            let backend = Backend::parse(&backend, onnxruntime_lib)?;
            let keys = trusted_keys
                .iter()
                .map(|p| {
                    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                    melanoscope_shared::formats::parse_key_hex(&text).with_context(|| format!("{}", p.display()))
                })
                .collect::<Result<Vec<_>>>()?;
            set_threads(threads);
            let loaded = LoadedBundle::open(&bundle, &keys, require_signature, batch, &backend, threads)?;
            let m = &loaded.file.meta;
            let report = serde_json::json!({
                "bundle": bundle.display().to_string(),
                "backend": loaded.engine.backend_name(),
                "architecture": format!("{:?}", m.architecture),
                "task": m.task,
                "classes": m.classes,
                "input_size": m.input_size,
                "um_per_px": m.um_per_px,
                "quantization": format!("{:?}", m.quantization),
                "threshold": m.decision.threshold,
                "uncertain_band": m.decision.uncertain_band,
                "rule": format!("{:?}", m.decision.rule),
                "validation": m.validation.iter().map(|v| (v.name.clone(), v.value)).collect::<std::collections::BTreeMap<_, _>>(),
                "onnx_sha256": melanoscope_shared::formats::hex(&m.onnx_sha256),
                "signature": format!("{:?}", loaded.signature),
                "self_test": format!("{} reference fields reproduced", loaded.file.references.len()),
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
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
