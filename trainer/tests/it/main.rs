//! The trainer's integration tests, one binary (linked once; its tests run in parallel): a
//! module for each area, as ripgrep lays out its `tests/tests.rs`.

mod annotated_patching;
mod common;
mod cuda_link;
mod frame_threshold;
mod imported_patches;
mod ome_tiff;
mod onnxruntime;
mod ood;
mod patch_job;
mod real_slides;
mod report;
mod shards;
mod synth_pipeline;
mod synth_slides;
