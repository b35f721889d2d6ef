//! The command-line handlers of the commands that train, measure and explain networks (the
//! slide and patch commands stay in `main.rs`).

pub mod args;
pub mod bench;
pub mod bench_export;
pub mod experiment;
pub mod explain;
pub mod export;
pub mod train;
