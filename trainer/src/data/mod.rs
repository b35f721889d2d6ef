//! The training data path: patches read from slides (through the manifest) or patch files,
//! augmented, normalised with `shared`, batched and prefetched by worker threads.

pub mod augment;
pub mod feed;
pub mod loader;
