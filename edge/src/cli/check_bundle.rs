//! `melanoscope-edge check-bundle`: open a model bundle as screening would and print its
//! metadata as JSON; refused (exit 1) when its hash, signature or self-test fail.

use anyhow::Result;
use melanoscope_edge::screen::setup::read_keys;
use melanoscope_engine::{Backend, BackendKind, LoadedBundle, set_threads};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CheckBundleArgs {
    #[arg(long)]
    pub bundle: PathBuf,
    /// Files holding trusted ed25519 public keys (64 hex digits each).
    #[arg(long, value_delimiter = ',')]
    pub trusted_keys: Vec<PathBuf>,
    /// Refuse a bundle that is not signed by one of the trusted keys.
    #[arg(long)]
    pub require_signature: bool,
    /// Fields per inference run.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Inference backend: tract, or onnxruntime (builds with the `onnxruntime` feature).
    #[arg(long, default_value = "tract")]
    pub backend: BackendKind,
    /// libonnxruntime.so for the onnxruntime backend (default: $ORT_DYLIB_PATH).
    #[arg(long)]
    pub onnxruntime_lib: Option<PathBuf>,
}

pub fn run(args: CheckBundleArgs) -> Result<()> {
    let backend = Backend::resolve(args.backend, args.onnxruntime_lib)?;
    let keys = read_keys(&args.trusted_keys)?;
    set_threads(args.threads);
    let loaded = LoadedBundle::open(&args.bundle, &keys, args.require_signature, args.batch, &backend, args.threads)?;
    let m = &loaded.file.meta;
    let report = serde_json::json!({
        "bundle": args.bundle.display().to_string(),
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
    Ok(())
}
