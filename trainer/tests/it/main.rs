//! The trainer's integration tests, one binary (linked once; its tests run in parallel): a
//! module for each area, as ripgrep lays out its `tests/tests.rs`.

mod common;
mod cuda_link;
mod frame_threshold;
mod imported_patches;
mod onnxruntime;
mod ood;
mod report;
mod shards;
mod stain;
mod synth_pipeline;
