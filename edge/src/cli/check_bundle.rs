//! `melanoscope-edge check-bundle`: open a model bundle as screening would and print its
//! metadata as JSON; refused (exit 1) when its hash, signature or self-test fail.

use anyhow::Result;
use melanoscope_edge::config::ModelConfig;
use melanoscope_edge::screen::setup::open_bundle;
use melanoscope_shared::formats::BackendKind;
use melanoscope_shared::formats::Form;
use melanoscope_shared::stain::{StainTarget, describe_vectors};
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
    /// Which of the bundle's forms to open (f32, f16, int8; default: its first).
    #[arg(long)]
    pub form: Option<Form>,
}

pub fn run(args: CheckBundleArgs) -> Result<()> {
    // The same opening as screening's, from the options instead of the site file.
    let model = ModelConfig {
        bundle: args.bundle.clone(),
        trusted_keys: args.trusted_keys,
        require_signature: args.require_signature,
        state_dir: PathBuf::new(),
        backend: args.backend.into(),
        onnxruntime_library: args.onnxruntime_lib.map(|p| p.display().to_string()).unwrap_or_default(),
        threads: args.threads,
        batch: args.batch,
        form: args.form,
        tuned: None,
    };
    let loaded = open_bundle(&model)?;
    let m = &loaded.file.meta;
    // The threshold the edge applies, and the level it was chosen at: a frame threshold chosen
    // on validation frames, with the patch threshold kept beside it, or a patch threshold only.
    let frame_choice = m.frame_choice.as_ref().map(|f| {
        serde_json::json!({
            "threshold": m.decision.threshold,
            "uncertain_band": m.decision.uncertain_band,
            "aggregation": f.aggregation.name(),
            "frame_size": [f.frame_width, f.frame_height],
            "frame_um_per_px": f.frame_um_per_px,
            "validation_frames": f.frames,
            "melanoma_frames": f.positive_frames,
            "sensitivity": f.sensitivity,
            "specificity": f.specificity,
            "auc": f.auc,
        })
    });
    let patch = m.frame_choice.as_ref().map_or(m.decision, |f| f.patch_decision);
    let report = serde_json::json!({
        "bundle": args.bundle.display().to_string(),
        "backend": loaded.engine.backend_name(),
        "architecture": format!("{:?}", m.architecture),
        "task": m.task,
        "classes": m.classes,
        "input_size": m.input_size,
        "um_per_px": m.um_per_px,
        "quantization": format!("{:?}", m.quantization),
        "form": m.quantization.form(),
        "forms_in_bundle": loaded.forms,
        "threshold": m.decision.threshold,
        "uncertain_band": m.decision.uncertain_band,
        "rule": format!("{:?}", m.decision.rule),
        "threshold_level": if frame_choice.is_some() { "frame" } else { "patch" },
        "frame_threshold": frame_choice,
        "patch_threshold": { "threshold": patch.threshold, "uncertain_band": patch.uncertain_band, "rule": format!("{:?}", patch.rule) },
        "validation": m.validation.iter().map(|v| (v.name.clone(), v.value)).collect::<std::collections::BTreeMap<_, _>>(),
        "onnx_sha256": melanoscope_shared::formats::hex(&m.onnx_sha256),
        "signature": format!("{:?}", loaded.signature),
        "self_test": format!("{} reference fields reproduced", loaded.file.references.len()),
        "familiarity": match &m.familiarity {
            Some(f) => serde_json::json!({
                "gate": "unfamiliar tissue: fields whose pooled features score above the threshold",
                "channels": f.channels,
                "rank": f.rank(),
                "classes": f.classes(),
                "threshold": f.threshold,
                "validation_pass_share": f.pass_share,
                "training_fields": f.training_fields,
                "validation_fields": f.validation_fields,
            }),
            None => serde_json::json!({
                "gate": "off: the bundle has no familiarity statistics (exported before them, or with --familiarity-fields 0)"
            }),
        },
        "stain": match &m.stain {
            Some(StainTarget::Macenko(t)) => serde_json::json!({
                "method": "macenko",
                "vectors": describe_vectors(t),
                "haematoxylin": t.stains[0],
                "eosin": t.stains[1],
                "max_concentrations": t.max_concentrations,
                "check": "each frame's stain against these vectors (screening.stain)",
            }),
            Some(StainTarget::Reinhard(l)) => serde_json::json!({
                "method": "reinhard",
                "lab_mean": l.mean,
                "lab_std": l.std,
                "check": "off: CIELAB statistics carry no stain vectors; export with --stain-target macenko",
            }),
            None => serde_json::json!({
                "check": "off: the bundle has no stain target (exported before them, or with --stain-target none)"
            }),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
