//! `melanoscope-edge`: the edge device's command line. The commands and their dispatch; each
//! handler lives in `cli/<command>.rs`.

mod cli;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: cli::alloc_count::Counting = cli::alloc_count::Counting;

#[derive(Parser, Debug)]
#[command(name = "melanoscope-edge", version, about = "Melanoma screening at the microscope")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Screen live: camera (or replayed) frames to verdicts on the screen, LEDs and the log.
    Screen(cli::screen::ScreenArgs),
    /// Calibrate an objective (µm/px from a stage micrometer; flat field and white balance).
    #[command(subcommand)]
    Calibrate(cli::calibrate::Calibrate),
    /// The record log: export it for review.
    #[command(subcommand)]
    Log(cli::log::LogCommand),
    /// Time the screening of one camera frame per stage (JSON).
    Bench(cli::bench::BenchArgs),
    /// Measure every runtime, batch and thread count on this device (each self-tested first)
    /// and write the fastest into the site file's [model.tuned] (what backend = "auto" runs).
    Tune(cli::tune::TuneArgs),
    /// Check a site file against the defaults and print the resulting settings.
    CheckConfig(cli::check_config::CheckConfigArgs),
    /// Open a model bundle as screening would: check its version, hash and signature, run its
    /// reference fields and compare; print its metadata as JSON. Exit 1 when it is refused.
    CheckBundle(cli::check_bundle::CheckBundleArgs),
    /// Cut an image into model fields and report which pass the 40% background rule.
    Fields(cli::fields::FieldsArgs),
    /// Cases: open and close them on the running screen, write a case's page, export cases.
    #[command(subcommand)]
    Case(cli::case::CaseCommand),
    /// Merge case exports from several devices under one index page (damaged ones refused).
    Review(cli::case::ReviewArgs),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once, on one line (anyhow's `{:?}` would list them again below).
            eprintln!("Error: {}", melanoscope_shared::errors::error_chain(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs one command; `screen` and `review` exit with their own status when it is not 0.
fn run(command: Command) -> Result<()> {
    match command {
        Command::Screen(args) => {
            let code = cli::screen::run(&args)?;
            if code != 0 {
                std::process::exit(code);
            }
        }
        Command::Calibrate(c) => cli::calibrate::run(c)?,
        Command::Bench(args) => cli::bench::run(&args)?,
        Command::Tune(args) => cli::tune::run(args)?,
        Command::Log(c) => cli::log::run(c)?,
        Command::CheckConfig(args) => cli::check_config::run(args)?,
        Command::CheckBundle(args) => cli::check_bundle::run(args)?,
        Command::Fields(args) => cli::fields::run(args)?,
        Command::Case(c) => cli::case::run(c)?,
        Command::Review(args) => {
            let code = cli::case::review_command(args)?;
            if code != 0 {
                std::process::exit(code);
            }
        }
    }
    Ok(())
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

    /// A refused bundle is one line, each cause once (issue 32: `check-bundle` printed its
    /// error and then its causes again under "Caused by", as anyhow's `{:?}` does).
    #[test]
    fn a_refused_bundle_is_said_once_on_one_line() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("edge-cli-error");
        let bundle = dir.join("cut.mscm");
        std::fs::write(&bundle, b"MSCM and then nothing").unwrap();
        let cli = Cli::try_parse_from(["melanoscope-edge", "check-bundle", "--bundle", &bundle.display().to_string()])
            .unwrap();
        let e = run(cli.command).unwrap_err();
        let line = melanoscope_shared::errors::error_chain(e.as_ref());
        assert_eq!(line.matches(&bundle.display().to_string()).count(), 1, "{line}");
        assert_eq!(line.lines().count(), 1, "{line}");
        // Each cause's own words once: no part of the chain repeats another.
        let parts: Vec<&str> = line.split(": ").collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(parts[i + 1..].iter().all(|q| q != p), "{p:?} twice in {line}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `bench` on the tiny bundle (which carries a stain target): the stain's cost per frame is
    /// reported in the mode asked for, and said off when asked off.
    #[test]
    fn bench_reports_the_stain_cost() {
        use melanoscope_shared::run_files::edge_bench::StainCost;
        let dir = melanoscope_shared::scratch::ScratchDir::new("edge-cli-bench");
        let bundle = melanoscope_tests::scenes::write_bundle(&dir);
        let frame = dir.join("frame.jpg");
        let img =
            melanoscope_tests::scenes::frame(melanoscope_shared::Lesion::MM, 21, &melanoscope_tests::scenes::sharp());
        std::fs::write(&frame, melanoscope_shared::image::encode_jpeg(&img, 90).unwrap()).unwrap();
        let bench = |mode: &str| {
            let (b, f) = (bundle.display().to_string(), frame.display().to_string());
            let args = [
                "melanoscope-edge",
                "bench",
                "--bundle",
                &b,
                "--frame",
                &f,
                "--um-per-px",
                "1.0",
                "--frames",
                "2",
                "--threads",
                "1",
                "--onnxruntime-lib",
                "none",
                "--stain",
                mode,
            ];
            match Cli::try_parse_from(args).unwrap().command {
                Command::Bench(args) => cli::bench::measure(&args).unwrap(),
                _ => unreachable!("parsed as bench"),
            }
        };
        match bench("normalise").stain {
            Some(StainCost::On { mode, median_ms, share_of_frame }) => {
                assert_eq!(mode, "normalise");
                assert!(
                    median_ms > 0.0 && share_of_frame > 0.0 && share_of_frame < 1.0,
                    "{median_ms} {share_of_frame}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(bench("off").stain, Some(StainCost::Off { .. })));
        let refused =
            ["melanoscope-edge", "bench", "--frame", "f", "--um-per-px", "1", "--bundle", "b", "--stain", "on"];
        assert!(Cli::try_parse_from(refused).unwrap_err().to_string().contains("off, check or normalise"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Fixed choices are parsed by clap: an unknown one is refused naming the option, the
    /// value and the values it takes.
    #[test]
    fn unknown_choices_on_the_command_line_are_named_with_the_allowed_ones() {
        let e = Cli::try_parse_from(["melanoscope-edge", "log", "export", "--format", "xml", "--out", "x"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--format") && e.contains("xml") && e.contains("csv") && e.contains("json"), "{e}");
        let e = Cli::try_parse_from(["melanoscope-edge", "check-bundle", "--bundle", "b", "--backend", "tensorrt"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--backend") && e.contains("tensorrt") && e.contains("tract or onnxruntime"), "{e}");
        let ok = Cli::try_parse_from(["melanoscope-edge", "log", "export", "--format", "json", "--out", "x"]).unwrap();
        assert!(matches!(ok.command, Command::Log(cli::log::LogCommand::Export { .. })));
    }
}
