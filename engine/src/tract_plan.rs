//! The tract runtime: an optimised plan for one fixed input shape.

use super::{EngineError, NamedOutput};
use std::sync::Arc;
use tract_onnx::prelude::*;

pub fn set_threads(threads: usize) {
    use tract_linalg::multithread::{Executor, set_default_executor};
    set_default_executor(if threads > 1 { Executor::multithread(threads) } else { Executor::SingleThread });
}

#[derive(Debug, Clone)]
pub struct TractPlan {
    plan: Arc<TypedRunnableModel>,
    names: Vec<String>,
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
        Ok(TractPlan { plan, names })
    }

    fn tensor(shape: [usize; 4], input: &[f32]) -> Result<Tensor, EngineError> {
        Ok(tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), input.to_vec())
            .map_err(|e| EngineError::Run { runtime: "tract", source: e.into() })?
            .into_tensor())
    }

    /// Every output as (name, shape, values).
    pub fn run(&self, shape: [usize; 4], input: &[f32]) -> Result<Vec<NamedOutput>, EngineError> {
        let out = self.plan.run(tvec!(Self::tensor(shape, input)?.into())).map_err(run_error)?;
        out.iter()
            .enumerate()
            .map(|(i, t)| {
                let t = t.cast_to::<f32>().map_err(run_error)?;
                let values = t.to_plain_array_view::<f32>().map_err(run_error)?.iter().copied().collect();
                Ok((self.names.get(i).cloned().unwrap_or_default(), t.shape().to_vec(), values))
            })
            .collect()
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
