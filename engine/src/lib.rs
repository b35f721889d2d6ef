//! The Melanoscope inference engine: load and check a model bundle (its hash, its signature
//! against the configured keys, its reference fields run and compared), then run batches of
//! normalised fields to logits and the `features` map (and, for heads that are not a pooled
//! linear layer, `grad_cam_weights` for Grad-CAM). The edge screens with it and the trainer
//! calibrates, checks and times its exports with it, so what the trainer verifies is what the
//! edge runs. The ONNX protobuf helpers and the graph's tensor names ([`names`]) live here too:
//! the exporter writes the names the engine reads.
//!
//! Two runtimes execute the same ONNX file: tract (pure Rust, the default, and what cross-builds
//! for every board) and onnxruntime, loaded at run time from its shared library when the crate
//! is built with the `onnxruntime` feature. Without the feature the onnxruntime backend still
//! compiles and opening it is an error naming the feature. onnxruntime exists for INT8: on x86
//! hosts tract runs the QOperator graph far slower than onnxruntime does, while f32 stays
//! within a small factor.
//!
//! Errors: one typed [`EngineError`]; a runtime's own error is kept as its `source`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod bundle;
mod head;
pub mod names;
pub mod onnx_proto;
mod onnxruntime;
mod tract_plan;

pub use bundle::{CheckedBundle, LoadedBundle, RunChoice, check_references, frame_extract_config, reference_batches};
pub use head::linear_head_weights;

use melanoscope_shared::formats::BackendKind;
use std::path::PathBuf;
use thiserror::Error;

/// A runtime's or a library's own error, kept as the cause.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("model bundle {path}: cannot read it")]
    Read { path: String, source: std::io::Error },
    /// The format error is said once, without its own "model bundle:" (and is not a separate
    /// cause, which would repeat it in every chained message).
    #[error("model bundle {path}: {}", error.detail())]
    Bundle { path: String, error: melanoscope_shared::formats::FormatError },
    #[error("the ONNX model does not load in {runtime}")]
    Load { runtime: &'static str, source: Cause },
    #[error("inference failed in {runtime}")]
    Run { runtime: &'static str, source: Cause },
    #[error("the model's outputs are not what the engine reads: {0}")]
    Outputs(String),
    #[error("input has {actual} values; a batch of {batch} {side}x{side} fields needs {expected}")]
    InputSize { actual: usize, expected: usize, batch: usize, side: usize },
    #[error("reference field {field} of the bundle is not a {side}x{side} RGB field")]
    Reference { field: usize, side: usize, source: melanoscope_shared::image::ImageError },
    #[error(
        "self-test failed on reference field {field}: {output} differs by {diff} (tolerance {tolerance}); \
         this device computes something other than the exporter did, so it will not screen"
    )]
    SelfTest { field: usize, output: &'static str, diff: f32, tolerance: f32 },
    #[error("onnxruntime from {library}")]
    OnnxRuntimeLibrary { library: String, source: Cause },
    #[error("{0}")]
    Backend(String),
}

/// Which runtime executes the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// tract: pure Rust, every target, the reference.
    Tract,
    /// onnxruntime from this shared library (`libonnxruntime.so.1.x`, e.g. the one inside the
    /// `onnxruntime` wheel's `capi/` folder); needs the `onnxruntime` feature.
    OnnxRuntime { library: PathBuf },
}

impl Backend {
    /// `tract`, or `onnxruntime` with `library`, else `$ORT_DYLIB_PATH`, else the first
    /// library found where Debian's package or a pip install puts it
    /// ([`find_onnxruntime_library`]).
    pub fn resolve(kind: BackendKind, library: Option<PathBuf>) -> Result<Self, EngineError> {
        match kind {
            BackendKind::Tract => Ok(Backend::Tract),
            BackendKind::Onnxruntime => {
                let library = library
                    .or_else(|| std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()).map(PathBuf::from))
                    .or_else(find_onnxruntime_library)
                    .ok_or_else(|| {
                        EngineError::Backend(format!(
                            "backend onnxruntime needs its shared library and none was found: give \
                             --onnxruntime-lib (or model.onnxruntime_library), set ORT_DYLIB_PATH, or install it \
                             (`apt install libonnxruntime1.21` on Debian trixie, `pip install onnxruntime` on \
                             Raspberry Pi OS); looked in {}",
                            onnxruntime_search_dirs()
                                .iter()
                                .map(|d| d.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                Ok(Backend::OnnxRuntime { library })
            }
        }
    }

    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::Tract => BackendKind::Tract,
            Backend::OnnxRuntime { .. } => BackendKind::Onnxruntime,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Whether this build can run the backend at all (onnxruntime needs its feature).
    pub fn compiled_in(&self) -> bool {
        match self {
            Backend::Tract => true,
            Backend::OnnxRuntime { .. } => onnxruntime::COMPILED_IN,
        }
    }
}

/// The `libonnxruntime.so` inside the onnxruntime wheel of a Python environment (its
/// `lib/python3.*/site-packages/onnxruntime/capi/`), if there is one.
pub fn onnxruntime_wheel_library(venv: &std::path::Path) -> Option<PathBuf> {
    wheel_capi_dirs(&venv.join("lib")).into_iter().find_map(newest_library)
}

/// The `python3*/{site,dist}-packages/onnxruntime/capi` folders under a `lib` folder, where
/// pip puts the onnxruntime wheel's library.
fn wheel_capi_dirs(lib: &std::path::Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(lib) else { return Vec::new() };
    let mut pythons: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("python3")))
        .collect();
    pythons.sort();
    pythons
        .iter()
        .flat_map(|python| ["site-packages", "dist-packages"].map(|p| python.join(p).join("onnxruntime/capi")))
        .collect()
}

/// The `libonnxruntime.so*` file of `dir` with the highest version, if any.
fn newest_library(dir: PathBuf) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so")))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// Where onnxruntime's library is looked for when no setting names it: Debian's
/// `libonnxruntime1.x` package (the multiarch library folder), and the `onnxruntime/capi/`
/// folder of a pip install (the active virtual environment, the user's, the system's).
pub fn onnxruntime_search_dirs() -> Vec<PathBuf> {
    let triplet = match std::env::consts::ARCH {
        "aarch64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        _ => "x86_64-linux-gnu",
    };
    let mut dirs = vec![PathBuf::from(format!("/usr/lib/{triplet}")), PathBuf::from("/usr/local/lib")];
    let mut prefixes: Vec<PathBuf> = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        prefixes.push(PathBuf::from(venv).join("lib"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        prefixes.push(PathBuf::from(home).join(".local/lib"));
    }
    prefixes.extend(["/usr/local/lib", "/usr/lib"].map(PathBuf::from));
    dirs.extend(prefixes.iter().flat_map(|lib| wheel_capi_dirs(lib)));
    dirs
}

/// The first `libonnxruntime.so*` in [`onnxruntime_search_dirs`] (the highest version within
/// a folder).
pub fn find_onnxruntime_library() -> Option<PathBuf> {
    onnxruntime_search_dirs().into_iter().find_map(newest_library)
}

/// Sets the threads tract's matrix products use, process-wide (1 keeps everything on the
/// calling thread). onnxruntime takes its threads per session, from [`Engine::open`].
pub fn set_threads(threads: usize) {
    tract_plan::set_threads(threads)
}

pub use tract_plan::multiply_adds;

/// What one run returns, batch-major. A caller that runs batch after batch keeps one and
/// passes it to [`Engine::run_into`], which overwrites it in place (no new buffers once the
/// first batch has sized them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    pub logits: Vec<f32>,
    pub features: Vec<f32>,
    /// Channels, height, width of one field's feature map.
    pub feature_shape: [usize; 3],
    /// Any further outputs (e.g. `grad_cam_weights`, or calibration probes), by name.
    pub extra: Vec<(String, Vec<f32>)>,
    /// Outputs written by the run in progress.
    written: usize,
}

impl Outputs {
    /// A further output by name (e.g. [`names::GRAD_CAM_WEIGHTS`]).
    pub fn extra(&self, name: &str) -> Option<&[f32]> {
        self.extra.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    fn begin(&mut self) {
        self.written = 0;
    }

    /// Output `index` of the graph (`logits` first, then `features` (N×C×H×W), then the rest),
    /// copied into the buffer kept for it.
    fn put(&mut self, index: usize, name: &str, shape: &[usize], values: &[f32]) -> Result<(), EngineError> {
        fn refill(buf: &mut Vec<f32>, values: &[f32]) {
            buf.clear();
            buf.extend_from_slice(values);
        }
        match index {
            0 => refill(&mut self.logits, values),
            1 => {
                self.feature_shape = match shape {
                    [_, c, h, w] => [*c, *h, *w],
                    other => {
                        return Err(EngineError::Outputs(format!(
                            "{} have shape {other:?}; expected N×C×H×W",
                            names::FEATURES
                        )));
                    }
                };
                refill(&mut self.features, values);
            }
            _ => {
                let k = index - 2;
                if k < self.extra.len() {
                    let (n, buf) = &mut self.extra[k];
                    if n != name {
                        name.clone_into(n);
                    }
                    refill(buf, values);
                } else {
                    self.extra.push((name.to_string(), values.to_vec()));
                }
            }
        }
        self.written = self.written.max(index + 1);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), EngineError> {
        if self.written < 2 {
            return Err(EngineError::Outputs(format!(
                "the model has fewer than two outputs ({}, {})",
                names::LOGITS,
                names::FEATURES
            )));
        }
        self.extra.truncate(self.written - 2);
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Runner {
    Tract(tract_plan::TractPlan),
    OnnxRuntime(onnxruntime::OrtSession),
}

/// A model ready to run batches of `batch` fields of `side` pixels.
#[derive(Debug, Clone)]
pub struct Engine {
    runner: Runner,
    pub batch: usize,
    pub side: usize,
}

impl Engine {
    /// tract, optimised for a fixed batch (tract plans are fastest with every shape known).
    pub fn from_onnx(onnx: &[u8], batch: usize, side: usize) -> Result<Self, EngineError> {
        Self::open(onnx, batch, side, &Backend::Tract, 0)
    }

    /// The model on `backend`; `threads` is onnxruntime's per-session thread count (tract's is
    /// process-wide, [`set_threads`]); 0 lets onnxruntime choose.
    pub fn open(
        onnx: &[u8],
        batch: usize,
        side: usize,
        backend: &Backend,
        threads: usize,
    ) -> Result<Self, EngineError> {
        let runner = match backend {
            Backend::Tract => Runner::Tract(tract_plan::TractPlan::new(onnx, batch, side)?),
            Backend::OnnxRuntime { library } => {
                Runner::OnnxRuntime(onnxruntime::OrtSession::new(library, onnx, threads)?)
            }
        };
        Ok(Engine { runner, batch, side })
    }

    pub fn backend_name(&self) -> &'static str {
        match self.runner {
            Runner::Tract(_) => BackendKind::Tract.name(),
            Runner::OnnxRuntime(_) => BackendKind::Onnxruntime.name(),
        }
    }

    /// The graph's outputs, in order (`logits`, `features`, then any others).
    pub fn output_names(&self) -> &[String] {
        match &self.runner {
            Runner::Tract(p) => p.output_names(),
            Runner::OnnxRuntime(s) => s.output_names(),
        }
    }

    /// Refuses anything but exactly one batch of NCHW fields.
    fn check_input(&self, input: &[f32]) -> Result<(), EngineError> {
        let expected = self.batch * 3 * self.side * self.side;
        if input.len() != expected {
            return Err(EngineError::InputSize { actual: input.len(), expected, batch: self.batch, side: self.side });
        }
        Ok(())
    }

    /// Runs one batch of normalised NCHW fields.
    pub fn run(&self, input: &[f32]) -> Result<Outputs, EngineError> {
        let mut out = Outputs::default();
        self.run_into(input, &mut out)?;
        Ok(out)
    }

    /// Runs one batch into `out`, overwriting it: the screening loop's call, which reuses the
    /// runtime's state, the input tensor and `out`'s buffers from batch to batch.
    pub fn run_into(&self, input: &[f32], out: &mut Outputs) -> Result<(), EngineError> {
        self.check_input(input)?;
        let shape = [self.batch, 3, self.side, self.side];
        match &self.runner {
            Runner::Tract(p) => p.run_into(shape, input, out),
            Runner::OnnxRuntime(s) => s.run_into(shape, input, out),
        }
    }

    /// Runs one batch timing every node, and returns the seconds per kind of operation
    /// (e.g. `OptMatMul`, `Add`) with its node count, largest first: where an inference's time
    /// goes. tract only (onnxruntime has its own profiler).
    pub fn profile(&self, input: &[f32]) -> Result<Vec<(String, f64, usize)>, EngineError> {
        self.check_input(input)?;
        match &self.runner {
            Runner::Tract(p) => p.profile([self.batch, 3, self.side, self.side], input),
            Runner::OnnxRuntime(_) => Err(EngineError::Backend("per-operation profiles are tract's only".into())),
        }
    }
}

impl Engine {
    /// The matrix kernels tract chose for each product (empty for onnxruntime).
    pub fn matmul_kernels(&self) -> Vec<String> {
        match &self.runner {
            Runner::Tract(p) => p.matmul_kernels(),
            Runner::OnnxRuntime(_) => Vec::new(),
        }
    }
}

/// Mean of each channel of a C×H×W map.
pub fn pooled(map: &[f32], channels: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(channels);
    pooled_into(map, channels, &mut out);
    out
}

/// [`pooled`] into a buffer kept between fields (the edge scores every field without allocating).
pub fn pooled_into(map: &[f32], channels: usize, out: &mut Vec<f32>) {
    let per = map.len() / channels.max(1);
    out.clear();
    out.extend(map.chunks(per.max(1)).map(|c| c.iter().sum::<f32>() / per.max(1) as f32));
}

/// Largest absolute difference (infinite when a value is not finite).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| if (x - y).is_finite() { (x - y).abs() } else { f32::INFINITY }).fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_and_unknown_ones_are_named() {
        let tract: BackendKind = "tract".parse().unwrap();
        assert_eq!(Backend::resolve(tract, None).unwrap(), Backend::Tract);
        let lib = PathBuf::from("/opt/ort/libonnxruntime.so.1.32.0");
        let ort: BackendKind = "onnxruntime".parse().unwrap();
        assert_eq!(Backend::resolve(ort, Some(lib.clone())).unwrap(), Backend::OnnxRuntime { library: lib });
        assert_eq!(ort.to_string(), "onnxruntime");
        let err = "tensorrt".parse::<BackendKind>().unwrap_err().to_string();
        assert!(err.contains("\"tensorrt\"") && err.contains("tract or onnxruntime"), "{err}");
    }

    /// Built with the feature (the arm64 board binary, the trainer), a library that is not there
    /// is an error naming it, not a panic: the board may lack onnxruntime until it is installed.
    #[cfg(feature = "onnxruntime")]
    #[test]
    fn onnxruntime_with_its_feature_names_a_missing_library() {
        let missing = std::env::temp_dir().join(format!("msc-no-ort-{}/libonnxruntime.so", std::process::id()));
        let backend = Backend::OnnxRuntime { library: missing.clone() };
        assert!(backend.compiled_in());
        let err = Engine::open(&[], 1, 64, &backend, 1).unwrap_err().to_string();
        assert!(err.contains(&missing.display().to_string()), "{err}");
    }

    /// Built without the feature (as the board binaries are), the backend still exists and
    /// says what is missing instead of panicking.
    #[cfg(not(feature = "onnxruntime"))]
    #[test]
    fn onnxruntime_without_its_feature_is_an_error_naming_the_feature() {
        let backend = Backend::OnnxRuntime { library: "/usr/lib/libonnxruntime.so".into() };
        assert!(!backend.compiled_in());
        let err = Engine::open(&[], 1, 64, &backend, 1).unwrap_err().to_string();
        assert!(err.contains("--features onnxruntime") && err.contains("/usr/lib/libonnxruntime.so"), "{err}");
    }

    #[test]
    fn outputs_without_logits_and_a_feature_map_are_refused() {
        let mut out = Outputs::default();
        out.begin();
        out.put(0, names::LOGITS, &[1, 2], &[0.0; 2]).unwrap();
        let err = out.finish().unwrap_err();
        assert!(err.to_string().contains("fewer than two outputs"), "{err}");
        let err = out.put(1, names::FEATURES, &[1, 8], &[0.0; 8]).unwrap_err();
        assert!(err.to_string().contains("N×C×H×W"), "{err}");
    }

    /// A second run overwrites the first in the same buffers, and an output the second run
    /// lacks is dropped rather than left stale.
    #[test]
    fn outputs_are_overwritten_in_place() {
        let mut out = Outputs::default();
        out.begin();
        out.put(0, names::LOGITS, &[1, 2], &[1.0, 2.0]).unwrap();
        out.put(1, names::FEATURES, &[1, 2, 1, 1], &[3.0, 4.0]).unwrap();
        out.put(2, "probe", &[1, 1], &[5.0]).unwrap();
        out.finish().unwrap();
        let logits_at = out.logits.as_ptr();
        out.begin();
        out.put(0, names::LOGITS, &[1, 2], &[6.0, 7.0]).unwrap();
        out.put(1, names::FEATURES, &[1, 1, 2, 1], &[8.0, 9.0]).unwrap();
        out.finish().unwrap();
        assert_eq!(out.logits, [6.0, 7.0]);
        assert_eq!(out.logits.as_ptr(), logits_at, "the logits buffer was reallocated");
        assert_eq!(out.features, [8.0, 9.0]);
        assert_eq!(out.feature_shape, [1, 2, 1]);
        assert!(out.extra("probe").is_none(), "a stale output survived");
    }
}
