//! `melanoscope-edge tune`: on the device, every form × runtime × batch × thread count is
//! self-tested and timed on the bundle's reference fields; the fastest that passed goes into
//! the site file as `[model.tuned]` (what `backend = "auto"` screens with), and the whole table
//! into a JSON report.

use anyhow::{Context, Result, bail};
use melanoscope_edge::config::{EdgeConfig, TunedChoice, update_tuned};
use melanoscope_edge::tune::{TunePlan, tune};
use melanoscope_engine::{Backend, LoadedBundle};
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::formats::BackendKind;
use melanoscope_shared::formats::read_key_file;
use melanoscope_shared::run_files::tune::TuneRow;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct TuneArgs {
    /// The site file: its [model] bundle and keys are used, and [model.tuned] is written into it.
    #[arg(long, default_value = "/etc/melanoscope/site.toml")]
    pub config: PathBuf,
    /// Fields per run to try.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub batches: Vec<usize>,
    /// Thread counts to try (default: 1 up to this CPU's cores).
    #[arg(long, value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Timed passes over the reference fields per combination, after a warm-up pass.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// The JSON report (default: tune.json beside the site file).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Measure and print only; write neither the site file nor the report.
    #[arg(long)]
    pub dry_run: bool,
}

fn print_row(r: &TuneRow) {
    let ms = r.ms_per_field.map_or("-".to_string(), |m| format!("{m:.1}"));
    let why = r.reason.as_deref().unwrap_or("");
    eprintln!(
        "tune: {:<12} {:<5} batch {:<2} threads {:<2} {:<8} {:>8} ms/field {why}",
        r.backend.name(),
        r.form,
        r.batch,
        r.threads,
        r.status.name(),
        ms
    );
}

pub fn run(args: TuneArgs) -> Result<()> {
    let site = &args.config;
    // A tune killed while writing the site file or its report left a temporary file there.
    if let Some(dir) = site.parent().filter(|d| !d.as_os_str().is_empty()) {
        melanoscope_shared::atomic::remove_stale_temps(dir);
    }
    let cfg = EdgeConfig::load(Some(site))?;
    if !args.dry_run && std::fs::metadata(site).is_ok_and(|m| m.permissions().readonly()) {
        bail!("{}: the site file is read-only; tune writes [model.tuned] into it (or pass --dry-run)", site.display());
    }
    if args.batches.iter().chain(&args.threads).any(|&n| !(1..=64).contains(&n)) {
        bail!("--batches and --threads take 1 to 64 each");
    }
    let model = &cfg.model;
    let keys =
        model.trusted_keys.iter().map(|p| read_key_file(p)).collect::<Result<Vec<_>, _>>().context("trusted keys")?;
    let checked = LoadedBundle::read_checked(&model.bundle, &keys, model.signature_required())?;
    let (file, signature) = (checked.file, checked.signature);
    tracing::info!(bundle = %model.bundle.display(), ?signature, "tuning");
    let onnxruntime = {
        let lib = (!model.onnxruntime_library.is_empty()).then(|| PathBuf::from(&model.onnxruntime_library));
        match Backend::resolve(BackendKind::Onnxruntime, lib) {
            Ok(b) if !b.compiled_in() => Err((
                BackendKind::Onnxruntime,
                "not in this build (rebuild melanoscope-edge with --features onnxruntime)".to_string(),
            )),
            Ok(b) => Ok(b),
            Err(e) => Err((BackendKind::Onnxruntime, melanoscope_shared::errors::error_chain(&e))),
        }
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = if args.threads.is_empty() { (1..=cores).collect() } else { args.threads.clone() };
    let plan = TunePlan {
        backends: vec![Ok(Backend::Tract), onnxruntime],
        batches: args.batches.clone(),
        threads,
        runs: args.runs,
    };
    let report = tune(&file, &plan, print_row);
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    let Some(best) = report.choice() else {
        bail!("no combination passed its self-test on this device; {} left unchanged", site.display());
    };
    if args.dry_run {
        return Ok(());
    }
    let report_path = args.report.clone().unwrap_or_else(|| site.with_file_name("tune.json"));
    write_atomic(&report_path, json.as_bytes()).with_context(|| format!("writing {}", report_path.display()))?;
    let tuned = TunedChoice {
        backend: best.backend,
        onnxruntime_library: match plan.backends.iter().flatten().find(|b| b.kind() == best.backend) {
            Some(Backend::OnnxRuntime { library }) => library.display().to_string(),
            _ => String::new(),
        },
        batch: best.batch,
        threads: best.threads,
        form: best.form,
        ms_per_field: best.ms_per_field.unwrap_or_default(),
        cpu: report.cpu.clone(),
        onnx_sha256: report.onnx_sha256.clone(),
        report: report_path.display().to_string(),
    };
    update_tuned(site, &tuned)?;
    eprintln!(
        "tune: chose {} batch {} threads {} ({:.1} ms/field); written to [model.tuned] of {}",
        best.backend.name(),
        best.batch,
        best.threads,
        tuned.ms_per_field,
        site.display()
    );
    Ok(())
}
