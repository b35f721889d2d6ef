//! The tract runtime: an optimised plan for one fixed input shape, and the state that runs it,
//! kept from call to call so that a frame's inference allocates only what tract's operators
//! allocate for their own outputs.

use super::{EngineError, Outputs};
use std::sync::{Arc, Mutex};
use tract_onnx::prelude::*;

pub fn set_threads(threads: usize) {
    use tract_linalg::multithread::{Executor, set_default_executor};
    set_default_executor(if threads > 1 { Executor::multithread(threads) } else { Executor::SingleThread });
}

/// What one engine reuses run after run: the spawned state (op states, the value table) and
/// the input tensor. The engine hands tract a second reference to `input` and writes the next
/// batch into it once tract has dropped its own (every run ends by resetting its values).
#[derive(Debug, Default)]
struct Scratch {
    state: Option<TypedSimpleState>,
    input: Option<Arc<Tensor>>,
}

#[derive(Debug)]
pub struct TractPlan {
    plan: Arc<TypedRunnableModel>,
    names: Vec<String>,
    scratch: Box<Mutex<Scratch>>,
}

/// A clone shares the optimised plan and gets its own state (tract states are per session).
impl Clone for TractPlan {
    fn clone(&self) -> Self {
        TractPlan { plan: self.plan.clone(), names: self.names.clone(), scratch: Box::default() }
    }
}

fn load(e: TractError) -> EngineError {
    EngineError::Load { runtime: "tract", source: e.into() }
}

fn run_error(e: TractError) -> EngineError {
    EngineError::Run { runtime: "tract", source: e.into() }
}

impl TractPlan {
    pub fn new(onnx: &[u8], batch: usize, side: usize) -> Result<Self, EngineError> {
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
        Ok(TractPlan { plan, names, scratch: Box::default() })
    }

    fn tensor(shape: [usize; 4], input: &[f32]) -> Result<Tensor, EngineError> {
        Tensor::from_shape(&shape, input).map_err(run_error)
    }

    pub fn output_names(&self) -> &[String] {
        &self.names
    }

    /// Runs one batch into `out`, reusing its buffers.
    pub fn run_into(&self, shape: [usize; 4], input: &[f32], out: &mut Outputs) -> Result<(), EngineError> {
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        let Scratch { state, input: kept } = &mut *scratch;
        // A tensor tract still holds (a failed run) is replaced, never written under it.
        let reusable = kept.as_mut().and_then(Arc::get_mut).filter(|t| t.shape() == shape);
        match reusable {
            Some(t) => t
                .try_as_plain_ram_mut()
                .map_err(run_error)?
                .as_slice_mut::<f32>()
                .map_err(run_error)?
                .copy_from_slice(input),
            None => *kept = Some(Arc::new(Self::tensor(shape, input)?)),
        }
        let value = kept
            .as_ref()
            .map(|t| TValue::from_const(t.clone()))
            .ok_or_else(|| EngineError::Run { runtime: "tract", source: "no input tensor".into() })?;
        let state = match state {
            Some(s) => s,
            None => state.insert(self.plan.spawn().map_err(run_error)?),
        };
        let values = state.run(tvec!(value)).map_err(run_error)?;
        out.begin();
        for (i, t) in values.iter().enumerate() {
            let name = self.names.get(i).map(String::as_str).unwrap_or_default();
            let t = t.cast_to::<f32>().map_err(run_error)?;
            let view = t.try_as_plain_ram().map_err(run_error)?;
            out.put(i, name, t.shape(), view.as_slice::<f32>().map_err(run_error)?)?;
        }
        out.finish()
    }

    /// What each matrix product of the plan runs: tract's own description of the op (shape,
    /// kernel name and packing), to see whether a quantised graph reached integer SIMD kernels.
    pub fn matmul_kernels(&self) -> Vec<String> {
        let model = self.plan.model();
        model
            .nodes()
            .iter()
            .filter(|n| n.op().name().contains("MatMul"))
            .map(|n| {
                let info = n.op().info().unwrap_or_default();
                let mult = info.iter().find(|l| l.starts_with("Mult")).or(info.first()).cloned().unwrap_or_default();
                format!("{}: {mult}", n.name)
            })
            .collect()
    }

    pub fn profile(&self, shape: [usize; 4], input: &[f32]) -> Result<Vec<(String, f64, usize)>, EngineError> {
        let x = Self::tensor(shape, input)?;
        let mut times: Vec<(String, f64, usize)> = Vec::new();
        let mut state = self.plan.spawn().map_err(run_error)?;
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
            .map_err(run_error)?;
        times.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(times)
    }
}

/// Multiply-adds of one `side` x `side` field through the model, by tract's own cost model of
/// each operation (convolutions and matrix products dominate), counted on the decluttered
/// graph before any kernel choice: the work a board must do, whatever its kernels.
pub fn multiply_adds(onnx: &[u8], side: usize) -> Result<u64, EngineError> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .map_err(load)?
        .with_input_fact(0, f32::fact([1, 3, side, side]).into())
        .map_err(load)?
        .into_typed()
        .map_err(load)?
        .into_decluttered()
        .map_err(load)?;
    let mut total = 0u64;
    for node in model.nodes() {
        let facts = model.node_input_facts(node.id).map_err(load)?;
        for (cost, count) in node.op.cost(&facts).map_err(load)? {
            if let tract_onnx::tract_core::ops::Cost::FMA(_) = cost {
                let n = count.to_i64().map_err(|e| load(e.into()))?;
                total += n.max(0) as u64;
            }
        }
    }
    Ok(total)
}
