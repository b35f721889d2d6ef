//! `melanoscope-edge`: the edge device's command line.

mod cli;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use melanoscope_edge::fields::field_report;
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::image::{load_rgb, save_rgb};
use std::path::PathBuf;

#[global_allocator]
static ALLOCATOR: cli::alloc_count::Counting = cli::alloc_count::Counting;

#[derive(Parser, Debug)]
#[command(name = "melanoscope-edge", version, about = "Melanoma screening at the microscope")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Screen live: camera (or replayed) frames to verdicts on the screen, LEDs and the log.
    Screen(cli::screen::ScreenArgs),
    /// Calibrate an objective (µm/px from a stage micrometer; flat field and white balance).
    #[command(subcommand)]
    Calibrate(cli::calibrate::Calibrate),
    /// The record log: export it for review.
    #[command(subcommand)]
    Log(LogCommand),
    /// Time the screening of one camera frame per stage (JSON).
    Bench(cli::bench::BenchArgs),
    /// Check a site file against the defaults and print the resulting settings.
    CheckConfig {
        #[arg(long, default_value = "/etc/melanoscope/site.toml")]
        config: PathBuf,
    },
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

#[derive(Subcommand, Debug)]
enum LogCommand {
    /// Write the record log as CSV or JSON (damaged stretches are skipped and reported).
    Export {
        #[arg(long, default_value = "/var/lib/melanoscope/screening.log")]
        log: PathBuf,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Screen(args) => {
            let code = cli::screen::screen(&args)?;
            if code != 0 {
                std::process::exit(code);
            }
        }
        Command::Calibrate(c) => cli::calibrate::run(c)?,
        Command::Bench(args) => cli::bench::run(&args)?,
        Command::Log(LogCommand::Export { log, format, out }) => {
            let s = melanoscope_edge::records::export_log(&log, &format, &out)?;
            println!(
                "{}: {} records exported to {}{}{}",
                log.display(),
                s.records,
                out.display(),
                if s.damaged > 0 { format!("; {} damaged stretches skipped", s.damaged) } else { String::new() },
                if s.torn_tail { "; the last record was torn by a power cut and is left out" } else { "" }
            );
        }
        Command::CheckConfig { config } => {
            let cfg = melanoscope_edge::config::EdgeConfig::load(Some(&config))?;
            println!("{}", toml::to_string(&cfg)?);
            match cfg.active_objective() {
                Ok((name, _, u)) => eprintln!("objective {name}: {u} µm/px"),
                Err(e) => eprintln!("warning: {e}"),
            }
        }
        Command::CheckBundle { bundle, trusted_keys, require_signature, batch, threads, backend, onnxruntime_lib } => {
            use melanoscope_edge::engine::{Backend, LoadedBundle, set_threads};
            let backend = Backend::parse(&backend, onnxruntime_lib)?;
            let keys = cli::screen::read_keys(&trusted_keys)?;
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
