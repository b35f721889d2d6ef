//! `bench-export`: per-field latency of exported ONNX models in tract and in onnxruntime (the
//! edge engine's two backends), on the same files, inputs, threads and batches, in one process;
//! with `--profile`, where tract's time goes by kind of operation and which matrix kernel each
//! of its products runs.

use anyhow::{Context, Result, bail};
use melanoscope_engine::{Backend, Engine, set_threads};
use melanoscope_trainer::export::bench_report::{
    BenchExportReport, LatencyRow, OperationTime, RuntimeRatio, TractProfile,
};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchExportArgs {
    /// Comma-separated .onnx files (as `export` writes them).
    #[arg(long, value_delimiter = ',', required = true)]
    pub models: Vec<PathBuf>,
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Comma-separated batch sizes (1 and the batch the edge runs).
    #[arg(long, default_value = "1,4")]
    pub batches: String,
    /// Timed runs per measurement (the median is reported), after one warm-up run.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Also time every tract node of one batch-1 run and report the time by operation.
    #[arg(long)]
    pub profile: bool,
    /// libonnxruntime.so for the onnxruntime rows; `none` skips them. Default: the one in the
    /// onnxruntime wheel of $VIRTUAL_ENV, else of .venv.
    #[arg(long)]
    pub onnxruntime_lib: Option<String>,
}

/// Median milliseconds of `runs` runs after one warm-up.
fn time_runs(engine: &Engine, input: &[f32], runs: usize) -> Result<(f64, usize)> {
    engine.run(input)?;
    let mut times = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        engine.run(input)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((melanoscope_shared::metrics::median(&times).unwrap_or(0.0), times.len()))
}

pub fn bench_export(args: BenchExportArgs) -> Result<()> {
    let batches: Vec<usize> = args
        .batches
        .split(',')
        .map(|b| {
            b.trim()
                .parse::<usize>()
                .ok()
                .filter(|b| *b > 0)
                .with_context(|| format!("batch {b:?}; expected a positive number"))
        })
        .collect::<Result<_>>()?;
    let mut backends = vec![Backend::Tract];
    let ort = super::onnxruntime_arg(args.onnxruntime_lib.as_deref()).map_err(|e| {
        anyhow::anyhow!("{e} (pip install onnxruntime there, or give --onnxruntime-lib PATH or --onnxruntime-lib none)")
    })?;
    if let Some(ort) = ort {
        if !ort.compiled_in() {
            bail!("this trainer was built without the edge's onnxruntime feature; pass --onnxruntime-lib none");
        }
        backends.push(ort);
    }
    set_threads(args.threads);
    let mut rows = Vec::new();
    let mut profiles = std::collections::BTreeMap::new();
    for model in &args.models {
        let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
        for &batch in &batches {
            let mut rng = melanoscope_shared::rng::SplitMix64::new(7);
            let input: Vec<f32> =
                (0..batch * 3 * args.size * args.size).map(|_| rng.next_f64() as f32 * 4.0 - 2.0).collect();
            for backend in &backends {
                let engine = Engine::open(&bytes, batch, args.size, backend, args.threads)
                    .with_context(|| format!("{} in {}", model.display(), backend.name()))?;
                let (ms, runs) = time_runs(&engine, &input, args.runs)?;
                let row = LatencyRow {
                    runtime: backend.name().into(),
                    model: model.display().to_string(),
                    batch,
                    threads: args.threads,
                    runs,
                    ms_per_batch: ms,
                    ms_per_field: ms / batch as f64,
                };
                eprintln!("{}", serde_json::to_string(&row)?);
                rows.push(row);
                if args.profile && batch == batches[0] && *backend == Backend::Tract {
                    let by_operation = engine
                        .profile(&input)?
                        .into_iter()
                        .map(|(op, s, nodes)| OperationTime { ms: s * 1000.0, nodes, op })
                        .collect();
                    let matmul_kernels = engine.matmul_kernels();
                    profiles.insert(model.display().to_string(), TractProfile { by_operation, matmul_kernels });
                }
            }
        }
    }
    // tract over onnxruntime for each (model, batch): below 1, tract is faster.
    let ratios: Vec<RuntimeRatio> = rows
        .iter()
        .filter(|r| r.runtime == "tract")
        .filter_map(|t| {
            rows.iter().find(|o| o.runtime == "onnxruntime" && o.model == t.model && o.batch == t.batch).map(|o| {
                RuntimeRatio {
                    batch: t.batch,
                    model: t.model.clone(),
                    tract_over_onnxruntime: t.ms_per_field / o.ms_per_field,
                }
            })
        })
        .collect();
    let report = BenchExportReport {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        onnxruntime_library: backends.iter().find_map(|b| match b {
            Backend::OnnxRuntime { library } => Some(library.display().to_string()),
            Backend::Tract => None,
        }),
        ratios,
        rows,
        threads: args.threads,
        tract_profile_batch1: profiles,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
