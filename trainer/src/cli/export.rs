//! `export`: a trained checkpoint as an ONNX model (f32, f16 or INT8), optionally as a model
//! bundle for the edge (metadata, reference fields, signature) with an agreement report; and
//! `keygen`, an ed25519 key pair for signing bundles.

use anyhow::Result;
use melanoscope_shared::formats::Form;
use melanoscope_shared::metrics::Aggregation;
use melanoscope_shared::stain::{StainMethod, StainTarget, describe_vectors};
use melanoscope_slides::slide::Magnification;
use melanoscope_trainer::export::familiarity::FamiliarityPlan;
use melanoscope_trainer::export::frames::FramePlan;
use melanoscope_trainer::export::onnx::OPSET;
use melanoscope_trainer::export::run::{BundlePlan, ExportData, ExportPlan, Int8Weights, StainPlan, keygen, run};
use melanoscope_trainer::model::Arch;
use melanoscope_trainer::train::evaluate::Level;
use melanoscope_trainer::train::task::Task;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// resnet18, resnet50 or vgg19.
    #[arg(long, default_value = "resnet50")]
    pub arch: Arch,
    /// Task the checkpoint was trained for (its classes): mm-vs-nevi, mm-vs-in, ..., nevi-3class.
    #[arg(long, default_value = "mm-vs-nevi")]
    pub task: Task,
    /// Side of the square input in pixels. Default: the patch size the checkpoint was trained
    /// on (`run.json` beside it), else 256.
    #[arg(long)]
    pub size: Option<u32>,
    /// Magnification the model was trained at (gives the bundle's µm/px): 40X, 20X, 10X, 4X or µm/px.
    #[arg(long, default_value = "40X")]
    pub magnification: Magnification,
    /// f32, f16 or int8 (post-training static quantisation, calibrated on validation fields).
    #[arg(long, default_value_t = Form::F32)]
    pub form: Form,
    /// Other forms to put in the bundle beside the f32 graph (e.g. `int8,f16`), each with its
    /// own reference outputs and agreement figures, for `melanoscope-edge tune` to choose from
    /// on the device; each is also written as <out stem>.<form>.onnx. Needs --form f32 and --bundle.
    #[arg(long, value_delimiter = ',')]
    pub also_form: Vec<Form>,
    /// libonnxruntime.so whose results the bundle's reference tolerances must also cover (the
    /// edge's optional backend); `none` for tract only. Default: the onnxruntime wheel's in
    /// $VIRTUAL_ENV, else in .venv, when there is one.
    #[arg(long)]
    pub onnxruntime_lib: Option<String>,
    /// INT8 weights: per-tensor (symmetric, one scale a layer) or per-channel (one scale per
    /// output channel, closer to f32).
    #[arg(long, value_enum, default_value_t = Int8Weights::PerTensor)]
    pub int8_weights: Int8Weights,
    /// Upper percentile of each tensor's values that its INT8 range keeps (the lower is 100 minus it).
    #[arg(long, default_value_t = 99.99)]
    pub percentile: f64,
    /// Patch manifest and patient split: validation fields calibrate INT8 and give the reference
    /// fields; test fields measure agreement with f32.
    #[arg(long, requires = "split")]
    pub manifest: Option<PathBuf>,
    #[arg(long, requires = "manifest")]
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
    pub decision_level: Level,
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
    /// The camera's frame size (WIDTHxHEIGHT pixels) the bundle's threshold is chosen for: on
    /// windows of that size cut from the validation slides, aggregated as the edge aggregates
    /// them (needs --manifest, --split and --bundle).
    #[arg(long, default_value = "1920x1080", value_parser = parse_frame_size)]
    pub frame_size: (u32, u32),
    /// µm per camera pixel at the screening objective (default: the model's µm/px).
    #[arg(long)]
    pub frame_um_per_px: Option<f64>,
    /// Windows cut from each validation slide for the frame threshold; 0 keeps the patch
    /// threshold as the bundle's.
    #[arg(long, default_value_t = 8)]
    pub frames_per_slide: usize,
    /// How the edge aggregates a frame's fields: mean, or top-K (e.g. top-3): the edge's
    /// `screening.aggregation` must match.
    #[arg(long, default_value = "mean")]
    pub frame_aggregation: Aggregation,
    /// Simulated microscope cameras (blur, vignetting, colour cast, JPEG) the validation
    /// frames are seen through, in turn, and each familiarity field besides as read; 0 for
    /// the slide windows and fields as read.
    #[arg(long, default_value_t = 4)]
    pub frame_cameras: u32,
    /// Training fields the familiarity statistics (the unfamiliar-tissue gate) are estimated
    /// from, and validation fields their threshold is chosen on; 0 for none (the edge then
    /// screens with the gate off). Needs --manifest, --split and --bundle.
    #[arg(long, default_value_t = 256)]
    pub familiarity_fields: usize,
    /// Directions of the pooled features' covariance kept (fewer when the fields cannot
    /// support them).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub familiarity_rank: u16,
    /// Share of validation fields the familiarity threshold passes.
    #[arg(long, default_value_t = 0.97, value_parser = parse_share)]
    pub familiarity_pass: f64,
    /// The stain the bundle carries for the edge to check frames against and normalise them
    /// to: macenko (stain vectors and strengths; the edge's check needs it), reinhard (CIELAB
    /// statistics; the edge then screens with the stain check off), or none. Fitted on
    /// --stain-fields training fields; needs --manifest, --split and --bundle.
    #[arg(long, value_enum, default_value_t = StainTargetArg::Macenko)]
    pub stain_target: StainTargetArg,
    /// Training fields the stain target is fitted on (spread over the training patients).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub stain_fields: u32,
}

/// `--stain-target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StainTargetArg {
    Macenko,
    Reinhard,
    None,
}

impl StainTargetArg {
    fn method(self) -> Option<StainMethod> {
        match self {
            StainTargetArg::Macenko => Some(StainMethod::Macenko),
            StainTargetArg::Reinhard => Some(StainMethod::Reinhard),
            StainTargetArg::None => None,
        }
    }
}

/// A share above 0.5 and below 1.
fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.5 && v < 1.0 => Ok(v),
        _ => Err(format!("{s:?}; expected a share above 0.5 and below 1, e.g. 0.95")),
    }
}

/// `1280x960` → (1280, 960).
fn parse_frame_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{s:?}; expected WIDTHxHEIGHT in pixels, e.g. 1920x1080");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h) = (w.trim().parse::<u32>().map_err(|_| bad())?, h.trim().parse::<u32>().map_err(|_| bad())?);
    let max = melanoscope_shared::image::FrameBounds::HARD;
    if w < 16 || h < 16 || max.check(w, h).is_err() {
        return Err(format!("{s:?}; expected 16 to {} pixels a side (the largest camera frame)", max.max_width));
    }
    Ok((w, h))
}

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Writes <out>.secret (keep it off the devices) and <out>.public (for the edge's config).
    #[arg(long)]
    pub out: PathBuf,
}

/// The plan `args` describe.
fn plan(args: ExportArgs) -> ExportPlan {
    let data = match (args.manifest, args.split) {
        (Some(manifest), Some(split)) => Some(ExportData {
            manifest,
            split,
            calibration_fields: args.calibration_fields,
            agreement_fields: args.agreement_fields,
        }),
        _ => None,
    };
    let bundle = args.bundle.map(|path| {
        // The edge may run the bundle on onnxruntime too: its reference outputs must hold there.
        let also_on = match super::onnxruntime_arg(args.onnxruntime_lib.as_deref()) {
            Ok(backend) => backend.into_iter().collect(),
            Err(e) => {
                eprintln!("note: {e}; the reference tolerances cover tract only");
                vec![]
            }
        };
        BundlePlan { path, also_on, sign_key: args.sign_key }
    });
    let size = input_size(args.size, &args.checkpoint);
    let frames = (args.frames_per_slide > 0 && data.is_some() && bundle.is_some()).then(|| FramePlan {
        width: args.frame_size.0,
        height: args.frame_size.1,
        um_per_px: args.frame_um_per_px.unwrap_or(args.magnification.um_per_px),
        per_slide: args.frames_per_slide,
        aggregation: args.frame_aggregation,
        cameras: args.frame_cameras,
    });
    let familiarity = (args.familiarity_fields > 0 && data.is_some() && bundle.is_some()).then_some(FamiliarityPlan {
        fields: args.familiarity_fields,
        rank: usize::from(args.familiarity_rank),
        pass_share: args.familiarity_pass,
        cameras: args.frame_cameras,
    });
    let stain = args
        .stain_target
        .method()
        .filter(|_| data.is_some() && bundle.is_some())
        .map(|method| StainPlan { method, fields: args.stain_fields as usize });
    ExportPlan {
        stain,
        checkpoint: args.checkpoint,
        arch: args.arch,
        task: args.task,
        size,
        magnification: args.magnification,
        precision: args.form,
        also_forms: args.also_form,
        int8_weights: args.int8_weights,
        percentile: args.percentile,
        data,
        report: args.report,
        level: args.decision_level,
        uncertain_band: args.uncertain_band,
        reference: args.reference,
        out: args.out,
        bundle,
        frames,
        familiarity,
    }
}

/// The model's input side: `--size`, else the patch size of the run the checkpoint came from,
/// else the study's 256; a `--size` that differs from the trained size is warned about.
fn input_size(given: Option<u32>, checkpoint: &std::path::Path) -> u32 {
    use melanoscope_trainer::train::run_info::RunInfo;
    let trained = RunInfo::beside(checkpoint).map(|r| r.patch_size);
    match (given, trained) {
        (Some(g), Some(t)) if g != t => {
            eprintln!("warning: --size {g}, but the checkpoint was trained on {t}x{t} patches");
            g
        }
        (Some(g), _) => g,
        (None, Some(t)) => {
            if t != melanoscope_shared::FIELD_SIZE {
                eprintln!("input size {t}x{t} px: the patch size the checkpoint was trained on");
            }
            t
        }
        (None, None) => melanoscope_shared::FIELD_SIZE,
    }
}

pub fn export(args: ExportArgs) -> Result<()> {
    let plan = plan(args);
    let done = run(&plan)?;
    for (i, f) in done.forms.iter().enumerate() {
        if let Some(c) = &f.calibration {
            // The first form's line as it always was; the others say which form.
            let form = if i == 0 { String::new() } else { format!("{}: ", f.precision.name()) };
            eprintln!("{form}calibrated {} tensors on {} validation fields ({})", c.tensors, c.fields, c.method);
        }
        println!("wrote {} ({} bytes, {}, opset {OPSET})", f.onnx.display(), f.onnx_bytes, f.precision.name());
        if let Some(a) = &f.agreement {
            println!("{}", serde_json::to_string_pretty(a)?);
        }
    }
    if let Some(f) = &done.frame_threshold {
        let c = &f.choice;
        println!(
            "frame threshold {:.3} (band {:.3}) on {} validation frames of {}x{} px at {} µm/px ({} melanoma; {} aggregation): \
             sensitivity {:.2}, specificity {:.2}, AUC {:.3}; patch threshold {:.3} kept for the slide tables; frames in {}",
            f.decision.threshold,
            f.decision.uncertain_band,
            c.frames,
            c.frame_width,
            c.frame_height,
            c.frame_um_per_px,
            c.positive_frames,
            c.aggregation.name(),
            c.sensitivity,
            c.specificity,
            c.auc,
            c.patch_decision.threshold,
            f.report.display()
        );
    }
    if let Some(why) = &done.frame_threshold_skipped {
        eprintln!("warning: no frame threshold ({why}); the bundle applies the patch threshold to frames");
    }
    if let Some(f) = &done.familiarity {
        println!(
            "familiarity: {} channels from {} training fields (rank {}, {:.0}% of the variance, shrinkage {:.3}); \
             threshold {:.3} passes {:.1}% of {} validation fields (asked {:.0}%)",
            f.channels,
            f.training_fields,
            f.fit.rank,
            100.0 * f.fit.explained,
            f.fit.shrinkage,
            f.threshold,
            100.0 * f.fit.validation_pass,
            f.validation_fields,
            100.0 * f.pass_share
        );
    }
    if let Some(st) = &done.stain {
        let what = match &st.target {
            StainTarget::Macenko(m) => {
                format!(
                    "{}, strengths {:.2} {:.2}",
                    describe_vectors(m),
                    m.max_concentrations[0],
                    m.max_concentrations[1]
                )
            }
            StainTarget::Reinhard(l) => format!(
                "L*a*b* mean {:.1} {:.1} {:.1}, std {:.1} {:.1} {:.1}",
                l.mean[0], l.mean[1], l.mean[2], l.std[0], l.std[1], l.std[2]
            ),
        };
        println!("stain target: {} from {} training fields: {what}", st.target.name(), st.fields);
    }
    if let Some(b) = &done.bundle {
        let forms: Vec<&str> = done.forms.iter().map(|f| f.precision.name()).collect();
        println!(
            "wrote bundle {} ({} bytes, forms {}, {} reference fields, {})",
            b.path.display(),
            b.bytes,
            forms.join(", "),
            b.references,
            if b.signed { "signed" } else { "unsigned" }
        );
    }
    Ok(())
}

pub fn keygen_command(args: KeygenArgs) -> Result<()> {
    let (secret, public) = keygen(&args.out)?;
    println!("wrote {} and {}", secret.display(), public.display());
    Ok(())
}
