//! Training: the learning-rate schedule, optimisers whose state is ours to save, and the
//! class-weighted training step. (Epochs, early stopping on validation AUC and the study's
//! experiments build on these.)

pub mod bench;
pub mod checkpoint_eval;
pub mod evaluate;
pub mod fit;
pub mod mixed;
pub mod multiclass;
pub mod optim;
pub mod run_info;
pub mod schedule;
pub mod step;
pub mod task;

#[cfg(test)]
mod tests;
