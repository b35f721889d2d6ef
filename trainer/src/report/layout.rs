//! Where a run's parts lie. The demo writes them where `run_files` names them, but a lab runs
//! the commands by hand and names its own folders (`results/`, `model.mscm` at the top,
//! `summary.json` beside the site file). So the report looks through the run folder (a few
//! folders deep, links not followed) and tells each JSON file by what it holds, read as each
//! writer's type; a file no type reads (cut short, too large) is placed by its name, so that
//! the section it belongs to names it as damaged.

use crate::experiment::grid::RunResult;
use crate::explain::run::ExplainSummary;
use crate::export::bench_report::BenchExportReport;
use crate::export::quant::Agreement;
use crate::ood::OodReport;
use crate::train::evaluate::EvaluationReport;
use melanoscope_shared::run_files::edge_bench::EdgeBenchReport;
use melanoscope_shared::run_files::screen::ScreenSummary;
use melanoscope_shared::run_files::tune::TuneReport;
use melanoscope_shared::run_files::{self as names};
use melanoscope_slides::patching::shard_record::ReportFile;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// How many folders below the run folder are looked through.
pub(crate) const DEPTH: usize = 4;
/// Most entries looked at (a patch set's images are not looked through at all).
const MAX_ENTRIES: usize = 100_000;
/// Largest JSON file read to tell what it is (larger ones are placed by name and refused by
/// the section that reads them).
const MAX_PEEK_BYTES: u64 = 64 << 20;

/// The parts of a run, each sorted by path.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Patch manifests (`*.parquet`: `manifest.parquet` from `patch`, any name from
    /// `import-patches --out`).
    pub patch_sets: Vec<PathBuf>,
    pub splits: Vec<PathBuf>,
    /// `evaluate`'s report.json files.
    pub evaluations: Vec<PathBuf>,
    /// `explain`'s summary.json files.
    pub explanations: Vec<PathBuf>,
    /// `screen --summary` files.
    pub screens: Vec<PathBuf>,
    /// `experiment`'s experiments.json files.
    pub experiments: Vec<PathBuf>,
    pub agreements: Vec<PathBuf>,
    pub bundles: Vec<PathBuf>,
    pub keys: Vec<PathBuf>,
    pub ood: Vec<PathBuf>,
    pub host_benches: Vec<PathBuf>,
    pub edge_benches: Vec<PathBuf>,
    pub tunes: Vec<PathBuf>,
    /// Folders named `case*` holding an `index.html` (the edge's case pages).
    pub case_pages: Vec<PathBuf>,
    /// The look stopped at [`MAX_ENTRIES`]: parts beyond may be missing.
    pub truncated: bool,
}

/// What a JSON file is, by its content.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Evaluation,
    Explanation,
    Screen,
    Experiments,
    Agreement,
    Ood,
    HostBench,
    EdgeBench,
    Tune,
    PatchReport,
}

/// Whether a writer's type reads a file's bytes.
type Reads = fn(&[u8]) -> bool;

fn reads_as<T: DeserializeOwned>(bytes: &[u8]) -> bool {
    serde_json::from_slice::<T>(bytes).is_ok()
}

/// The kind whose writer's type reads `bytes`, in an order where no earlier type reads a
/// later one's files.
fn kind_of(bytes: &[u8]) -> Option<Kind> {
    let checks: [(Kind, Reads); 10] = [
        (Kind::Evaluation, reads_as::<EvaluationReport>),
        (Kind::Screen, reads_as::<ScreenSummary>),
        (Kind::Explanation, reads_as::<ExplainSummary>),
        (Kind::Ood, reads_as::<OodReport>),
        (Kind::EdgeBench, reads_as::<EdgeBenchReport>),
        (Kind::HostBench, reads_as::<BenchExportReport>),
        (Kind::Tune, reads_as::<TuneReport>),
        (Kind::Agreement, reads_as::<Agreement>),
        (Kind::PatchReport, reads_as::<ReportFile>),
        (Kind::Experiments, reads_as::<Vec<RunResult>>),
    ];
    checks.iter().find(|(_, reads)| reads(bytes)).map(|(k, _)| *k)
}

/// The kind a file no type reads is taken for, from its name and folder (the names the
/// commands write by default).
fn kind_by_name(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?;
    let folder = path.parent().and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or("");
    Some(match name {
        _ if name.ends_with(names::AGREEMENT_SUFFIX) => Kind::Agreement,
        "report.json" if path.with_file_name(names::PATCH_MANIFEST).is_file() => Kind::PatchReport,
        "report.json" => Kind::Evaluation,
        "summary.json" if folder.starts_with("explain") => Kind::Explanation,
        "summary.json" => Kind::Screen,
        "experiments.json" => Kind::Experiments,
        "ood.json" => Kind::Ood,
        "bench.json" if folder.starts_with("screen") => Kind::EdgeBench,
        "bench.json" => Kind::HostBench,
        "tune.json" => Kind::Tune,
        _ => return None,
    })
}

impl Layout {
    /// Looks through `run` (never into `skip`, the report's own folder).
    pub(crate) fn find(run: &Path, skip: &Path) -> Self {
        let mut layout = Layout::default();
        let mut files = Vec::new();
        let mut seen = 0;
        walk(run, skip, DEPTH, &mut seen, &mut files);
        layout.truncated = seen >= MAX_ENTRIES;
        for path in files {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".parquet") {
                layout.patch_sets.push(path);
            } else if name.ends_with(names::BUNDLE_SUFFIX) {
                layout.bundles.push(path);
            } else if name.ends_with(".public") {
                layout.keys.push(path);
            } else if name.ends_with(names::SPLIT_SUFFIX) {
                layout.splits.push(path);
            } else if name == "index.html" {
                let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
                if parent.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("case")) {
                    layout.case_pages.push(parent);
                }
            } else if name.ends_with(".json") {
                layout.place_json(path);
            }
        }
        for list in [
            &mut layout.patch_sets,
            &mut layout.splits,
            &mut layout.evaluations,
            &mut layout.explanations,
            &mut layout.screens,
            &mut layout.experiments,
            &mut layout.agreements,
            &mut layout.bundles,
            &mut layout.keys,
            &mut layout.ood,
            &mut layout.host_benches,
            &mut layout.edge_benches,
            &mut layout.tunes,
            &mut layout.case_pages,
        ] {
            list.sort();
        }
        layout
    }

    fn place_json(&mut self, path: PathBuf) {
        let small = std::fs::metadata(&path).is_ok_and(|m| m.len() <= MAX_PEEK_BYTES);
        let by_content = if small { std::fs::read(&path).ok().and_then(|b| kind_of(&b)) } else { None };
        let list = match by_content.or_else(|| kind_by_name(&path)) {
            Some(Kind::Evaluation) => &mut self.evaluations,
            Some(Kind::Explanation) => &mut self.explanations,
            Some(Kind::Screen) => &mut self.screens,
            Some(Kind::Experiments) => &mut self.experiments,
            Some(Kind::Agreement) => &mut self.agreements,
            Some(Kind::Ood) => &mut self.ood,
            Some(Kind::HostBench) => &mut self.host_benches,
            Some(Kind::EdgeBench) => &mut self.edge_benches,
            Some(Kind::Tune) => &mut self.tunes,
            // Read with its patch set.
            Some(Kind::PatchReport) | None => return,
        };
        list.push(path);
    }
}

/// Collects the files under `dir` (`depth` folders down), not following links, counting
/// entries in `seen`; a folder holding a manifest is a patch set, whose images are not listed.
fn walk(dir: &Path, skip: &Path, depth: usize, seen: &mut usize, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut subdirs = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        *seen += 1;
        if *seen >= MAX_ENTRIES {
            return;
        }
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        if kind.is_file() {
            files.push(path);
        } else if kind.is_dir() && depth > 0 && path != skip {
            subdirs.push(path);
        }
    }
    if dir.join(names::PATCH_MANIFEST).is_file() {
        // A patch set's folders hold its images (thousands); the report reads its manifest.
        return;
    }
    subdirs.sort();
    for sub in subdirs {
        walk(&sub, skip, depth - 1, seen, files);
    }
}

/// Where the frames a screen summary's session drew lie: the summary's `snapshots` folder as
/// written (absolute, or relative to where `screen` ran: tried against the summary's folder
/// and the run), or a `snapshots` folder beside the summary.
pub(crate) fn frames_of(run: &Path, summary_path: &Path, snapshots: &Path) -> Option<PathBuf> {
    let beside = summary_path.parent().unwrap_or(run);
    let mut candidates = Vec::new();
    if snapshots.is_absolute() {
        candidates.push(snapshots.to_path_buf());
    } else {
        candidates.push(beside.join(snapshots));
        candidates.push(run.join(snapshots));
        // Written relative to the run's parent (the demo runs from the repository root).
        if let Some(tail) = snapshots.components().position(|c| run.file_name() == Some(c.as_os_str())) {
            candidates.push(run.join(snapshots.components().skip(tail + 1).collect::<PathBuf>()));
        }
    }
    candidates.push(beside.join("snapshots"));
    candidates.into_iter().map(|c| c.join("frames")).find(|c| c.starts_with(run) && c.is_dir())
}
