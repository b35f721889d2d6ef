//! Weight files (.safetensors) on arbitrary bytes, loaded into a small network as `train
//! --weights` does: never panics (libtorch's parser included), and a load that succeeds
//! matched every parameter.
#![no_main]

#[path = "../../../slides/fuzz/fuzz_targets/scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;
use melanoscope_trainer::model::load_weights;
use tch::nn;

fuzz_target!(|data: &[u8]| {
    let path = scratch::scratch_file("weights.safetensors", data);
    let mut vs = nn::VarStore::new(tch::Device::Cpu);
    let _ = nn::linear(vs.root() / "fc", 4, 2, Default::default());
    if let Ok(report) = load_weights(&mut vs, &path, &[]) {
        assert!(report.skipped_head.is_empty());
    }
});
