//! Melanoscope's slides, without libtorch: whole-slide images and plain images behind one
//! reader (`slide`), lesion annotations (`annotations`), cohorts (`cohort`), the study's
//! patching (`patching`) into manifests (`manifest`), lab patch folders (`import`), patient
//! splits (`split`), and shards of a run (`shard`) merged back (`merge`). The trainer builds on
//! it; a CPU node patches with its binary alone (`melanoscope-slides`).
//!
//! Errors: typed per module (`thiserror`), each keeping the error it came from as its `source`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod annotations;
#[cfg(feature = "cli")]
pub mod cli;
pub mod cohort;
pub mod import;
pub mod manifest;
pub mod merge;
pub mod patching;
pub mod shard;
pub mod slide;
pub mod split;
