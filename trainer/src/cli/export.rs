//! `export`: a trained checkpoint as an ONNX model (f32, f16 or INT8), optionally as a model
//! bundle for the edge (metadata, reference fields, signature) with an agreement report; and
//! `keygen`, an ed25519 key pair for signing bundles.

use anyhow::{Context, Result, bail};
use melanoscope_shared::formats::{ModelFile, Quantization, hex, parse_key_hex};
use melanoscope_shared::image::Normalization;
use melanoscope_trainer::export::bundle::{BundleSpec, decision_from_report, default_decision, make_bundle};
use melanoscope_trainer::export::fields::{FieldSet, read_fields};
use melanoscope_trainer::export::onnx::{Form, OPSET, export_form, write_reference};
use melanoscope_trainer::export::quant::{agreement, calibrate};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// resnet18, resnet50 or vgg19.
    #[arg(long, default_value = "resnet50")]
    pub arch: String,
    /// Task the checkpoint was trained for (its classes): mm-vs-nevi, mm-vs-in, ..., nevi-3class.
    #[arg(long, default_value = "mm-vs-nevi")]
    pub task: String,
    /// Side of the square input in pixels (the patch size).
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    /// Magnification the model was trained at (gives the bundle's µm/px): 40X, 20X, 10X, 4X or µm/px.
    #[arg(long, default_value = "40X")]
    pub magnification: String,
    /// f32, f16 or int8 (post-training static quantisation, calibrated on validation fields).
    #[arg(long, default_value = "f32")]
    pub form: String,
    /// libonnxruntime.so whose results the bundle's reference tolerances must also cover (the
    /// edge's optional backend); `none` for tract only. Default: the onnxruntime wheel's in
    /// $VIRTUAL_ENV, else in .venv, when there is one.
    #[arg(long)]
    pub onnxruntime_lib: Option<String>,
    /// INT8 weights: per-tensor (symmetric, one scale a layer) or per-channel (one scale per
    /// output channel, closer to f32).
    #[arg(long, default_value = "per-tensor")]
    pub int8_weights: String,
    /// Upper percentile of each tensor's values that its INT8 range keeps (the lower is 100 minus it).
    #[arg(long, default_value_t = 99.99)]
    pub percentile: f64,
    /// Patch manifest and patient split: validation fields calibrate INT8 and give the reference
    /// fields; test fields measure agreement with f32.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    #[arg(long)]
    pub split: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    pub calibration_fields: usize,
    #[arg(long, default_value_t = 200)]
    pub agreement_fields: usize,
    /// `evaluate` report.json: the validation-chosen threshold and the test figures.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Which level's threshold the edge applies: patch, slide or patient.
    #[arg(long, default_value = "patch")]
    pub decision_level: String,
    /// Half-width of the UNCERTAIN band around the threshold.
    #[arg(long, default_value_t = 0.1)]
    pub uncertain_band: f64,
    /// Also write a reference batch of this many images (<out>.{input,logits,features}.npy).
    #[arg(long, default_value_t = 0)]
    pub reference: i64,
    /// Output .onnx file.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write a model bundle (.mscm) for the edge.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Sign the bundle with this ed25519 secret key file (64 hex digits, from `keygen`).
    #[arg(long)]
    pub sign_key: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Writes <out>.secret (keep it off the devices) and <out>.public (for the edge's config).
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_form(s: &str) -> Result<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "f32" => Ok("f32"),
        "f16" => Ok("f16"),
        "int8" => Ok("int8"),
        other => bail!("unknown --form {other:?}; expected f32, f16 or int8"),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    melanoscope_shared::atomic::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

pub fn export(args: ExportArgs) -> Result<()> {
    use melanoscope_trainer::model::Arch;
    use melanoscope_trainer::train::task::{Task, task_samples};
    let arch = Arch::parse(&args.arch).map_err(anyhow::Error::msg)?;
    let task = Task::parse(&args.task).map_err(anyhow::Error::msg)?;
    let classes: Vec<String> = task.classes().iter().map(|c| c.to_string()).collect();
    let form = parse_form(&args.form)?;
    let per_channel = match args.int8_weights.as_str() {
        "per-tensor" => false,
        "per-channel" => true,
        other => bail!("unknown --int8-weights {other:?}; expected per-tensor or per-channel"),
    };
    let magnification = melanoscope_trainer::slide::MagnificationPresets::default()
        .parse(&args.magnification)
        .map_err(anyhow::Error::msg)?;
    let norm = Normalization::IMAGENET;
    let (vs, net) =
        melanoscope_trainer::model::load_network(&args.checkpoint, arch, classes.len() as i64, tch::Device::Cpu)?;

    // Fields from the validation (calibration, references) and test (agreement) patients.
    // The manifest and split are read once for both partitions.
    let data = match (&args.manifest, &args.split) {
        (Some(m), Some(s)) => Some((
            m,
            melanoscope_trainer::manifest::read_manifest(m)?,
            melanoscope_trainer::split::PatientSplit::load(s)?,
        )),
        _ => None,
    };
    let fields = |partition, max: usize| -> Result<Option<FieldSet>> {
        let Some((manifest, rows, split)) = &data else { return Ok(None) };
        if max == 0 {
            return Ok(None);
        }
        let samples = task_samples(rows, task, &magnification.name, split, partition);
        if samples.is_empty() {
            bail!(
                "{}: no {} patches of task {} in the {partition:?} partition",
                manifest.display(),
                magnification.name,
                task.name()
            );
        }
        Ok(Some(read_fields(&samples, max, args.size, norm).map_err(anyhow::Error::msg)?))
    };
    use melanoscope_trainer::split::Partition;
    let validation = fields(Partition::Validation, args.calibration_fields)?;

    let (onnx, quantization) = match form {
        "f32" => (export_form(&vs, arch, args.size, &Form::F32)?.0, Quantization::F32),
        "f16" => (export_form(&vs, arch, args.size, &Form::F16)?.0, Quantization::F16),
        _ => {
            let Some(calib) = &validation else {
                bail!("--form int8 needs --manifest and --split: it calibrates on validation fields")
            };
            let c = calibrate(&vs, arch, calib, args.percentile, per_channel)?;
            let method = format!("{} ({} weights)", c.method, args.int8_weights);
            eprintln!("calibrated {} tensors on {} validation fields ({method})", c.plan.ranges.len(), c.fields);
            (
                export_form(&vs, arch, args.size, &Form::Int8(c.plan))?.0,
                Quantization::Int8 { calibration: method, samples: c.fields as u32 },
            )
        }
    };
    write(&args.out, &onnx)?;
    println!("wrote {} ({} bytes, {form}, opset {OPSET})", args.out.display(), onnx.len());
    if args.reference > 0 {
        write_reference(&net, args.size, args.reference, &args.out.with_extension(""))?;
    }

    let positive = classes.iter().position(|c| c == "MM").unwrap_or(classes.len() - 1) as u16;
    let (decision, mut metrics) = match &args.report {
        Some(r) => decision_from_report(r, &args.decision_level, positive, args.uncertain_band)?,
        None => (default_decision(positive, args.uncertain_band), Vec::new()),
    };

    // Agreement with f32 on the test fields (for f16 and INT8).
    if form != "f32"
        && let Some(test) = fields(Partition::Test, args.agreement_fields)?
    {
        use melanoscope_engine::Engine;
        let reference = Engine::from_onnx(&export_form(&vs, arch, args.size, &Form::F32)?.0, 1, test.side)?;
        let candidate = Engine::from_onnx(&onnx, 1, test.side)?;
        let head = match arch {
            Arch::Vgg19 => None,
            _ => Some(Vec::<f32>::try_from(vs.variables()["fc.weight"].flatten(0, -1))?),
        };
        let a = agreement(
            &reference,
            &candidate,
            &test,
            classes.len(),
            positive as usize,
            decision.threshold,
            head.as_deref(),
        )?;
        let json = serde_json::to_string_pretty(&a)?;
        println!("{json}");
        write(&args.out.with_extension("agreement.json"), json.as_bytes())?;
        metrics.push(melanoscope_shared::formats::NamedMetric {
            name: "agreement_with_f32".into(),
            value: a.verdict_agreement,
        });
        if let Some(d) = a.auc_difference {
            metrics.push(melanoscope_shared::formats::NamedMetric { name: "auc_minus_f32".into(), value: d });
        }
        metrics.push(melanoscope_shared::formats::NamedMetric {
            name: "cam_correlation_with_f32".into(),
            value: a.cam_correlation_mean,
        });
    }

    if let Some(path) = &args.bundle {
        // Reference fields: a few validation fields of each class, or a plain tissue-coloured
        // field when no data was given.
        let refs = match &validation {
            Some(v) => {
                let mut picked = Vec::new();
                for class in 0..classes.len() {
                    picked.extend(
                        v.classes
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| **c == class)
                            .take(2)
                            .map(|(i, _)| v.rgb[i].clone()),
                    );
                }
                picked
            }
            None => vec![melanoscope_shared::image::RgbImage::filled(args.size, args.size, [200, 120, 170])?],
        };
        let spec = BundleSpec {
            arch,
            task: task.name().into(),
            classes: classes.clone(),
            side: args.size,
            um_per_px: magnification.um_per_px,
            normalization: norm,
            decision,
            validation: metrics,
            quantization,
        };
        // Another machine's kernels sum in another order; f16 and INT8 round more on ARM too.
        let relative = if form == "f32" { 1e-3 } else { 2e-2 };
        // The edge may run the bundle on onnxruntime too: its reference outputs must hold there.
        let also_on: Vec<_> = match super::onnxruntime_arg(args.onnxruntime_lib.as_deref()) {
            Ok(backend) => backend.into_iter().collect(),
            Err(e) => {
                eprintln!("note: {e}; the reference tolerances cover tract only");
                vec![]
            }
        };
        let mut file = make_bundle(onnx, &spec, &refs, relative, &also_on)?;
        if let Some(key) = &args.sign_key {
            let text = std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
            let secret = parse_key_hex(&text).with_context(|| format!("{}", key.display()))?;
            file.sign(&secret)?;
        }
        let bytes = file.encode()?;
        write(path, &bytes)?;
        println!(
            "wrote bundle {} ({} bytes, {} reference fields, {})",
            path.display(),
            bytes.len(),
            file.references.len(),
            if file.signature.is_some() { "signed" } else { "unsigned" }
        );
    }
    Ok(())
}

pub fn keygen(args: KeygenArgs) -> Result<()> {
    let mut secret = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut secret))
        .context("reading 32 random bytes from /dev/urandom")?;
    let public = ModelFile::public_key_of(&secret);
    let (sp, pp) = (args.out.with_extension("secret"), args.out.with_extension("public"));
    write(&sp, format!("{}\n", hex(&secret)).as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sp, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod {}", sp.display()))?;
    }
    write(&pp, format!("{}\n", hex(&public)).as_bytes())?;
    println!("wrote {} and {}", sp.display(), pp.display());
    Ok(())
}
