//! The files of a run folder that one side writes and the other reads (the trainer's report
//! reads what the edge's `screen`, `tune` and `bench` wrote), in the writers' own types, and
//! the names the commands give them by default. The report finds each part by what its file
//! holds, so a lab's run needs none of the demo's folder names.

pub mod edge_bench;
pub mod screen;
pub mod tune;

/// The ending of `export`'s INT8/f16 agreement reports.
pub const AGREEMENT_SUFFIX: &str = ".agreement.json";
/// The ending of model bundles.
pub const BUNDLE_SUFFIX: &str = ".mscm";
/// `evaluate`'s report, in its `--out` folder.
pub const EVAL_REPORT: &str = "report.json";
/// `explain`'s summary, in its `--out` folder.
pub const EXPLAIN_SUMMARY: &str = "summary.json";
/// A patch set's manifest and `patch` report, in each patch-set folder.
pub const PATCH_MANIFEST: &str = "manifest.parquet";
pub const PATCH_REPORT: &str = "report.json";
/// The ending of patient split files.
pub const SPLIT_SUFFIX: &str = "split.csv";
