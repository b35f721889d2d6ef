//! `bench-export`: per-field latency of exported ONNX models in tract (the edge's engine) and
//! in onnxruntime, on the same files, threads and batches, in one command; with `--profile`,
//! where tract's time goes by kind of operation.

use anyhow::{Context, Result, bail};
use melanoscope_edge::engine::{Engine, set_threads};
use serde::Serialize;
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
    /// Python with the onnxruntime wheel; `none` skips onnxruntime. Default: $VIRTUAL_ENV's, else .venv's.
    #[arg(long)]
    pub python: Option<String>,
}

#[derive(Debug, Serialize)]
struct Row {
    runtime: String,
    model: String,
    batch: usize,
    threads: usize,
    runs: usize,
    ms_per_batch: f64,
    ms_per_field: f64,
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
    set_threads(args.threads);
    let mut rows = Vec::new();
    let mut profiles = serde_json::Map::new();
    for model in &args.models {
        let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
        let x = |batch: usize| -> Vec<f32> {
            let mut rng = melanoscope_shared::rng::SplitMix64::new(7);
            (0..batch * 3 * args.size * args.size).map(|_| rng.next_f64() as f32 * 4.0 - 2.0).collect()
        };
        for &batch in &batches {
            let engine = Engine::from_onnx(&bytes, batch, args.size).with_context(|| format!("{}", model.display()))?;
            let input = x(batch);
            engine.run(&input)?;
            let mut times = Vec::with_capacity(args.runs);
            for _ in 0..args.runs.max(1) {
                let t = Instant::now();
                engine.run(&input)?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            let ms = times[times.len() / 2];
            let row = Row {
                runtime: "tract 0.23".into(),
                model: model.display().to_string(),
                batch,
                threads: args.threads,
                runs: times.len(),
                ms_per_batch: ms,
                ms_per_field: ms / batch as f64,
            };
            eprintln!("{}", serde_json::to_string(&row)?);
            rows.push(row);
            if args.profile && batch == batches[0] {
                let p = engine.profile(&input)?;
                let total: f64 = p.iter().map(|t| t.1).sum();
                let ops: Vec<serde_json::Value> = p
                    .iter()
                    .map(|(op, s, n)| serde_json::json!({"op": op, "ms": s * 1000.0, "share": s / total.max(1e-12), "nodes": n}))
                    .collect();
                profiles.insert(model.display().to_string(), serde_json::Value::Array(ops));
            }
        }
    }
    let python = match args.python.as_deref() {
        Some("none") => None,
        Some(p) => Some(p.to_string()),
        None => {
            Some(std::env::var("VIRTUAL_ENV").map(|v| format!("{v}/bin/python")).unwrap_or(".venv/bin/python".into()))
        }
    };
    if let Some(python) = python {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/ort_bench.py");
        let out = std::process::Command::new(&python)
            .arg(script)
            .arg(args.threads.to_string())
            .arg(&args.batches)
            .arg(args.runs.to_string())
            .args(&args.models)
            .output()
            .with_context(|| format!("running {python} {script}"))?;
        if !out.status.success() {
            bail!("onnxruntime bench failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with('{')) {
            let r: serde_json::Value = serde_json::from_str(line)?;
            rows.push(Row {
                runtime: r["runtime"].as_str().unwrap_or("onnxruntime").into(),
                model: r["model"].as_str().unwrap_or_default().into(),
                batch: r["batch"].as_u64().unwrap_or(0) as usize,
                threads: args.threads,
                runs: r["runs"].as_u64().unwrap_or(0) as usize,
                ms_per_batch: r["ms_per_batch"].as_f64().unwrap_or(f64::NAN),
                ms_per_field: r["ms_per_field"].as_f64().unwrap_or(f64::NAN),
            });
        }
    }
    // tract over onnxruntime for each (model, batch): below 1, tract is faster.
    let ratios: Vec<serde_json::Value> = rows
        .iter()
        .filter(|r| r.runtime.starts_with("tract"))
        .filter_map(|t| {
            rows.iter()
                .find(|o| o.runtime.starts_with("onnxruntime") && o.model == t.model && o.batch == t.batch)
                .map(|o| serde_json::json!({"model": t.model, "batch": t.batch, "tract_over_onnxruntime": t.ms_per_field / o.ms_per_field}))
        })
        .collect();
    let report = serde_json::json!({
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "threads": args.threads,
        "rows": rows,
        "ratios": ratios,
        "tract_profile_batch1": profiles,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
