//! The files of a run folder that one side writes and the other reads (the trainer's report
//! reads what the edge's `screen`, `tune` and `bench` wrote), in the writers' own types, and
//! where each lies in a run folder (the demo's `out/demo`): one list of names, used by the
//! report and by the demo's commands alike.

pub mod edge_bench;
pub mod screen;
pub mod tune;

/// `screen --summary`: [`screen::ScreenSummary`].
pub const SCREEN_SUMMARY: &str = "screen/summary.json";
/// `melanoscope-edge bench`: [`edge_bench::EdgeBenchReport`].
pub const SCREEN_BENCH: &str = "screen/bench.json";
/// `melanoscope-edge tune --report`: [`tune::TuneReport`].
pub const SCREEN_TUNE: &str = "screen/tune.json";
/// The edge's rendered frames, `frame-NNNNNN.png`.
pub const SCREEN_FRAMES: &str = "screen/snapshots/frames";
/// The folder of the edge's case pages (`case*/index.html`).
pub const SCREEN_DIR: &str = "screen";
/// `melanoscope-train bench-export`.
pub const EXPORT_BENCH: &str = "export/bench.json";
/// `melanoscope-train ood`.
pub const EXPORT_OOD: &str = "export/ood.json";
/// The folder of bundles (`*.mscm`), keys (`*.public`) and agreement reports.
pub const EXPORT_DIR: &str = "export";
/// The ending of `export`'s INT8/f16 agreement reports.
pub const AGREEMENT_SUFFIX: &str = ".agreement.json";
/// The ending of model bundles.
pub const BUNDLE_SUFFIX: &str = ".mscm";
/// `melanoscope-train experiment`: the grid's results.
pub const EXPERIMENTS: &str = "experiments/experiments.json";
/// The experiment grid's run folders (`<arch>-<task>-<magnification>`).
pub const EXPERIMENT_RUNS: &str = "experiments/runs";
/// `evaluate`'s report, in each `eval*` folder.
pub const EVAL_REPORT: &str = "report.json";
/// `explain`'s summary, in each `explain*` folder.
pub const EXPLAIN_SUMMARY: &str = "summary.json";
/// A patch set's manifest and `patch` report, in each patch-set folder.
pub const PATCH_MANIFEST: &str = "manifest.parquet";
pub const PATCH_REPORT: &str = "report.json";
/// The ending of patient split files.
pub const SPLIT_SUFFIX: &str = "split.csv";
