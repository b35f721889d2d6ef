//! `melanoscope-train`: the trainer's command line.

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "melanoscope-train", version, about = "Train and export Melanoscope models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the compute devices libtorch sees, as JSON.
    Info,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    match Cli::parse().command {
        Command::Info => println!("{}", serde_json::to_string_pretty(&melanoscope_trainer::device::report())?),
    }
    Ok(())
}
