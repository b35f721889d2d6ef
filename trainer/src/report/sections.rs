//! The page's sections, each built from the run folder's files, read into the types their
//! writers write them from (`melanoscope_shared::run_files` names where each lies). A section
//! whose inputs are absent says so ([`Skip::Absent`]); a damaged piece inside a section is
//! skipped with a note ([`Skip::Damaged`]) and the section goes on.

use super::html::{escape, interval, interval_opt, num, table};
use super::{Page, Skip, layout};
use crate::experiment::grid::{Outcome, RunResult};
use crate::explain::run::ExplainSummary;
use crate::export::bench_report::BenchExportReport;
use crate::export::quant::Agreement;
use crate::ood::OodReport;
use crate::train::evaluate::{EvaluationReport, LevelReport};
use melanoscope_shared::formats::{ModelFile, hex, sha256};
use melanoscope_shared::metrics::ConfidenceInterval;
use melanoscope_shared::run_files::edge_bench::EdgeBenchReport;
use melanoscope_shared::run_files::screen::{ScreenSummary, file_name};
use melanoscope_shared::run_files::tune::TuneReport;
use melanoscope_shared::run_files::{self as names};
use melanoscope_slides::manifest::read_manifest;
use melanoscope_slides::patching::shard_record::ReportFile;
use melanoscope_slides::split::{Partition, PatientSplit};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Build = fn(&mut Page) -> Result<(), Skip>;

pub(crate) const ALL: &[(&str, Build)] = &[
    ("At a glance", glance),
    ("Cohort and patch sets", cohort),
    ("Evaluation on the test patients", evaluation),
    ("Experiment grid", experiments),
    ("ROC curves and confusion matrices", curves),
    ("Explanations: heatmaps, regions of interest, panels", explanations),
    ("INT8 against f32", agreement),
    ("Model cards", model_cards),
    ("Screening at the edge", screening),
    ("Unfamiliar tissue and cases", unfamiliar),
    ("Speed", speed),
];

fn folder_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

const LABELS: [&str; 4] = ["MM", "IN", "CN", "JN"];

/// A part's folder, as the page names it: its path in the run, or "the run folder".
fn part_name(page: &Page, dir: &Path) -> String {
    let name = page.name(dir);
    if name.is_empty() { "the run folder".into() } else { name }
}

/// The few figures a pathologist looks at first: how the edge did on frames whose lesion is
/// known, and how the model did on the test patients. Details are in the sections below.
fn glance(page: &mut Page) -> Result<(), Skip> {
    let mut items = Vec::new();
    for screen in &page.layout().screens {
        if let Ok(ScreenSummary { truth: Some(t), .. }) = page.read(screen) {
            items.push(format!(
                "<li><strong>Edge: {} of {} replayed camera frames right</strong> (see Screening at the edge)</li>",
                t.right, t.total
            ));
        }
    }
    for file in &page.layout().evaluations {
        let Ok(report) = page.read::<EvaluationReport>(file) else { continue };
        let dir = file.parent().unwrap_or(page.run());
        for l in report.levels.iter().filter(|l| matches!(l.level.name(), "patch" | "slide")) {
            items.push(format!(
                "<li>{}: {} AUC {} on {} test {}</li>",
                escape(&part_name(page, dir)),
                l.level.name(),
                interval(&l.auc),
                l.units,
                if l.level.name() == "patch" { "patches" } else { "slides" }
            ));
        }
    }
    if items.is_empty() {
        return Err(Skip::Absent(
            "neither a screening against truth (screen --truth --summary) nor an evaluation (evaluate's report.json) \
             in the run folder",
        ));
    }
    page.push(&format!("<ul>\n{}\n</ul>\n", items.join("\n")));
    Ok(())
}

fn cohort(page: &mut Page) -> Result<(), Skip> {
    let sets = page.layout().patch_sets.clone();
    if sets.is_empty() {
        return Err(Skip::Absent(
            "no patch set (a manifest.parquet from patch, a *.parquet from import-patches) in the run folder \
             (looked 4 folders deep)",
        ));
    }
    for manifest in sets {
        let dir = manifest.parent().unwrap_or(page.run()).to_path_buf();
        let name = if manifest.file_name().is_some_and(|n| n == names::PATCH_MANIFEST) {
            part_name(page, &dir)
        } else {
            page.name(&manifest)
        };
        let rows = match read_manifest(&manifest) {
            Ok(r) => r,
            Err(e) => {
                page.skip(Skip::Damaged {
                    file: format!("patch set {name}"),
                    why: melanoscope_shared::errors::error_chain(&e),
                });
                continue;
            }
        };
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        let (mut slides, mut patients) = (BTreeSet::new(), BTreeSet::new());
        for r in &rows {
            *counts.entry((r.magnification.clone(), r.label.clone())).or_default() += 1;
            slides.insert(r.slide_id.as_str());
            patients.insert(r.patient_id.as_str());
        }
        let mags: BTreeSet<&str> = counts.keys().map(|(m, _)| m.as_str()).collect();
        let table_rows: Vec<Vec<String>> = mags
            .iter()
            .map(|m| {
                let mut row = vec![escape(m)];
                let mut total = 0;
                for l in LABELS {
                    let n = counts.get(&((*m).to_string(), l.to_string())).copied().unwrap_or(0);
                    total += n;
                    row.push(n.to_string());
                }
                row.push(total.to_string());
                row
            })
            .collect();
        page.push(&format!(
            "<h3>{}</h3>\n<p>{} patches of {} slides from {} patients.</p>\n",
            escape(&name),
            rows.len(),
            slides.len(),
            patients.len()
        ));
        page.push(&table(&["magnification", "MM", "IN", "CN", "JN", "all"], &table_rows));
        let report = dir.join(names::PATCH_REPORT);
        if manifest.file_name().is_some_and(|n| n == names::PATCH_MANIFEST) && report.is_file() {
            match page.read::<ReportFile>(&report) {
                Ok(r) => {
                    page.push(&format!("<p>{} slides in the patch job, {} failed.</p>\n", r.slides.len(), r.failed))
                }
                Err(skip) => page.skip(skip),
            }
        }
    }
    for split in page.layout().splits.clone() {
        match PatientSplit::load(&split) {
            Ok(s) => {
                let counts = s.counts();
                let rows: Vec<Vec<String>> = [Partition::Train, Partition::Validation, Partition::Test]
                    .iter()
                    .map(|p| {
                        let mut row = vec![p.name().to_string()];
                        for l in melanoscope_shared::Lesion::ALL {
                            row.push(counts.get(&(*p, l)).copied().unwrap_or(0).to_string());
                        }
                        row
                    })
                    .collect();
                page.push(&format!("<h3>Patients per partition ({})</h3>\n", escape(&page.name(&split))));
                page.push(&table(&["partition", "MM", "IN", "CN", "JN"], &rows));
            }
            Err(e) => {
                page.skip(Skip::Damaged { file: page.name(&split), why: melanoscope_shared::errors::error_chain(&e) })
            }
        }
    }
    Ok(())
}

/// The rows of a binary report's levels (evaluate's report.json, an experiment's outcome).
fn binary_levels(levels: &[LevelReport]) -> Vec<Vec<String>> {
    levels
        .iter()
        .map(|l| {
            vec![
                l.level.name().to_string(),
                l.units.to_string(),
                l.positives.to_string(),
                format!(
                    "{} <small>({})</small>",
                    num(Some(l.threshold.threshold), 3),
                    escape(&format!("{:?}", l.threshold.rule))
                ),
                interval(&l.auc),
                interval_opt(l.sensitivity.as_ref()),
                interval_opt(l.specificity.as_ref()),
                interval_opt(l.precision.as_ref()),
                interval_opt(l.f1.as_ref()),
            ]
        })
        .collect()
}

const BINARY_HEADERS: [&str; 9] =
    ["level", "units", "melanoma", "threshold (validation)", "AUC", "sensitivity", "specificity", "precision", "F1"];

fn evaluation(page: &mut Page) -> Result<(), Skip> {
    let runs = page.layout().evaluations.clone();
    if runs.is_empty() {
        return Err(Skip::Absent(
            "no evaluation (a report.json from evaluate) in the run folder (looked 4 folders deep)",
        ));
    }
    page.push("<p>Test patients only; thresholds chosen on the validation patients; 95% bootstrap intervals.</p>\n");
    for file in runs {
        match page.read::<EvaluationReport>(&file) {
            Ok(report) => {
                let name = part_name(page, file.parent().unwrap_or(page.run()));
                page.push(&format!("<h3>{}</h3>\n", escape(&name)));
                page.push(&table(&BINARY_HEADERS, &binary_levels(&report.levels)));
                if let Some(note) = report.one_patch_units_note() {
                    page.push(&format!("<p><strong>{}</strong></p>\n", escape(&note)));
                }
            }
            Err(skip) => page.skip(skip),
        }
    }
    Ok(())
}

/// Every grid's runs, each with the folder of its plots (`runs/` beside experiments.json).
fn experiment_list(page: &Page) -> Result<Vec<(PathBuf, RunResult)>, Skip> {
    let files = &page.layout().experiments;
    if files.is_empty() {
        return Err(Skip::Absent(
            "no experiment grid (an experiments.json from experiment) in the run folder (looked 4 folders deep)",
        ));
    }
    let mut all = Vec::new();
    for file in files {
        let runs = file.with_file_name("runs");
        let list: Vec<RunResult> = page.read(file)?;
        all.extend(list.into_iter().map(|r| (runs.clone(), r)));
    }
    Ok(all)
}

/// An experiment's test levels by name, each with its AUC (macro one-vs-rest for the nevi).
fn level_aucs(outcome: &Outcome) -> Vec<(String, Option<&ConfidenceInterval>)> {
    match outcome {
        Outcome::Binary { report } => {
            report.levels.iter().map(|l| (l.level.name().to_string(), Some(&l.auc))).collect()
        }
        Outcome::Multiclass { report } => {
            report.levels.iter().map(|l| (l.level.clone(), l.macro_auc.as_ref())).collect()
        }
        Outcome::Skipped { .. } | Outcome::Failed { .. } => Vec::new(),
    }
}

fn experiments(page: &mut Page) -> Result<(), Skip> {
    let list = experiment_list(page)?;
    let mut rows = Vec::new();
    for (_, e) in &list {
        let levels = level_aucs(&e.outcome);
        let auc = |name: &str| levels.iter().find(|(l, _)| l == name).map_or("–".into(), |(_, a)| interval_opt(*a));
        rows.push(vec![
            escape(&e.arch),
            escape(&e.preset),
            e.train_patches.to_string(),
            e.test_patches.to_string(),
            num(e.best_val_auc, 3),
            auc("patch"),
            auc("slide"),
        ]);
    }
    page.push("<p>AUC on test patients (macro one-vs-rest for the three nevi), with 95% intervals.</p>\n");
    page.push(&table(
        &[
            "architecture",
            "task @ magnification",
            "train patches",
            "test patches",
            "best validation AUC",
            "patch AUC",
            "slide AUC",
        ],
        &rows,
    ));
    Ok(())
}

fn curves(page: &mut Page) -> Result<(), Skip> {
    let list = experiment_list(page)?;
    for (runs, e) in &list {
        let dir = runs.join(format!("{}-{}", e.arch, e.preset.replace('@', "-")));
        // What the grid writes for this run: a confusion matrix per level, and the ROC
        // curves of a two-class task.
        let mut expected: Vec<String> =
            level_aucs(&e.outcome).into_iter().map(|(l, _)| format!("confusion-{l}.svg")).collect();
        if matches!(e.outcome, Outcome::Binary { .. }) {
            expected.insert(0, "roc.svg".into());
        }
        page.push(&format!("<h3>{} {}</h3>\n<div class=\"figures\">\n", escape(&e.arch), escape(&e.preset)));
        for file in expected {
            let img = page.image(&dir.join(&file), &format!("{} {file}", e.preset), "plot");
            if !img.is_empty() {
                page.push(&format!("<figure>{img}<figcaption>{}</figcaption></figure>\n", escape(&file)));
            }
        }
        page.push("</div>\n");
    }
    Ok(())
}

fn explanations(page: &mut Page) -> Result<(), Skip> {
    let runs = page.layout().explanations.clone();
    if runs.is_empty() {
        return Err(Skip::Absent(
            "no explanation (a summary.json from explain) in the run folder (looked 4 folders deep)",
        ));
    }
    for file in runs {
        let dir = file.parent().unwrap_or(page.run()).to_path_buf();
        let summary: ExplainSummary = match page.read(&file) {
            Ok(s) => s,
            Err(skip) => {
                page.skip(skip);
                continue;
            }
        };
        let loc = &summary.localisation;
        page.push(&format!(
            "<h3>{}</h3>\n<p>{} on the test slides. Pointing game (the hottest patch inside the delineated melanoma): \
             {} of melanoma slides; mean Dice of the regions of interest with the lesion masks: {}.</p>\n",
            escape(&part_name(page, &dir)),
            escape(&summary.method),
            num(loc.pointing_game_hit_rate, 2),
            num(loc.mean_dice, 2)
        ));
        let rows: Vec<Vec<String>> = summary
            .slides
            .iter()
            .map(|s| {
                vec![
                    escape(&s.slide_id),
                    escape(&s.label),
                    s.patches.to_string(),
                    num(Some(f64::from(s.max_probability)), 3),
                    s.rois.len().to_string(),
                    num(Some(s.flagged_area_mm2), 3),
                    num(s.dice, 2),
                ]
            })
            .collect();
        page.push(&table(
            &["slide", "label", "patches", "max melanoma probability", "regions of interest", "flagged mm²", "Dice"],
            &rows,
        ));
        for s in &summary.slides {
            let id = &s.slide_id;
            page.push(&format!("<h4>{} ({})</h4>\n<div class=\"figures\">\n", escape(id), escape(&s.label)));
            for f in s.files.iter().filter(|f| f.ends_with(".png")) {
                let img = page.image(&dir.join(id).join(f), &format!("{id} {f}"), "panel");
                if !img.is_empty() {
                    page.push(&format!("<figure>{img}<figcaption>{}</figcaption></figure>\n", escape(f)));
                }
            }
            page.push("</div>\n");
        }
    }
    Ok(())
}

fn agreement(page: &mut Page) -> Result<(), Skip> {
    let files = page.layout().agreements.clone();
    if files.is_empty() {
        return Err(Skip::Absent(
            "no INT8 agreement report (a *.agreement.json from export --also-form int8) in the run folder \
             (looked 4 folders deep)",
        ));
    }
    let mut rows = Vec::new();
    for f in files {
        match page.read::<Agreement>(&f) {
            Ok(a) => rows.push(vec![
                escape(&page.name(&f)),
                a.fields.to_string(),
                num(Some(a.verdict_agreement), 3),
                num(a.auc_reference, 3),
                num(a.auc_candidate, 3),
                num(Some(a.max_probability_difference), 3),
                num(Some(a.cam_correlation_mean), 3),
            ]),
            Err(skip) => page.skip(skip),
        }
    }
    page.push("<p>The quantised model against the f32 model on the same test fields.</p>\n");
    page.push(&table(
        &[
            "report",
            "fields",
            "verdict agreement",
            "AUC f32",
            "AUC INT8",
            "largest probability difference",
            "CAM correlation",
        ],
        &rows,
    ));
    Ok(())
}

/// The largest bundle read for its card (a VGG19 f32 bundle with two more forms is under it).
const MAX_BUNDLE_BYTES: u64 = 2 << 30;

fn model_cards(page: &mut Page) -> Result<(), Skip> {
    let bundles = page.layout().bundles.clone();
    if bundles.is_empty() {
        return Err(Skip::Absent("no model bundle (a *.mscm from export) in the run folder (looked 4 folders deep)"));
    }
    let keys: Vec<(String, String)> = page
        .layout()
        .keys
        .iter()
        .filter_map(|k| {
            let key = melanoscope_shared::formats::read_key_file(k).ok()?;
            Some((hex(&key), page.name(k)))
        })
        .collect();
    for path in bundles {
        let name = page.name(&path);
        let bytes = match page.bytes(&path, MAX_BUNDLE_BYTES) {
            Ok(b) => b,
            Err(skip) => {
                page.skip(skip);
                continue;
            }
        };
        let file = match ModelFile::decode(&bytes) {
            Ok(f) => f,
            Err(e) => {
                page.skip(Skip::Damaged { file: name, why: melanoscope_shared::errors::error_chain(&e) });
                continue;
            }
        };
        let m = &file.meta;
        let forms: Vec<&str> = file.forms().into_iter().map(|f| f.name()).collect();
        let signer = match &file.signature {
            None => "unsigned".to_string(),
            Some(s) => {
                let key = hex(&s.public_key);
                match keys.iter().find(|(k, _)| *k == key) {
                    Some((_, file)) => format!("signed by {key} ({file})"),
                    None => format!("signed by {key}"),
                }
            }
        };
        let patch = m.frame_choice.as_ref().map_or(m.decision, |f| f.patch_decision);
        let frame = match &m.frame_choice {
            Some(f) => format!(
                "{:.3} ± {:.3} on {} validation frames of {}×{} px at {} µm/px ({} melanoma, {} of fields): \
                 sensitivity {:.2}, specificity {:.2}, AUC {:.3}",
                m.decision.threshold,
                m.decision.uncertain_band,
                f.frames,
                f.frame_width,
                f.frame_height,
                f.frame_um_per_px,
                f.positive_frames,
                f.aggregation.name(),
                f.sensitivity,
                f.specificity,
                f.auc
            ),
            None => "none: the patch threshold is applied to frames".into(),
        };
        let figures: Vec<String> = m.validation.iter().map(|v| format!("{} {:.3}", v.name, v.value)).collect();
        let rows = vec![
            vec!["task".into(), escape(&m.task)],
            vec!["architecture".into(), escape(&format!("{:?}", m.architecture))],
            vec!["classes".into(), escape(&m.classes.join(", "))],
            vec!["input".into(), format!("{0}×{0} px at {1} µm/px", m.input_size, m.um_per_px)],
            vec!["forms".into(), escape(&forms.join(", "))],
            vec!["frame threshold (applied at the edge)".into(), escape(&frame)],
            vec![
                "patch threshold".into(),
                escape(&format!("{:.3} ({:?}, on validation patches)", patch.threshold, patch.rule)),
            ],
            vec!["figures".into(), escape(&figures.join("; "))],
            vec!["bundle SHA-256".into(), format!("<code>{}</code>", hex(&sha256(&bytes)))],
            vec!["signature".into(), escape(&signer)],
            vec!["trainer".into(), escape(&m.trainer_version)],
        ];
        page.push(&format!("<h3>{}</h3>\n", escape(&name)));
        page.push(&table(&["", ""], &rows));
    }
    Ok(())
}

fn screening(page: &mut Page) -> Result<(), Skip> {
    let files = page.layout().screens.clone();
    if files.is_empty() {
        return Err(Skip::Absent(
            "no edge screening (a summary.json from melanoscope-edge screen --summary) in the run folder \
             (looked 4 folders deep)",
        ));
    }
    let mut read = Vec::new();
    for path in files {
        match page.read::<ScreenSummary>(&path) {
            Ok(summary) => {
                screen_summary(page, &path, &summary);
                read.push((path, summary));
            }
            Err(skip) => page.skip(skip),
        }
    }
    stain_side_by_side(page, &read);
    Ok(())
}

/// The file names of a session's frames, sorted (what tells that two sessions screened the
/// same frames).
fn frame_files(summary: &ScreenSummary) -> Vec<&str> {
    let mut files: Vec<&str> = summary.frames.iter().flatten().map(|f| file_name(&f.file)).collect();
    files.sort_unstable();
    files
}

/// Sessions that screened the same frames as stained and normalised to the bundle's stain
/// (`screening.stain = "normalise"`), their frames side by side.
fn stain_side_by_side(page: &mut Page, sessions: &[(PathBuf, ScreenSummary)]) {
    let normalised = sessions.iter().filter(|(_, s)| s.stain.as_deref() == Some("normalise"));
    for (npath, norm) in normalised {
        let files = frame_files(norm);
        let Some((spath, stained)) = sessions
            .iter()
            .find(|(_, s)| s.stain.as_deref() != Some("normalise") && !files.is_empty() && frame_files(s) == files)
        else {
            continue;
        };
        page.push(&format!(
            "<h3>The same frames as stained and normalised: {} and {}</h3>\n<p>Left, screened as the camera \
             shows them (stain {}); right, each frame's stain fitted on its tissue fields and mapped to the \
             bundle's before the network (stain normalise).</p>\n",
            escape(&page.name(spath)),
            escape(&page.name(npath)),
            escape(stained.stain.as_deref().unwrap_or("off")),
        ));
        let shots = |path: &Path, s: &ScreenSummary| layout::frames_of(page.run(), path, &s.snapshots);
        let (left_dir, right_dir) = (shots(spath, stained), shots(npath, norm));
        let mut rows = Vec::new();
        for f in norm.frames.iter().flatten() {
            let Some(g) = stained.frames.iter().flatten().find(|g| file_name(&g.file) == file_name(&f.file)) else {
                continue;
            };
            let truth = norm.truth.as_ref().and_then(|t| t.frames.iter().find(|j| j.row.frame == f.frame));
            let mut cell = |dir: &Option<PathBuf>, frame: u64, label: &str| match dir {
                Some(d) if d.join(format!("frame-{frame:06}.png")).is_file() => {
                    page.image(&d.join(format!("frame-{frame:06}.png")), label, "frame")
                }
                _ => "–".into(),
            };
            let left = cell(&left_dir, g.frame, &format!("{} as stained", file_name(&g.file)));
            let right = cell(&right_dir, f.frame, &format!("{} normalised", file_name(&f.file)));
            rows.push(vec![
                escape(file_name(&f.file)),
                truth.map_or("–".into(), |j| escape(&j.lesion)),
                format!("{} {}", escape(&g.verdict), num(g.frame_probability, 3)),
                left,
                format!("{} {}", escape(&f.verdict), num(f.frame_probability, 3)),
                right,
            ]);
        }
        page.push(&table(&["file", "truth", "as stained", "", "normalised", ""], &rows));
    }
}

/// One session's summary: its counts, and each frame with its verdict, truth and snapshot.
fn screen_summary(page: &mut Page, path: &Path, summary: &ScreenSummary) {
    if page.layout().screens.len() > 1 {
        page.push(&format!("<h3>{}</h3>\n", escape(&page.name(path))));
    }
    let s = &summary.stats;
    page.push(&format!(
        "<p>{} frames replayed: {} screened, {} stopped by a gate (focus, exposure, tissue), {} corrupt.</p>\n",
        s.frames, s.screened, s.gated, s.corrupt
    ));
    // Each frame with its truth (lesion, whether the verdict was right) when there is one.
    let frames: Vec<(&melanoscope_shared::run_files::screen::FrameRow, Option<(&str, bool)>)> = match &summary.truth {
        Some(t) => {
            page.push(&format!(
                "<p><strong>{} of {} frames right</strong> (melanoma called MELANOMA SUSPECTED, a nevus called NEVUS; \
                 UNCERTAIN is not right). Truth: <code>{}</code>.</p>\n",
                t.right,
                t.total,
                escape(&t.truth.display().to_string())
            ));
            t.frames.iter().map(|j| (&j.row, Some((j.lesion.as_str(), j.right)))).collect()
        }
        None => {
            // A session with no lesion to judge against (other organs, a lab's own frames).
            page.push("<p>No truth table (screened without --truth): the verdicts as shown.</p>\n");
            summary.frames.iter().flatten().map(|f| (f, None)).collect()
        }
    };
    let snapshots = layout::frames_of(page.run(), path, &summary.snapshots);
    let mut rows = Vec::new();
    for (f, truth) in frames {
        let shot = snapshots.as_ref().map(|d| d.join(format!("frame-{:06}.png", f.frame)));
        let snapshot = match shot {
            Some(shot) if shot.is_file() => page.image(&shot, &format!("frame {}", f.frame), "frame"),
            _ => "–".into(),
        };
        let right = match truth.map(|t| t.1) {
            Some(true) => "<span class=\"right\">right</span>".to_string(),
            Some(false) => "<span class=\"wrong\">wrong</span>".to_string(),
            None => "–".into(),
        };
        rows.push(vec![
            f.frame.to_string(),
            escape(file_name(&f.file)),
            truth.map_or("–".into(), |t| escape(t.0)),
            escape(&f.verdict),
            num(f.probability, 3),
            num(f.frame_probability, 3),
            right,
            snapshot,
        ]);
    }
    page.push(&table(
        &[
            "frame",
            "file",
            "truth",
            "verdict",
            "melanoma (averaged)",
            "melanoma (this frame)",
            "",
            "screen with CAM overlay",
        ],
        &rows,
    ));
}

/// A model file's name without its folder.
fn base_name(path: &str) -> String {
    escape(path.rsplit('/').next().unwrap_or(path))
}

/// Runs `show` on each of `files` read as `T` (a damaged one is skipped with a note); whether
/// there was any.
fn each<T: serde::de::DeserializeOwned>(page: &mut Page, files: Vec<PathBuf>, show: impl Fn(&mut Page, T)) -> bool {
    for path in &files {
        match page.read(path) {
            Ok(v) => show(page, v),
            Err(skip) => page.skip(skip),
        }
    }
    !files.is_empty()
}

/// The familiarity score against outside sets (`export/ood.json`, from `ood`) and the case
/// pages the edge wrote (`screen/case*/index.html`).
fn unfamiliar(page: &mut Page) -> Result<(), Skip> {
    let ood = each(page, page.layout().ood.clone(), |page, r: OodReport| {
        page.push(&format!(
            "<p>Familiarity of <code>{}</code>: a field scoring above {} is unfamiliar (chosen to pass {}% of \
             validation fields); {}% of {} test fields of the training distribution pass.</p>\n",
            base_name(&r.bundle.display().to_string()),
            num(Some(f64::from(r.threshold)), 3),
            num(Some(100.0 * f64::from(r.chosen_pass_share)), 0),
            num(Some(100.0 * r.test_pass), 1),
            r.test_fields,
        ));
        if let (Some(l), Some(pass)) = (r.stain_limits, r.test_gate_pass) {
            page.push(&format!(
                "<p>With the stain check (each field's Macenko stain against the bundle's, limits H {}° E {}°), \
                 the gate passes {}% of the test fields; the gate's AUROC takes both measures.</p>\n",
                num(Some(f64::from(l.haematoxylin_deg)), 0),
                num(Some(f64::from(l.eosin_deg)), 0),
                num(Some(100.0 * pass), 1),
            ));
        }
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| num(Some(100.0 * v), 1));
        let auc = |v: Option<f64>| v.map_or("-".into(), |v| num(Some(v), 3));
        let rows: Vec<Vec<String>> = r
            .sets
            .iter()
            .map(|s| {
                vec![
                    escape(&s.name),
                    s.images.to_string(),
                    s.fields.to_string(),
                    s.tissue_fields_only.to_string(),
                    num(Some(s.auroc), 3),
                    num(Some(100.0 * s.flagged), 1),
                    auc(s.stain_auroc),
                    auc(s.gate_auroc),
                    pct(s.gate_flagged),
                    escape(&crate::ood::normalised_passes(&s.normalised_pass)),
                ]
            })
            .collect();
        page.push(&table(
            &[
                "outside set",
                "images",
                "fields",
                "tissue fields only",
                "familiarity AUROC",
                "familiarity flagged %",
                "stain check AUROC",
                "gate AUROC",
                "gate flagged %",
                "gate pass, fields normalised",
            ],
            &rows,
        ));
        if !r.lab_styles.is_empty() {
            page.push(
                "<h3>Other labs' H&amp;E, with and without stain normalisation</h3>\n<p>The test fields re-stained \
                 in other labs' styles (haematoxylin at 55%; eosin at 170%; a bluer haematoxylin under a cool \
                 light; a faded slide, haematoxylin 60% and eosin 50% under a yellowed mountant), given to the \
                 network as stained or normalised to targets fitted on training fields. The gate checks the stain \
                 as the camera shows it.</p>\n",
            );
            let rows: Vec<Vec<String>> = r
                .lab_styles
                .iter()
                .map(|st| {
                    vec![
                        escape(&st.style),
                        escape(&st.method),
                        st.fields.to_string(),
                        num(Some(st.patch_auc), 3),
                        num(Some(100.0 * st.familiarity_pass), 1),
                        pct(st.gate_pass),
                    ]
                })
                .collect();
            page.push(&table(
                &["lab style", "normalisation", "fields", "patch AUC", "familiarity pass %", "gate pass %"],
                &rows,
            ));
        }
    });
    let mut cases = Vec::new();
    for dir in page.layout().case_pages.clone() {
        // The pages stay where the edge wrote them; linked from the report's folder.
        let href = page.link(&dir.join("index.html"));
        cases.push(vec![format!("<a href=\"{}\">{}</a>", escape(&href), escape(&folder_name(&dir)))]);
    }
    if !cases.is_empty() {
        page.push("<h3>Case pages written by the edge</h3>\n");
        page.push(&table(&["case page"], &cases));
    }
    if !ood && cases.is_empty() {
        return Err(Skip::Absent(
            "no familiarity report (an ood.json from ood) and no case pages (case*/index.html from the edge) in \
             the run folder (looked 4 folders deep)",
        ));
    }
    Ok(())
}

fn speed(page: &mut Page) -> Result<(), Skip> {
    let host = each(page, page.layout().host_benches.clone(), |page, r: BenchExportReport| {
        let rows: Vec<Vec<String>> = r
            .rows
            .iter()
            .map(|l| {
                vec![
                    base_name(&l.model),
                    escape(&l.runtime),
                    l.batch.to_string(),
                    l.threads.to_string(),
                    num(Some(l.ms_per_field), 1),
                ]
            })
            .collect();
        page.push(&format!("<h3>Per-field latency on the host ({} cores)</h3>\n", r.cores));
        page.push(&table(&["model", "runtime", "batch", "threads", "ms per field"], &rows));
    });
    let edge = each(page, page.layout().edge_benches.clone(), |page, r: EdgeBenchReport| {
        let rows: Vec<Vec<String>> =
            r.median_ms.stages().iter().map(|(k, ms)| vec![escape(k), num(Some(*ms), 1)]).collect();
        page.push(&format!(
            "<h3>A camera frame at the edge</h3>\n<p>{}×{} px frame, {} fields, {} on {} (batch {}): \
             {} frames a second; peak memory {} MiB.</p>\n",
            r.frame.width,
            r.frame.height,
            r.fields_per_frame,
            escape(&r.bundle.architecture),
            escape(&r.backend),
            r.batch,
            num(Some(r.frames_per_second), 2),
            num(r.peak_rss_mib, 0)
        ));
        page.push(&table(&["stage", "median ms"], &rows));
        if let Some(v) = &r.views {
            use melanoscope_shared::run_files::edge_bench::ViewSetup;
            let rows: Vec<Vec<String>> = v
                .setups
                .iter()
                .map(|s| match s {
                    ViewSetup::Timed { setup, median_ms, over_none, .. } => {
                        vec![escape(setup), num(Some(*median_ms), 1), num(Some(*over_none), 3)]
                    }
                    ViewSetup::Skipped { setup, skipped } => vec![escape(setup), escape(skipped), String::new()],
                })
                .collect();
            page.push(&format!(
                "<p>The whole loop at the frame's size with the window and the web view, against no display \
                 sink ({} ms a frame; {} frames each, interleaved):</p>\n",
                num(Some(v.none_ms), 1),
                v.frames_each
            ));
            page.push(&table(&["display", "median ms", "× no display"], &rows));
        }
    });
    let tune = each(page, page.layout().tunes.clone(), |page, r: TuneReport| {
        let rows: Vec<Vec<String>> = r
            .rows
            .iter()
            .map(|t| {
                vec![
                    t.backend.name().to_string(),
                    t.form.name().to_string(),
                    t.batch.to_string(),
                    t.threads.to_string(),
                    t.status.name().to_string(),
                    num(t.ms_per_field, 1),
                ]
            })
            .collect();
        page.push(&format!("<h3>Tuning on this machine ({})</h3>\n", escape(&r.cpu)));
        page.push(&table(&["runtime", "form", "batch", "threads", "self-test", "ms per field"], &rows));
    });
    if !(host || edge || tune) {
        return Err(Skip::Absent(
            "no benchmark (bench.json from bench-export or melanoscope-edge bench, a tune --report) in the run folder \
             (looked 4 folders deep)",
        ));
    }
    Ok(())
}
