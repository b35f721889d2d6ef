//! The page's sections, each built from the run folder's files by the names the pipeline
//! writes them under. A section whose inputs are absent returns why (the page says so); a
//! damaged piece inside a section is skipped with a note and the section goes on.

use super::Page;
use super::html::{escape, interval, num, table, text};
use melanoscope_shared::formats::{ModelFile, hex, sha256};
use melanoscope_slides::manifest::read_manifest;
use melanoscope_slides::split::{Partition, PatientSplit};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Build = fn(&mut Page) -> Result<(), String>;

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

/// The run's sub-folders (sorted) that hold `file`, and whose name passes `keep`.
fn folders_with(run: &Path, file: &str, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(run) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().and_then(|n| n.to_str()).is_some_and(&keep) && p.join(file).is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Files under `dir` (at most `depth` folders down) whose name ends with `suffix`, sorted.
fn files_ending(dir: &Path, suffix: &str, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if p.is_dir() && depth > 0 {
            out.extend(files_ending(&p, suffix, depth - 1));
        } else if p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)) {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn folder_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

const LABELS: [&str; 4] = ["MM", "IN", "CN", "JN"];

/// The few figures a pathologist looks at first: how the edge did on frames whose lesion is
/// known, and how the model did on the test patients. Details are in the sections below.
fn glance(page: &mut Page) -> Result<(), String> {
    let mut items = Vec::new();
    let screen = page.run().join("screen/summary.json");
    if screen.is_file()
        && let Ok(v) = page.json(&screen)
        && let (Some(right), Some(total)) = (v["truth"]["right"].as_u64(), v["truth"]["total"].as_u64())
    {
        items.push(format!(
            "<li><strong>Edge: {right} of {total} replayed camera frames right</strong> (see Screening at the edge)</li>"
        ));
    }
    for dir in folders_with(page.run(), "report.json", |n| n.starts_with("eval")) {
        let Ok(v) = page.json(&dir.join("report.json")) else { continue };
        let Some(levels) = v["levels"].as_array() else { continue };
        for l in levels.iter().filter(|l| l["level"] == "patch" || l["level"] == "slide") {
            items.push(format!(
                "<li>{}: {} AUC {} on {} test {}</li>",
                escape(&folder_name(&dir)),
                text(&l["level"]),
                interval(&l["auc"]),
                text(&l["units"]),
                if l["level"] == "patch" { "patches" } else { "slides" }
            ));
        }
    }
    if items.is_empty() {
        return Err("neither a screening against truth nor an evaluation in the run folder".into());
    }
    page.push(&format!("<ul>\n{}\n</ul>\n", items.join("\n")));
    Ok(())
}

fn cohort(page: &mut Page) -> Result<(), String> {
    let sets = folders_with(page.run(), "manifest.parquet", |_| true);
    if sets.is_empty() {
        return Err("no patch set (a folder with manifest.parquet) in the run folder".into());
    }
    for dir in sets {
        let name = folder_name(&dir);
        let rows = match read_manifest(&dir.join("manifest.parquet")) {
            Ok(r) => r,
            Err(e) => {
                page.skip(format!("patch set {name}: {e}"));
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
        let report = dir.join("report.json");
        if report.is_file() {
            match page.json(&report) {
                Ok(v) => {
                    let failed = v["failed"].as_u64().unwrap_or(0);
                    let listed = v["slides"].as_array().map_or(0, Vec::len);
                    page.push(&format!("<p>{listed} slides in the patch job, {failed} failed.</p>\n"));
                }
                Err(why) => page.skip(why),
            }
        }
    }
    for split in files_ending(page.run(), "split.csv", 1) {
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
            Err(e) => page.skip(format!("{}: {e}", page.name(&split))),
        }
    }
    Ok(())
}

/// The rows of a binary report's `levels` (evaluate's report.json, an experiment's outcome).
fn binary_levels(levels: &[Value]) -> Vec<Vec<String>> {
    levels
        .iter()
        .map(|l| {
            let t = &l["threshold"];
            vec![
                text(&l["level"]),
                text(&l["units"]),
                text(&l["positives"]),
                format!("{} <small>({})</small>", num(t["threshold"].as_f64(), 3), text(&t["rule"])),
                interval(&l["auc"]),
                interval(&l["sensitivity"]),
                interval(&l["specificity"]),
                interval(&l["precision"]),
                interval(&l["f1"]),
            ]
        })
        .collect()
}

const BINARY_HEADERS: [&str; 9] =
    ["level", "units", "melanoma", "threshold (validation)", "AUC", "sensitivity", "specificity", "precision", "F1"];

fn evaluation(page: &mut Page) -> Result<(), String> {
    let runs = folders_with(page.run(), "report.json", |n| n.starts_with("eval"));
    if runs.is_empty() {
        return Err("no evaluation (an eval-* folder with report.json) in the run folder".into());
    }
    page.push("<p>Test patients only; thresholds chosen on the validation patients; 95% bootstrap intervals.</p>\n");
    for dir in runs {
        let v = match page.json(&dir.join("report.json")) {
            Ok(v) => v,
            Err(why) => {
                page.skip(why);
                continue;
            }
        };
        let Some(levels) = v["levels"].as_array() else {
            page.skip(format!("{}: no `levels` array", page.name(&dir.join("report.json"))));
            continue;
        };
        page.push(&format!("<h3>{}</h3>\n", escape(&folder_name(&dir))));
        page.push(&table(&BINARY_HEADERS, &binary_levels(levels)));
    }
    Ok(())
}

fn experiment_list(page: &Page) -> Result<Vec<Value>, String> {
    let path = page.run().join("experiments/experiments.json");
    if !path.is_file() {
        return Err("no experiment grid (experiments/experiments.json) in the run folder".into());
    }
    let v = page.json(&path)?;
    v.as_array().cloned().ok_or_else(|| "experiments/experiments.json: expected a list of runs".into())
}

fn experiments(page: &mut Page) -> Result<(), String> {
    let list = experiment_list(page)?;
    let mut rows = Vec::new();
    for e in &list {
        let report = &e["outcome"]["report"];
        let level =
            |name: &str| report["levels"].as_array().and_then(|ls| ls.iter().find(|l| l["level"] == name)).cloned();
        let auc = |l: Option<Value>| {
            l.map_or("–".into(), |l| interval(if l["auc"].is_null() { &l["macro_auc"] } else { &l["auc"] }))
        };
        rows.push(vec![
            text(&e["arch"]),
            text(&e["preset"]),
            text(&e["train_patches"]),
            text(&e["test_patches"]),
            num(e["best_val_auc"].as_f64(), 3),
            auc(level("patch")),
            auc(level("slide")),
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

fn curves(page: &mut Page) -> Result<(), String> {
    let list = experiment_list(page)?;
    for e in &list {
        let (Some(arch), Some(preset)) = (e["arch"].as_str(), e["preset"].as_str()) else { continue };
        let dir = page.run().join("experiments/runs").join(format!("{arch}-{}", preset.replace('@', "-")));
        // What the grid writes for this run: a confusion matrix per level, and the ROC
        // curves of a two-class task.
        let mut expected: Vec<String> = e["outcome"]["report"]["levels"]
            .as_array()
            .map(|ls| ls.iter().filter_map(|l| l["level"].as_str()).map(|l| format!("confusion-{l}.svg")).collect())
            .unwrap_or_default();
        if e["outcome"]["kind"] == "binary" {
            expected.insert(0, "roc.svg".into());
        }
        page.push(&format!("<h3>{} {}</h3>\n<div class=\"figures\">\n", escape(arch), escape(preset)));
        for file in expected {
            let img = page.image(&dir.join(&file), &format!("{preset} {file}"), "plot");
            if !img.is_empty() {
                page.push(&format!("<figure>{img}<figcaption>{}</figcaption></figure>\n", escape(&file)));
            }
        }
        page.push("</div>\n");
    }
    Ok(())
}

fn explanations(page: &mut Page) -> Result<(), String> {
    let runs = folders_with(page.run(), "summary.json", |n| n.starts_with("explain"));
    if runs.is_empty() {
        return Err("no explanation (an explain-* folder with summary.json) in the run folder".into());
    }
    for dir in runs {
        let v = match page.json(&dir.join("summary.json")) {
            Ok(v) => v,
            Err(why) => {
                page.skip(why);
                continue;
            }
        };
        let loc = &v["localisation"];
        page.push(&format!(
            "<h3>{}</h3>\n<p>{} on the test slides. Pointing game (the hottest patch inside the delineated melanoma): \
             {} of melanoma slides; mean Dice of the regions of interest with the lesion masks: {}.</p>\n",
            escape(&folder_name(&dir)),
            text(&v["method"]),
            num(loc["pointing_game_hit_rate"].as_f64(), 2),
            num(loc["mean_dice"].as_f64(), 2)
        ));
        let slides = v["slides"].as_array().cloned().unwrap_or_default();
        let rows: Vec<Vec<String>> = slides
            .iter()
            .map(|s| {
                vec![
                    text(&s["slide_id"]),
                    text(&s["label"]),
                    text(&s["patches"]),
                    num(s["max_probability"].as_f64(), 3),
                    s["rois"].as_array().map_or(0, Vec::len).to_string(),
                    num(s["flagged_area_mm2"].as_f64(), 3),
                    num(s["dice"].as_f64(), 2),
                ]
            })
            .collect();
        page.push(&table(
            &["slide", "label", "patches", "max melanoma probability", "regions of interest", "flagged mm²", "Dice"],
            &rows,
        ));
        for s in &slides {
            let Some(id) = s["slide_id"].as_str() else { continue };
            let files: Vec<String> = s["files"]
                .as_array()
                .map(|f| f.iter().filter_map(Value::as_str).filter(|f| f.ends_with(".png")).map(String::from).collect())
                .unwrap_or_default();
            page.push(&format!("<h4>{} ({})</h4>\n<div class=\"figures\">\n", escape(id), text(&s["label"])));
            for f in files {
                let img = page.image(&dir.join(id).join(&f), &format!("{id} {f}"), "panel");
                if !img.is_empty() {
                    page.push(&format!("<figure>{img}<figcaption>{}</figcaption></figure>\n", escape(&f)));
                }
            }
            page.push("</div>\n");
        }
    }
    Ok(())
}

fn agreement(page: &mut Page) -> Result<(), String> {
    let files = files_ending(&page.run().join("export"), ".agreement.json", 2);
    if files.is_empty() {
        return Err("no INT8 agreement report (export/**/*.agreement.json) in the run folder".into());
    }
    let mut rows = Vec::new();
    for f in files {
        match page.json(&f) {
            Ok(v) => rows.push(vec![
                escape(&page.name(&f)),
                text(&v["fields"]),
                num(v["verdict_agreement"].as_f64(), 3),
                num(v["auc_reference"].as_f64(), 3),
                num(v["auc_candidate"].as_f64(), 3),
                num(v["max_probability_difference"].as_f64(), 3),
                num(v["cam_correlation_mean"].as_f64(), 3),
            ]),
            Err(why) => page.skip(why),
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

fn model_cards(page: &mut Page) -> Result<(), String> {
    let bundles = files_ending(&page.run().join("export"), ".mscm", 2);
    if bundles.is_empty() {
        return Err("no model bundle (export/**/*.mscm) in the run folder".into());
    }
    let keys: Vec<(String, String)> = files_ending(&page.run().join("export"), ".public", 1)
        .iter()
        .filter_map(|k| {
            let key = melanoscope_shared::formats::read_key_file(k).ok()?;
            Some((hex(&key), page.name(k)))
        })
        .collect();
    for path in bundles {
        let name = page.name(&path);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                page.skip(format!("{name}: {e}"));
                continue;
            }
        };
        let file = match ModelFile::decode(&bytes) {
            Ok(f) => f,
            Err(e) => {
                page.skip(format!("{name}: {e}"));
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

fn screening(page: &mut Page) -> Result<(), String> {
    let path = page.run().join("screen/summary.json");
    if !path.is_file() {
        return Err("no edge screening (screen/summary.json) in the run folder".into());
    }
    let v = page.json(&path)?;
    let stats = &v["stats"];
    page.push(&format!(
        "<p>{} frames replayed: {} screened, {} stopped by a gate (focus, exposure, tissue), {} corrupt.</p>\n",
        text(&stats["frames"]),
        text(&stats["screened"]),
        text(&stats["gated"]),
        text(&stats["corrupt"])
    ));
    let truth = &v["truth"];
    let frames = match truth["frames"].as_array() {
        Some(f) => {
            page.push(&format!(
                "<p><strong>{} of {} frames right</strong> (melanoma called MELANOMA SUSPECTED, a nevus called NEVUS; \
                 UNCERTAIN is not right). Truth: <code>{}</code>.</p>\n",
                text(&truth["right"]),
                text(&truth["total"]),
                text(&truth["truth"])
            ));
            f.clone()
        }
        None => {
            page.skip("screen/summary.json has no truth table (screen without --truth): verdicts shown without it");
            v["frames"].as_array().cloned().unwrap_or_default()
        }
    };
    let snapshots = page.run().join("screen/snapshots/frames");
    let mut rows = Vec::new();
    for f in &frames {
        let index = f["frame"].as_u64();
        let snapshot = match index {
            Some(i) if snapshots.join(format!("frame-{i:06}.png")).is_file() => {
                page.image(&snapshots.join(format!("frame-{i:06}.png")), &format!("frame {i}"), "frame")
            }
            _ => "–".into(),
        };
        let right = match f["right"].as_bool() {
            Some(true) => "<span class=\"right\">right</span>".to_string(),
            Some(false) => "<span class=\"wrong\">wrong</span>".to_string(),
            None => "–".into(),
        };
        let file = f["file"].as_str().map(|s| s.rsplit('/').next().unwrap_or(s).to_string()).unwrap_or_default();
        rows.push(vec![
            text(&f["frame"]),
            escape(&file),
            text(&f["lesion"]),
            text(&f["verdict"]),
            num(f["probability"].as_f64(), 3),
            num(f["frame_probability"].as_f64(), 3),
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
    Ok(())
}

/// Each object of `v[key]` as a table row: `cell` of each of its `fields`.
fn json_rows(v: &Value, key: &str, fields: &[&str], cell: impl Fn(&str, &Value) -> String) -> Vec<Vec<String>> {
    v[key]
        .as_array()
        .map(|rs| rs.iter().map(|r| fields.iter().map(|f| cell(f, &r[*f])).collect()).collect())
        .unwrap_or_default()
}

/// One table cell of a benchmark row: a file name without its folder, milliseconds to 0.1.
fn bench_cell(field: &str, v: &Value) -> String {
    match (field, v) {
        ("model", Value::String(m)) => escape(m.rsplit('/').next().unwrap_or(m)),
        (f, v) if f.starts_with("ms_") => num(v.as_f64(), 1),
        (_, v) => text(v),
    }
}

/// Runs `show` on the JSON at `rel` when the run has it (a damaged one is skipped with a
/// note); whether it was there.
fn optional_json(page: &mut Page, rel: &str, show: impl FnOnce(&mut Page, &Value)) -> bool {
    let path = page.run().join(rel);
    if !path.is_file() {
        return false;
    }
    match page.json(&path) {
        Ok(v) => show(page, &v),
        Err(why) => page.skip(why),
    }
    true
}

/// The familiarity score against outside sets (`export/ood.json`, from `ood`) and the case
/// pages the edge wrote (`screen/case*/index.html`).
fn unfamiliar(page: &mut Page) -> Result<(), String> {
    let ood = optional_json(page, "export/ood.json", |page, v| {
        page.push(&format!(
            "<p>Familiarity of <code>{}</code>: a field scoring above {} is unfamiliar (chosen to pass {}% of \
             validation fields); {}% of {} test fields of the training distribution pass.</p>\n",
            escape(v["bundle"].as_str().unwrap_or("?").rsplit('/').next().unwrap_or("?")),
            num(v["threshold"].as_f64(), 3),
            num(v["chosen_pass_share"].as_f64().map(|x| 100.0 * x), 0),
            num(v["test_pass"].as_f64().map(|x| 100.0 * x), 1),
            text(&v["test_fields"]),
        ));
        let fields = ["name", "images", "fields", "tissue_fields_only", "auroc", "flagged"];
        let cell = |f: &str, v: &Value| match f {
            "auroc" => num(v.as_f64(), 3),
            "flagged" => num(v.as_f64().map(|x| 100.0 * x), 1),
            _ => text(v),
        };
        page.push(&table(
            &["outside set", "images", "fields", "tissue fields only", "AUROC", "flagged %"],
            &json_rows(v, "sets", &fields, cell),
        ));
    });
    let mut cases = Vec::new();
    for dir in folders_with(&page.run().join("screen"), "index.html", |n| n.starts_with("case")) {
        let name = folder_name(&dir);
        cases.push(vec![format!("<a href=\"../screen/{0}/index.html\">{0}</a>", escape(&name))]);
    }
    if !cases.is_empty() {
        page.push("<h3>Case pages written by the edge</h3>\n");
        page.push(&table(&["case page"], &cases));
    }
    if !ood && cases.is_empty() {
        return Err("no export/ood.json and no screen/case*/index.html in the run folder".into());
    }
    Ok(())
}

fn speed(page: &mut Page) -> Result<(), String> {
    let host = optional_json(page, "export/bench.json", |page, v| {
        let fields = ["model", "runtime", "batch", "threads", "ms_per_field"];
        page.push(&format!("<h3>Per-field latency on the host ({} cores)</h3>\n", text(&v["cores"])));
        page.push(&table(
            &["model", "runtime", "batch", "threads", "ms per field"],
            &json_rows(v, "rows", &fields, bench_cell),
        ));
    });
    let edge = optional_json(page, "screen/bench.json", |page, v| {
        let rows: Vec<Vec<String>> = v["median_ms"]
            .as_object()
            .map(|o| o.iter().map(|(k, ms)| vec![escape(k), num(ms.as_f64(), 1)]).collect())
            .unwrap_or_default();
        page.push(&format!(
            "<h3>A camera frame at the edge</h3>\n<p>{}×{} px frame, {} fields, {} on {} (batch {}): \
             {} frames a second; peak memory {} MiB.</p>\n",
            text(&v["frame"]["width"]),
            text(&v["frame"]["height"]),
            text(&v["fields_per_frame"]),
            text(&v["bundle"]["architecture"]),
            text(&v["backend"]),
            text(&v["batch"]),
            num(v["frames_per_second"].as_f64(), 2),
            num(v["peak_rss_mib"].as_f64(), 0)
        ));
        page.push(&table(&["stage", "median ms"], &rows));
    });
    let tune = optional_json(page, "screen/tune.json", |page, v| {
        let fields = ["backend", "form", "batch", "threads", "status", "ms_per_field"];
        page.push(&format!("<h3>Tuning on this machine ({})</h3>\n", text(&v["cpu"])));
        page.push(&table(
            &["runtime", "form", "batch", "threads", "self-test", "ms per field"],
            &json_rows(v, "rows", &fields, bench_cell),
        ));
    });
    if !(host || edge || tune) {
        return Err("no benchmark (export/bench.json, screen/bench.json, screen/tune.json) in the run folder".into());
    }
    Ok(())
}
