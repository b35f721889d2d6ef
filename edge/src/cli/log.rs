//! `melanoscope-edge log export`: the record log as CSV or JSON for review (damaged stretches
//! are skipped and reported, a record torn by a power cut is left out).

use anyhow::Result;
use melanoscope_edge::records::{ExportFormat, export_log};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Write the record log as CSV or JSON (damaged stretches are skipped and reported).
    Export {
        #[arg(long, default_value = "/var/lib/melanoscope/screening.log")]
        log: PathBuf,
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(command: LogCommand) -> Result<()> {
    let LogCommand::Export { log, format, out } = command;
    let s = export_log(&log, format, &out)?;
    println!(
        "{}: {} records exported to {}{}{}",
        log.display(),
        s.records,
        out.display(),
        if s.damaged > 0 { format!("; {} damaged stretches skipped", s.damaged) } else { String::new() },
        if s.torn_tail { "; the last record was torn by a power cut and is left out" } else { "" }
    );
    Ok(())
}
