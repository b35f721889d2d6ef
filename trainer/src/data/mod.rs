//! The training data path. So far: augmentation of one patch (the loader that reads, batches
//! and prefetches comes next).

pub mod augment;
