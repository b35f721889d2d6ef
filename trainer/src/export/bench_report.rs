//! `bench-export`'s report (`export/bench.json` in a run folder): per-field latency of exported
//! models in tract and onnxruntime, their ratio, and tract's time by operation. Written by the
//! command, read by the run report. Fields in name order (the order the file has always had).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchExportReport {
    /// Cores the host offers.
    pub cores: usize,
    pub onnxruntime_library: Option<String>,
    /// tract over onnxruntime for each (model, batch): below 1, tract is faster.
    pub ratios: Vec<RuntimeRatio>,
    pub rows: Vec<LatencyRow>,
    pub threads: usize,
    /// By model file: where tract's time goes in one batch-1 run (with `--profile`).
    pub tract_profile_batch1: BTreeMap<String, TractProfile>,
}

/// One model, runtime and batch, timed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    pub runtime: String,
    pub model: String,
    pub batch: usize,
    pub threads: usize,
    pub runs: usize,
    pub ms_per_batch: f64,
    pub ms_per_field: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeRatio {
    pub batch: usize,
    pub model: String,
    pub tract_over_onnxruntime: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TractProfile {
    pub by_operation: Vec<OperationTime>,
    pub matmul_kernels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationTime {
    pub ms: f64,
    pub nodes: usize,
    pub op: String,
}
