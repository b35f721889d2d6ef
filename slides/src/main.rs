//! `melanoscope-slides`: the slide commands of `melanoscope-train` without libtorch, for CPU
//! nodes and machines without the torch wheel. Same spellings, same outputs.

use anyhow::Result;
use clap::{Parser, Subcommand};
use melanoscope_slides::cli;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "melanoscope-slides",
    version,
    about = "Cut, import, split and merge Melanoscope patch sets (no libtorch)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Cut the slides of a cohort into 256x256 patches at one or more magnifications.
    /// Exit status: 0 every slide patched; 3 some slides failed and the rest were patched; 4
    /// every slide failed (each named with its reason in the output and report.json).
    Patch(cli::patch::PatchArgs),
    /// Import patch folders (one subfolder per class: MM, IN, CN, JN) into a patch manifest.
    ImportPatches(cli::patch_sets::ImportArgs),
    /// Split a cohort's patients into train/validation/test (stratified by label, seeded).
    Split(cli::patch_sets::SplitArgs),
    /// Join the shards of a `patch --shard` run into what one unsharded run writes.
    Merge {
        #[command(subcommand)]
        what: MergeWhat,
    },
}

#[derive(Subcommand, Debug)]
enum MergeWhat {
    /// `patch --shard` output: manifest.parquet and report.json.
    Patches {
        /// The --out folder the shards shared (their parts are under OUT/shards/K-of-N).
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {}", melanoscope_shared::errors::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Patch(args) => return cli::patch::run(args),
        Command::ImportPatches(args) => cli::patch_sets::import(args)?,
        Command::Split(args) => cli::patch_sets::split(args)?,
        Command::Merge { what: MergeWhat::Patches { out } } => cli::merge::merge_patches(&out)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand has a row in the README's command tables.
    #[test]
    fn every_command_is_in_the_readme() {
        use clap::CommandFactory;
        let missing =
            melanoscope_tests::readme::commands_missing_from_readme(&Cli::command(), melanoscope_tests::readme::README);
        assert!(missing.is_empty(), "commands without a row in README.md's tables: {missing:?}");
    }
}
