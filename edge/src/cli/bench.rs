//! `melanoscope-edge bench`: per-stage times of the screening of one camera frame (decode,
//! preprocessing, inference, CAM, render), frames per second, onnxruntime's inference time for
//! the same fields in the same process, heap allocations per frame in the steady state, peak
//! memory, and Raspberry Pi 5 and 4 projections from instruction counts of the same model form.

use super::alloc_count;
use anyhow::{Context, Result};
use melanoscope_edge::config::{
    BackendSetting, EdgeConfig, FlatFieldMap, ModelConfig, ObjectiveCalibration, ScreeningConfig,
};
use melanoscope_edge::gates::Gate;
use melanoscope_edge::screen::analyse::Analyzer;
use melanoscope_edge::screen::render::{Renderer, ScreenState};
use melanoscope_edge::screen::setup::open_bundle;
use melanoscope_engine::{Backend, Engine, multiply_adds};
use melanoscope_shared::formats::Form;
use melanoscope_shared::image::{PixelSpacing, RgbImage, decode_rgb, decode_rgb_into};
use melanoscope_shared::pipeline::FieldExtractor;
use melanoscope_shared::run_files::edge_bench::{
    AgainstTuned, BenchBundle, BenchFrame, BoardProjection, EdgeBenchReport, FamiliarityCost, OnnxRuntimeComparison,
    Operations, PerFrame, StageMedians, StainCost, SteadyState,
};
use melanoscope_shared::stain::StainMode;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A site file: its [model] settings (bundle, keys, backend and the tuned choice) are
    /// what is timed, as `screen` would run them.
    #[arg(long, required_unless_present = "bundle")]
    pub config: Option<PathBuf>,
    /// The bundle (overrides the site file's).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Files holding trusted ed25519 public keys, for a signed bundle (without --config).
    #[arg(long, value_delimiter = ',')]
    pub trusted_keys: Vec<PathBuf>,
    /// Without --config: auto (tract at batch 1), tract or onnxruntime.
    #[arg(long, default_value = "tract")]
    pub backend: BackendSetting,
    /// A camera frame (JPEG, as an MJPEG camera delivers it).
    #[arg(long)]
    pub frame: PathBuf,
    /// µm per pixel of the frame (the objective's calibration).
    #[arg(long)]
    pub um_per_px: f64,
    /// Timed frames after one warm-up frame.
    #[arg(long, default_value_t = 3)]
    pub frames: usize,
    /// Without --config: threads and fields per run.
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Without --config: which of the bundle's forms (f32, f16, int8; default: its first).
    #[arg(long)]
    pub form: Option<Form>,
    /// libonnxruntime.so to time the same fields on ("none" to skip; default $ORT_DYLIB_PATH).
    #[arg(long)]
    pub onnxruntime_lib: Option<String>,
    /// Also time the whole loop with the desktop window (on $DISPLAY: run under xvfb-run on a
    /// machine without one) and the web view streaming to 8 viewers, against no sink.
    #[arg(long)]
    pub views: bool,
    /// The stain check as `screening.stain` sets it: off, check (the default) or normalise;
    /// the report gives its cost per frame.
    #[arg(long, default_value = "check", value_parser = parse_stain_mode)]
    pub stain: StainMode,
}

fn parse_stain_mode(s: &str) -> Result<StainMode, String> {
    [StainMode::Off, StainMode::Check, StainMode::Normalise]
        .into_iter()
        .find(|m| m.name() == s.trim())
        .ok_or_else(|| format!("{s:?}; expected off, check or normalise"))
}

/// What one field of each model form executes on the boards' cores, counted under qemu
/// (`scripts/arm_estimate.sh`, which writes this file).
const ARM_ESTIMATE: &str = include_str!("../../../docs/bench/arm-estimate.json");

/// Share of four cores' throughput tract's threads reach (its 1→2-thread scaling on the x86
/// host: 68.0→41.5 ms a ResNet18 f32 field, 0.82).
const FOUR_CORE_EFFICIENCY: f64 = 0.8;

/// A board's frame from the counted cycles of one field of this model and form; the other
/// stages scaled from this host by 2.5 (an assumption: they are not counted).
fn board_projection(architecture: &str, form: Form, cpu: &str, fields: usize, other_ms: f64) -> BoardProjection {
    let doc: serde_json::Value = serde_json::from_str(ARM_ESTIMATE).unwrap_or_default();
    let rows = doc["rows"].as_array().cloned().unwrap_or_default();
    let row = rows.iter().find(|r| r["model"] == architecture && r["form"] == form.name() && r["cpu"] == cpu);
    let Some(ms_one_core) = row.and_then(|r| r["ms_per_field_one_core"].as_f64()) else {
        return BoardProjection::Skipped {
            cpu: cpu.into(),
            skipped: format!(
                "no instruction count of {architecture} {form} on {cpu} in docs/bench/arm-estimate.json \
                 (run scripts/arm_estimate.sh with that export)"
            ),
        };
    };
    let inference_ms = fields as f64 * ms_one_core / (4.0 * FOUR_CORE_EFFICIENCY);
    BoardProjection::Projected {
        board: doc["cores"][cpu]["board"].as_str().map(str::to_string),
        cpu: cpu.into(),
        frames_per_second: 1000.0 / (inference_ms + other_ms * 2.5).max(1e-9),
        inference_ms,
        method: "fields x counted cycles of one field (qemu instruction counts x the core's per-pipe throughput, \
                 docs/bench/arm-estimate.md) / clock / (4 cores x 0.8); other stages: this host's x 2.5 (assumed)"
            .into(),
        ms_per_field_one_core: ms_one_core,
        other_stages_ms: other_ms * 2.5,
    }
}

/// The shared median; 0 for no samples.
fn median(v: &[f64]) -> f64 {
    melanoscope_shared::metrics::median(v).unwrap_or(0.0)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(&measure(args)?)?);
    Ok(())
}

/// The report `bench` prints.
pub fn measure(args: &BenchArgs) -> Result<EdgeBenchReport> {
    let jpeg = std::fs::read(&args.frame).with_context(|| format!("reading {}", args.frame.display()))?;
    let mut model = match &args.config {
        Some(site) => EdgeConfig::load(Some(site))?.model,
        None => ModelConfig {
            bundle: PathBuf::new(),
            trusted_keys: args.trusted_keys.clone(),
            require_signature: false,
            state_dir: PathBuf::new(),
            backend: args.backend,
            onnxruntime_library: String::new(),
            threads: args.threads,
            batch: args.batch,
            form: args.form,
            tuned: None,
        },
    };
    if let Some(b) = &args.bundle {
        model.bundle = b.clone();
    }
    let choice = model.run_choice()?;
    let tuned = model.tuned.clone().filter(|_| model.backend == BackendSetting::Auto);
    let bundle = open_bundle(&model)?;
    let extract = bundle.extract_config();
    let meta = bundle.file.meta.clone();
    let onnx = bundle.file.onnx.clone();
    let side = meta.input_size as usize;
    // A flat field and white balance as a calibrated objective has, so their cost is counted.
    let calibration = ObjectiveCalibration {
        um_per_px: Some(args.um_per_px),
        white_balance: Some([1.03, 1.0, 0.97]),
        flat_field: Some(FlatFieldMap { width: 32, height: 18, gain: vec![1.05; 32 * 18] }),
    };
    let screening = ScreeningConfig { stain: args.stain, ..EdgeConfig::defaults()?.screening };
    let mut analyzer = Analyzer::new(bundle, calibration, args.um_per_px, &screening)?;
    let mut renderer = Renderer::new(800, 480, screening.overlay_min_change)?;
    let samples = time_frames(args, &jpeg, &mut analyzer, &mut renderer)?;
    let frame = decode_rgb(&jpeg)?;
    let onnxruntime = onnxruntime_same_fields(args, &frame, extract, &onnx, side, &choice, median(&samples.inf))?;
    let kept = FieldExtractor::new(extract)?.process(&frame, PixelSpacing::isotropic(args.um_per_px)?)?.kept_count();
    let views =
        if args.views { Some(super::bench_views::views_cost(&jpeg, &mut analyzer, args.frames.max(2))?) } else { None };
    let Samples { decode, pre, inf, cam, familiarity, stain, render, total, allocs, bytes, fields, gate } = samples;
    let macs_field = multiply_adds(&onnx, side)?;
    let macs_frame = macs_field * fields as u64;
    let inf_ms = median(&inf);
    let host_gmacs = if inf_ms > 0.0 { macs_frame as f64 / (inf_ms * 1e6) } else { 0.0 };
    let architecture = format!("{:?}", meta.architecture).to_lowercase();
    let form = analyzer.bundle().file.meta.quantization.form();
    let other_ms = median(&decode) + median(&pre) + median(&cam) + median(&render);
    let boards: Vec<BoardProjection> = ["cortex-a76", "cortex-a72"]
        .iter()
        .map(|cpu| board_projection(&architecture, form, cpu, fields, other_ms))
        .collect();
    let per_field = |ms: f64| ms / fields.max(1) as f64;
    let report = EdgeBenchReport {
        backend: choice.backend.name().into(),
        batch: choice.batch,
        bundle: BenchBundle {
            architecture: format!("{:?}", meta.architecture),
            file: model.bundle.clone(),
            quantization: format!("{:?}", meta.quantization),
            um_per_px: meta.um_per_px,
        },
        familiarity_gate: if analyzer.familiarity_on() {
            FamiliarityCost::On {
                ms_per_field: per_field(median(&familiarity)),
                multiply_adds_per_field: meta
                    .familiarity
                    .as_ref()
                    .map(|f| (f.rank() + f.classes() + 1) as u64 * u64::from(f.channels)),
                share_of_inference: median(&familiarity) / inf_ms.max(1e-9),
            }
        } else {
            FamiliarityCost::Off {
                off: "the bundle has no familiarity statistics, or screening.familiarity_gate is false".into(),
            }
        },
        fields_kept_by_extractor: kept,
        fields_per_frame: fields,
        frame: BenchFrame {
            file: args.frame.clone(),
            height: frame.height(),
            um_per_px: args.um_per_px,
            width: frame.width(),
        },
        frames_per_second: 1000.0 / median(&total).max(1e-9),
        gate: gate.map(|g| g.verdict().label().to_string()),
        median_ms: StageMedians {
            cam: median(&cam),
            capture_decode: median(&decode),
            familiarity: median(&familiarity),
            frame_total: median(&total),
            inference: inf_ms,
            preprocess: median(&pre),
            render: median(&render),
        },
        onnxruntime_same_fields: onnxruntime,
        operations: Operations {
            host_gmac_per_s_tract: host_gmacs,
            multiply_adds_per_field: macs_field,
            multiply_adds_per_frame: macs_frame,
        },
        peak_rss_mib: alloc_count::peak_rss_kib().map(|k| k as f64 / 1024.0),
        per_frame_ms: PerFrame { frame_total: total.clone(), inference: inf.clone() },
        projection_boards: boards,
        steady_state: SteadyState { allocations_per_frame: median(&allocs), bytes_allocated_per_frame: median(&bytes) },
        threads: choice.threads,
        timed_frames: args.frames,
        tuned: tuned.as_ref().map(|t| AgainstTuned {
            frame_over_tuned_inference: median(&total) / (t.ms_per_field * fields.max(1) as f64),
            inference_over_tuned: inf_ms / (t.ms_per_field * fields.max(1) as f64),
            ms_per_field: t.ms_per_field,
        }),
        views,
        stain: Some(match analyzer.stain_on() {
            Some(mode) => StainCost::On {
                mode: mode.name().into(),
                median_ms: median(&stain),
                share_of_frame: median(&stain) / median(&total).max(1e-9),
            },
            None => StainCost::Off { off: "the bundle has no Macenko stain target, or --stain off".into() },
        }),
    };
    Ok(report)
}

/// Per-stage times (ms) and allocations of the timed frames (after one warm-up frame).
#[derive(Debug, Default)]
struct Samples {
    decode: Vec<f64>,
    pre: Vec<f64>,
    inf: Vec<f64>,
    cam: Vec<f64>,
    familiarity: Vec<f64>,
    stain: Vec<f64>,
    render: Vec<f64>,
    total: Vec<f64>,
    allocs: Vec<f64>,
    bytes: Vec<f64>,
    /// Fields screened per frame, and the gate the frame met (if any).
    fields: usize,
    gate: Option<Gate>,
}

/// Screens the frame `jpeg` `args.frames + 1` times as `screen` does (decoded into the last
/// frame's buffer, as the camera sources do), the first as warm-up.
fn time_frames(args: &BenchArgs, jpeg: &[u8], analyzer: &mut Analyzer, renderer: &mut Renderer) -> Result<Samples> {
    let mut s = Samples::default();
    let (threshold, positive) = {
        let decision = &analyzer.bundle().file.meta.decision;
        (decision.threshold, usize::from(decision.positive_class))
    };
    let mut frame = RgbImage::filled(1, 1, [0; 3])?;
    for i in 0..=args.frames {
        let (a0, b0) = alloc_count::counts();
        let t_all = Instant::now();
        let t = Instant::now();
        decode_rgb_into(jpeg, &mut frame).with_context(|| format!("decoding {}", args.frame.display()))?;
        let d = t.elapsed().as_secs_f64() * 1e3;
        let analysis = analyzer.analyse(&frame)?;
        let t = Instant::now();
        let state = ScreenState {
            frame: analyzer.corrected(),
            verdict: None,
            probability: analysis.probability,
            threshold,
            fields: &analysis.fields,
            positive,
            restarted: false,
            status: "bench",
            warning: None,
        };
        renderer.render(&state);
        let r = t.elapsed().as_secs_f64() * 1e3;
        let all = t_all.elapsed().as_secs_f64() * 1e3;
        let (a1, b1) = alloc_count::counts();
        s.fields = analysis.fields.len();
        s.gate = analysis.gate;
        if i == 0 {
            continue; // warm-up: buffers grow to the frame size here
        }
        s.decode.push(d);
        s.pre.push(analysis.times.preprocess_ms);
        s.inf.push(analysis.times.inference_ms);
        s.cam.push(analysis.times.cam_ms);
        s.familiarity.push(analysis.times.familiarity_ms);
        s.stain.push(analysis.times.stain_ms);
        s.render.push(r);
        s.total.push(all);
        s.allocs.push((a1 - a0) as f64);
        s.bytes.push((b1 - b0) as f64);
    }
    Ok(s)
}

/// The same fields of `frame` through onnxruntime, in this process (`tract_ms`: tract's
/// median inference time, for the ratio).
fn onnxruntime_same_fields(
    args: &BenchArgs,
    frame: &RgbImage,
    extract: melanoscope_shared::pipeline::ExtractConfig,
    onnx: &[u8],
    side: usize,
    choice: &melanoscope_engine::RunChoice,
    tract_ms: f64,
) -> Result<OnnxRuntimeComparison> {
    let lib = match args.onnxruntime_lib.as_deref() {
        Some("none") => None,
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from),
    };
    let Some(lib) = lib else {
        return Ok(OnnxRuntimeComparison::Skipped { skipped: "no onnxruntime library given".into() });
    };
    let backend = Backend::OnnxRuntime { library: lib.clone() };
    let engine = match Engine::open(onnx, choice.batch, side, &backend, choice.threads) {
        Ok(e) => e,
        Err(e) => {
            return Ok(OnnxRuntimeComparison::Skipped { skipped: melanoscope_shared::errors::error_chain(&e) });
        }
    };
    let mut extractor = FieldExtractor::new(extract)?;
    let tensors = extractor.process(frame, PixelSpacing::isotropic(args.um_per_px)?)?.tensors.to_vec();
    let per = 3 * side * side;
    let mut times = Vec::new();
    for i in 0..=args.frames {
        let t = Instant::now();
        for chunk in tensors.chunks(choice.batch * per) {
            let mut input = chunk.to_vec();
            input.resize(choice.batch * per, 0.0);
            engine.run(&input)?;
        }
        if i > 0 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let ms = median(&times);
    Ok(OnnxRuntimeComparison::Timed { inference_ms: ms, library: lib, tract_over_onnxruntime: tract_ms / ms.max(1e-9) })
}
