//! `melanoscope-train`: the trainer's command line. The commands and their dispatch; each
//! handler lives in `cli/<command>.rs` and turns its arguments into library calls.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cli;

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
    /// Cut the slides of a cohort into 256x256 patches at one or more magnifications.
    /// Exit status: 0 every slide patched; 3 some slides failed and the rest were patched; 4
    /// every slide failed (each named with its reason in the output and report.json).
    Patch(melanoscope_slides::cli::patch::PatchArgs),
    /// Generate a synthetic skin-lesion cohort: pyramidal TIFF slides, lesion masks, cohort.csv.
    Synth(cli::synth::SynthArgs),
    /// Benchmark patch extraction (batched reads vs one read per patch) on one slide, as JSON.
    /// Without --slide, a synthetic 40X melanoma slide of --width-mm x --height-mm is made first.
    BenchPatch(cli::bench_patch::BenchPatchArgs),
    /// Benchmark training and inference (patches/s at each speed setting, on a random batch on
    /// the device and fed by the data pipeline from a patch manifest), as JSON.
    Bench(cli::bench::BenchArgs),
    /// Import patch folders (one subfolder per class: MM, IN, CN, JN) into a patch manifest.
    ImportPatches(melanoscope_slides::cli::patch_sets::ImportArgs),
    /// Score a colour-only classifier (patch mean/std of RGB) on a manifest and split, as JSON.
    ColourBaseline(cli::colour_baseline::ColourBaselineArgs),
    /// Render microscope camera frames (JPEG) of each lesion class from synthetic scenes.
    Frames(cli::synth::FramesArgs),
    /// Train a network for one of the study's tasks on a patch manifest and patient split
    /// (validation AUC picks the best epoch; --resume continues an interrupted run).
    Train(cli::train::TrainCommandArgs),
    /// Evaluate a checkpoint of a binary melanoma task on the split's test patients: patch, slide
    /// and patient tables with thresholds chosen on validation (report.{json,md,csv}).
    Evaluate(cli::train::EvaluateArgs),
    /// Explain a checkpoint on whole slides: per slide a probability heatmap, a CAM mosaic,
    /// regions of interest (PNG and QuPath GeoJSON) and figure panels of the most suspicious
    /// patches; with ground-truth masks beside the slides, pointing game and Dice (summary.json).
    Explain(cli::explain::ExplainArgs),
    /// Run the study's experiments: each architecture on each preset (task@magnification),
    /// trained, evaluated on the test patients, and gathered into experiments.{md,csv,json} with
    /// ROC curves and confusion matrices (SVG) per run. Re-running resumes unfinished runs.
    Experiment(cli::experiment::ExperimentArgs),
    /// Join the shards of a `patch --shard` or `experiment --shard` run into what one unsharded run writes.
    Merge(cli::merge::MergeArgs),
    /// Export a checkpoint as ONNX (opset 13, BatchNorm folded, outputs `logits` and `features`)
    /// in f32, f16 or INT8 (QOperator, calibrated on validation fields), optionally as a signed
    /// model bundle for the edge with an agreement report against f32.
    Export(cli::export::ExportArgs),
    /// Make an ed25519 key pair for signing model bundles (`export --sign-key`).
    Keygen(cli::export::KeygenArgs),
    /// Per-field latency of exported models in tract and onnxruntime (same files, threads and
    /// batches), with tract's time by operation, as JSON.
    BenchExport(cli::bench_export::BenchExportArgs),
    /// Split a cohort's patients into train/validation/test (stratified by label, seeded).
    Split(melanoscope_slides::cli::patch_sets::SplitArgs),
    /// One self-contained HTML page of a run folder (cohort, evaluation, experiments, curves,
    /// explanations, model cards, edge screening against truth, speed), optionally checked in
    /// headless Chromium.
    Report(cli::report::ReportArgs),
    /// How well a bundle's familiarity score (the edge's unfamiliar-tissue gate) tells test
    /// fields of its task from outside sets (other organs, pen marks, background, other
    /// stains): AUROC per set and the share of test fields passing.
    Ood(cli::ood::OodArgs),
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

/// Runs one command; most succeed with 0, `patch` says how many slides failed by its status.
fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Info => println!("{}", serde_json::to_string_pretty(&melanoscope_trainer::device::report())?),
        Command::Patch(args) => return melanoscope_slides::cli::patch::run(args),
        Command::Synth(args) => cli::synth::synth(args)?,
        Command::BenchPatch(args) => cli::bench_patch::run(args)?,
        Command::Bench(args) => cli::bench::bench(args)?,
        Command::ImportPatches(args) => melanoscope_slides::cli::patch_sets::import(args)?,
        Command::ColourBaseline(args) => cli::colour_baseline::colour_baseline(args)?,
        Command::Frames(args) => cli::synth::frames(args)?,
        Command::Train(args) => cli::train::train(args)?,
        Command::Evaluate(args) => cli::train::evaluate(args)?,
        Command::Explain(args) => cli::explain::explain(args)?,
        Command::Experiment(args) => cli::experiment::experiment(args)?,
        Command::Merge(args) => cli::merge::merge(args)?,
        Command::Export(args) => cli::export::export(args)?,
        Command::Keygen(args) => cli::export::keygen_command(args)?,
        Command::BenchExport(args) => cli::bench_export::bench_export(args)?,
        Command::Split(args) => melanoscope_slides::cli::patch_sets::split(args)?,
        Command::Report(args) => cli::report::report(args)?,
        Command::Ood(args) => cli::ood::ood(args)?,
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

    /// Fixed choices are parsed by clap through the library's types: an unknown one is refused
    /// naming the option, the value and what it takes; the spellings the demo uses still parse.
    #[test]
    fn fixed_choices_are_parsed_and_unknown_ones_named() {
        let base = ["melanoscope-train", "export", "--checkpoint", "c", "--out", "o"];
        let with = |extra: &[&str]| Cli::try_parse_from(base.iter().chain(extra)).map(|c| c.command);
        for (option, value, expected) in [
            ("--form", "int4", "f32"),
            ("--int8-weights", "per-row", "per-channel"),
            ("--arch", "resnet101", "resnet18, resnet50 or vgg19"),
            ("--task", "bcc", "nevi-3class"),
            ("--decision-level", "ward", "patch, slide or patient"),
            ("--magnification", "60X", "40X, 20X, 10X, 4X"),
        ] {
            let e = with(&[option, value]).unwrap_err().to_string();
            assert!(e.contains(option) && e.contains(value) && e.contains(expected), "{option}: {e}");
        }
        let ok = with(&["--form", "int8", "--int8-weights", "per-channel", "--arch", "vgg19", "--task", "nevi-3class"])
            .unwrap();
        let Command::Export(a) = ok else { panic!("export expected") };
        use melanoscope_shared::formats::Form;
        use melanoscope_trainer::export::run::Int8Weights;
        assert_eq!((a.form, a.int8_weights), (Form::Int8, Int8Weights::PerChannel));
        assert_eq!(
            (a.arch, a.task),
            (melanoscope_trainer::model::Arch::Vgg19, melanoscope_trainer::train::task::Task::Nevi3)
        );
        let e = Cli::try_parse_from([
            "melanoscope-train",
            "train",
            "--manifest",
            "m",
            "--split",
            "s",
            "--out",
            "o",
            "--speed",
            "fp8",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("--speed") && e.contains("auto, fp32"), "{e}");
    }
}
