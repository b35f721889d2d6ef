//! One field through a model, for counting what a board executes (`scripts/arm_estimate.sh`
//! runs it under qemu with `../shared/tools/arm-cost`): loads `MODEL.onnx` for one `SIDE`-pixel
//! field on one thread and runs it `RUNS` times. The count of a run with RUNS=0 (load and plan
//! only) is subtracted from one with RUNS=1, leaving one field's inference.
//!
//!     field_cost MODEL.onnx SIDE RUNS

use melanoscope_engine::{Engine, Outputs, set_threads};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(model), Some(side), Some(runs)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: field_cost MODEL.onnx SIDE RUNS");
        return ExitCode::from(2);
    };
    let (Ok(side), Ok(runs)) = (side.parse::<usize>(), runs.parse::<usize>()) else {
        eprintln!("SIDE and RUNS are whole numbers");
        return ExitCode::from(2);
    };
    let onnx = match std::fs::read(model) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{model}: {e}");
            return ExitCode::FAILURE;
        }
    };
    set_threads(1);
    let engine = match Engine::from_onnx(&onnx, 1, side) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{model}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A deterministic, field-like input (values of a normalised H&E field's range).
    let input: Vec<f32> = (0..3 * side * side).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let mut out = Outputs::default();
    for _ in 0..runs {
        if let Err(e) = engine.run_into(&input, &mut out) {
            eprintln!("{model}: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "{model}: {runs} run(s); logits {:?}; kernels: {}",
        out.logits,
        engine.matmul_kernels().first().map_or("", |k| k)
    );
    ExitCode::SUCCESS
}
