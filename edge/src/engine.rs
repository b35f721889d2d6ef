//! Inference with tract on a model bundle: load and check the bundle (its hash, its signature
//! against the configured keys, its reference fields run and compared), then run batches of
//! normalised fields to logits and the `features` map (and, for heads that are not a pooled
//! linear layer, `features_grad` for Grad-CAM). The trainer uses this same engine to calibrate,
//! check and time its exports, so what it verifies is what the edge runs.

use melanoscope_shared::formats::{FormatError, ModelFile, SignatureStatus};
use melanoscope_shared::image::{FieldRect, Normalization, RgbImage, TensorLayout, field_to_tensor};
use std::sync::Arc;
use thiserror::Error;
use tract_onnx::prelude::*;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("model bundle {path}: {source}")]
    Bundle { path: String, source: FormatError },
    #[error("the ONNX model does not load in tract: {0}")]
    Load(String),
    #[error("inference failed: {0}")]
    Run(String),
    #[error("input has {actual} values; a batch of {batch} {side}x{side} fields needs {expected}")]
    InputSize { actual: usize, expected: usize, batch: usize, side: usize },
    #[error(
        "self-test failed on reference field {field}: {output} differs by {diff} (tolerance {tolerance}); \
         this device computes something other than the exporter did, so it will not screen"
    )]
    SelfTest { field: usize, output: &'static str, diff: f32, tolerance: f32 },
}

/// Sets the threads tract's matrix products use, process-wide (1 keeps everything on the
/// calling thread).
pub fn set_threads(threads: usize) {
    use tract_linalg::multithread::{Executor, set_default_executor};
    set_default_executor(if threads > 1 { Executor::multithread(threads) } else { Executor::SingleThread });
}

/// What one run returns, batch-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    pub logits: Vec<f32>,
    pub features: Vec<f32>,
    /// Channels, height, width of one field's feature map.
    pub feature_shape: [usize; 3],
    /// Any further outputs (e.g. `features_grad`, or calibration probes), by name.
    pub extra: Vec<(String, Vec<f32>)>,
}

/// A tract plan for batches of `batch` fields of `side` pixels.
#[derive(Debug, Clone)]
pub struct Engine {
    plan: Arc<TypedRunnableModel>,
    pub batch: usize,
    pub side: usize,
    names: Vec<String>,
}

impl Engine {
    /// Optimises `onnx` for a fixed batch (tract plans are fastest with every shape known).
    pub fn from_onnx(onnx: &[u8], batch: usize, side: usize) -> Result<Self, EngineError> {
        let load = |e: TractError| EngineError::Load(format!("{e:#}"));
        let model = tract_onnx::onnx().model_for_read(&mut &onnx[..]).map_err(load)?;
        let names: Vec<String> = model
            .output_outlets()
            .map_err(load)?
            .iter()
            .map(|o| model.outlet_label(*o).map(str::to_string).unwrap_or_else(|| model.node(o.node).name.clone()))
            .collect();
        let plan = model
            .with_input_fact(0, f32::fact([batch, 3, side, side]).into())
            .map_err(load)?
            .into_optimized()
            .map_err(load)?
            .into_runnable()
            .map_err(load)?;
        Ok(Engine { plan, batch, side, names })
    }

    /// `input` as the plan's input tensor, refused unless it holds exactly one batch.
    fn input_tensor(&self, input: &[f32]) -> Result<Tensor, EngineError> {
        let expected = self.batch * 3 * self.side * self.side;
        if input.len() != expected {
            return Err(EngineError::InputSize { actual: input.len(), expected, batch: self.batch, side: self.side });
        }
        Ok(tract_ndarray::ArrayD::from_shape_vec(vec![self.batch, 3, self.side, self.side], input.to_vec())
            .map_err(|e| EngineError::Run(e.to_string()))?
            .into_tensor())
    }

    /// Runs one batch of normalised NCHW fields.
    pub fn run(&self, input: &[f32]) -> Result<Outputs, EngineError> {
        let x = self.input_tensor(input)?;
        let run = |e: TractError| EngineError::Run(format!("{e:#}"));
        let out = self.plan.run(tvec!(x.into())).map_err(run)?;
        let values = |i: usize| -> Result<Vec<f32>, EngineError> {
            let t = out.get(i).ok_or_else(|| EngineError::Run(format!("the model has no output {i}")))?;
            let t = t.cast_to::<f32>().map_err(run)?;
            Ok(t.to_plain_array_view::<f32>().map_err(run)?.iter().copied().collect())
        };
        let shape = out.get(1).map(|t| t.shape().to_vec()).unwrap_or_default();
        let feature_shape = match shape.as_slice() {
            [_, c, h, w] => [*c, *h, *w],
            other => return Err(EngineError::Run(format!("features have shape {other:?}; expected N×C×H×W"))),
        };
        let mut extra = Vec::new();
        for i in 2..out.len() {
            extra.push((self.names.get(i).cloned().unwrap_or_default(), values(i)?));
        }
        Ok(Outputs { logits: values(0)?, features: values(1)?, feature_shape, extra })
    }
}

impl Engine {
    /// Runs one batch timing every node, and returns the seconds per kind of operation
    /// (e.g. `ConvUnary`, `Add`), largest first: where an inference's time goes.
    pub fn profile(&self, input: &[f32]) -> Result<Vec<(String, f64, usize)>, EngineError> {
        let x = self.input_tensor(input)?;
        let run = |e: TractError| EngineError::Run(format!("{e:#}"));
        let mut times: Vec<(String, f64, usize)> = Vec::new();
        let mut state = self.plan.spawn().map_err(run)?;
        state
            .run_plan_with_eval(tvec!(x.into()), |ctx, op_state, node, inputs| {
                let started = std::time::Instant::now();
                let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                let name = node.op().name().to_string();
                let dt = started.elapsed().as_secs_f64();
                match times.iter_mut().find(|t| t.0 == name) {
                    Some(t) => {
                        t.1 += dt;
                        t.2 += 1;
                    }
                    None => times.push((name, dt, 1)),
                }
                out
            })
            .map_err(run)?;
        times.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(times)
    }
}

/// A bundle checked and ready: its metadata and ONNX, an engine at the edge's batch, and the
/// signature status.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    pub file: ModelFile,
    pub engine: Engine,
    pub signature: SignatureStatus,
}

impl LoadedBundle {
    /// Reads `path`, checks its envelope, hash and signature (against `trusted` keys; required
    /// when `require_signature`), builds the engine for `batch` fields, and runs the self-test.
    pub fn open(
        path: &std::path::Path,
        trusted: &[[u8; 32]],
        require_signature: bool,
        batch: usize,
    ) -> Result<Self, EngineError> {
        let bundle = |source: FormatError| EngineError::Bundle { path: path.display().to_string(), source };
        let bytes = std::fs::read(path).map_err(|e| bundle(FormatError::Io(e.to_string())))?;
        let file = ModelFile::decode(&bytes).map_err(bundle)?;
        let signature = file.verify_signature(trusted, require_signature).map_err(bundle)?;
        let engine = Engine::from_onnx(&file.onnx, batch.max(1), file.meta.input_size as usize)?;
        let loaded = LoadedBundle { file, engine, signature };
        loaded.self_test()?;
        Ok(loaded)
    }

    pub fn normalization(&self) -> Normalization {
        Normalization { mean: self.file.meta.mean, std: self.file.meta.std }
    }

    /// Runs every reference field and compares logits and pooled features with what the
    /// exporter recorded.
    pub fn self_test(&self) -> Result<(), EngineError> {
        let side = self.engine.side;
        let per = 3 * side * side;
        let norm = self.normalization();
        for (k, chunk) in self.file.references.chunks(self.engine.batch).enumerate() {
            let mut input = vec![0f32; self.engine.batch * per];
            for (i, r) in chunk.iter().enumerate() {
                let img = RgbImage::from_raw(side as u32, side as u32, r.rgb.clone())
                    .map_err(|e| EngineError::Run(e.to_string()))?;
                field_to_tensor(
                    &img,
                    FieldRect::square(0, 0, side as u32),
                    &norm,
                    TensorLayout::Nchw,
                    &mut input[i * per..(i + 1) * per],
                )
                .map_err(|e| EngineError::Run(e.to_string()))?;
            }
            let out = self.engine.run(&input)?;
            let classes = self.file.meta.classes.len();
            let [c, h, w] = out.feature_shape;
            for (i, r) in chunk.iter().enumerate() {
                let field = k * self.engine.batch + i;
                let logits = &out.logits[i * classes..(i + 1) * classes];
                let means = pooled(&out.features[i * c * h * w..(i + 1) * c * h * w], c);
                for (output, got, want) in
                    [("logits", logits, r.logits.as_slice()), ("features", &means[..], r.feature_means.as_slice())]
                {
                    let diff = max_abs_diff(got, want);
                    if got.len() != want.len() || diff > r.tolerance {
                        return Err(EngineError::SelfTest { field, output, diff, tolerance: r.tolerance });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Mean of each channel of a C×H×W map.
pub fn pooled(map: &[f32], channels: usize) -> Vec<f32> {
    let per = map.len() / channels.max(1);
    map.chunks(per.max(1)).map(|c| c.iter().sum::<f32>() / per.max(1) as f32).collect()
}

/// Largest absolute difference (infinite when a value is not finite).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| if (x - y).is_finite() { (x - y).abs() } else { f32::INFINITY }).fold(0.0, f32::max)
}
