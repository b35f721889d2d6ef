//! Pretrained weights from a local file, never the network: safetensors (a torchvision state
//! dict converted once) or tch's own `.ot` archives, matched to the model by torchvision name
//! and shape. Every missing, unexpected or mis-shaped tensor is named in the error.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tch::{Tensor, nn};
use thiserror::Error;

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    pub loaded: usize,
    /// Model parameters left at their initialisation: the new head.
    pub skipped_head: Vec<String>,
    /// File entries that carry no weights (BatchNorm's `num_batches_tracked`) or belong to the
    /// replaced head.
    pub ignored: Vec<String>,
}

#[derive(Debug, Error)]
pub enum WeightsError {
    #[error(
        "weights file {path} does not exist (weights are read from local files only; use --weights none to train from scratch)"
    )]
    NotFound { path: PathBuf },
    #[error("weights file {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error(
        "weights file {path}: {kind} files are Python pickles; convert it once with \
         `.venv/bin/python scripts/pth_to_safetensors.py {path} OUT.safetensors` and load that"
    )]
    Pickle { path: PathBuf, kind: String },
    #[error(
        "weights file {path} does not fit the model:{}{}{}",
        list("missing from the file", missing),
        list("in the file but not in the model", unexpected),
        list("of another shape", shapes)
    )]
    Mismatch { path: PathBuf, missing: Vec<String>, unexpected: Vec<String>, shapes: Vec<String> },
    #[error("copying {name}")]
    Copy { name: String, source: tch::TchError },
}

fn list(what: &str, names: &[String]) -> String {
    if names.is_empty() { String::new() } else { format!("\n  {} {what}: {}", names.len(), names.join(", ")) }
}

/// Reads every tensor of a safetensors or `.ot` file.
fn read_tensors(path: &Path) -> Result<Vec<(String, Tensor)>, WeightsError> {
    if !path.is_file() {
        return Err(WeightsError::NotFound { path: path.into() });
    }
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let read = |r: Result<Vec<(String, Tensor)>, tch::TchError>| {
        r.map_err(|e| WeightsError::Read { path: path.into(), detail: melanoscope_shared::errors::error_chain(&e) })
    };
    match ext.as_str() {
        "safetensors" => read(Tensor::read_safetensors(path)),
        "ot" => read(Tensor::load_multi(path)),
        "pth" | "pt" | "pkl" | "bin" => Err(WeightsError::Pickle { path: path.into(), kind: format!(".{ext}") }),
        _ => Err(WeightsError::Read {
            path: path.into(),
            detail: format!("unknown extension {ext:?}; expected .safetensors or .ot"),
        }),
    }
}

/// Loads `path` into `vs`. Parameters whose names start with one of `skip_prefixes` (a replaced
/// head) keep their initialisation and are not expected in the file; file entries under them
/// are ignored. Anything else that does not match is an error listing every name.
pub fn load_weights(vs: &mut nn::VarStore, path: &Path, skip_prefixes: &[&str]) -> Result<LoadReport, WeightsError> {
    let file: HashMap<String, Tensor> = read_tensors(path)?.into_iter().collect();
    let skipped = |name: &str| skip_prefixes.iter().any(|p| name.starts_with(p));
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut report = LoadReport::default();
    let (mut missing, mut shapes) = (Vec::new(), Vec::new());
    for (name, var) in &vars {
        if skipped(name) {
            report.skipped_head.push(name.clone());
            continue;
        }
        match file.get(name) {
            None => missing.push(name.clone()),
            Some(t) if t.size() != var.size() => {
                shapes.push(format!("{name} (model {:?}, file {:?})", var.size(), t.size()))
            }
            Some(_) => {}
        }
    }
    let mut unexpected: Vec<String> = Vec::new();
    let mut file_names: Vec<&String> = file.keys().collect();
    file_names.sort();
    for name in file_names {
        if name.ends_with("num_batches_tracked") || skipped(name) {
            report.ignored.push(name.clone());
        } else if !vars.contains_key(name) {
            unexpected.push(name.clone());
        }
    }
    if !(missing.is_empty() && unexpected.is_empty() && shapes.is_empty()) {
        return Err(WeightsError::Mismatch { path: path.into(), missing, unexpected, shapes });
    }
    tch::no_grad(|| -> Result<(), WeightsError> {
        for (name, mut var) in vars.into_iter().filter(|(n, _)| !skipped(n)) {
            if let Some(src) = file.get(&name) {
                let src = src.to_kind(var.kind()).to_device(var.device());
                var.f_copy_(&src).map_err(|source| WeightsError::Copy { name: name.clone(), source })?;
                report.loaded += 1;
            }
        }
        Ok(())
    })?;
    Ok(report)
}
