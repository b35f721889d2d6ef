//! The slides crate's integration tests, one binary (linked once, without libtorch): a module
//! for each area.

mod annotated_patching;
mod errors;
mod ome_tiff;
mod patch_job;
mod real_slides;
mod shards;
mod synth_slides;
