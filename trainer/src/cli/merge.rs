//! `merge`: the shards of a `patch` or `experiment` run put back together.

use anyhow::{Result, bail};
use clap::ValueEnum;
use melanoscope_slides::cli::merge::merge_patches;
use melanoscope_trainer::merge::experiments::merge_experiment_shards;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MergeKind {
    /// `patch --shard` output: manifest.parquet and report.json.
    Patches,
    /// `experiment --shard` output: experiments.{md,csv,json}.
    Experiment,
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    #[arg(value_enum)]
    pub kind: MergeKind,
    /// The --out folder the shards shared (their parts are under OUT/shards/K-of-N).
    #[arg(long)]
    pub out: PathBuf,
    /// Experiment: table a cell that failed in its shard under "Not run" instead of refusing.
    #[arg(long)]
    pub keep_failed: bool,
}

pub fn merge(args: MergeArgs) -> Result<()> {
    match args.kind {
        MergeKind::Patches => {
            if args.keep_failed {
                bail!("--keep-failed is for experiment merges; failed slides are always kept in the patch report");
            }
            merge_patches(&args.out)?;
        }
        MergeKind::Experiment => {
            let m = merge_experiment_shards(&args.out, args.keep_failed)?;
            println!("{}", std::fs::read_to_string(&m.tables)?);
            println!("merged {} shards: {} cells ({} failed, tabled as not run)", m.shards, m.cells, m.failed);
        }
    }
    Ok(())
}
