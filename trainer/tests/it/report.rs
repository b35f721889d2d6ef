//! The run report: a run folder with good, damaged and missing pieces becomes one page that
//! names what it skipped and shows the rest; opened in headless Chromium, every image loads
//! and the console stays silent. Needs Chromium (scripts/setup.sh installs Debian's).

use melanoscope_shared::image::{RgbImage, save_rgb};
use melanoscope_shared::metrics::{Aggregation, ChosenThreshold, ConfidenceInterval, ThresholdRule};
use melanoscope_shared::run_files::screen::{FrameRow, JudgedFrame, ScreenSummary, SessionStats, TruthTable};
use melanoscope_trainer::experiment::grid::{Outcome, RunResult};
use melanoscope_trainer::explain::regions::Roi;
use melanoscope_trainer::explain::run::{ExplainSummary, SlideExplanation, summarise};
use melanoscope_trainer::ood::{OodReport, SetResult};
use melanoscope_trainer::report::browser::{check_page, find_chromium};
use melanoscope_trainer::report::write_report;
use melanoscope_trainer::train::evaluate::{EvaluationReport, Level, LevelReport};
use std::collections::BTreeMap;
use std::path::Path;

const SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><rect width="120" height="80" fill="purple"/></svg>"#;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn png(path: &Path, colour: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    save_rgb(path, &RgbImage::filled(64, 48, colour).unwrap()).unwrap();
}

fn json(path: &Path, value: &impl serde::Serialize) {
    write(path, &serde_json::to_string_pretty(value).unwrap());
}

/// A run folder as the demo leaves one, small, with damage in places. The good files are
/// written from their writers' types, as the pipeline writes them.
fn run_folder(dir: &Path) {
    let ci = ConfidenceInterval {
        estimate: 0.91,
        lower: 0.85,
        upper: 0.95,
        level: 0.95,
        valid_resamples: 200,
        resamples: 200,
    };
    let level = LevelReport {
        level: Level::Patch,
        units: 40,
        positives: 12,
        threshold: ChosenThreshold { rule: ThresholdRule::Youden, threshold: 0.3, sensitivity: 0.9, specificity: 0.8 },
        auc: ci,
        sensitivity: Some(ci),
        specificity: Some(ci),
        precision: Some(ci),
        f1: Some(ci),
        positive_rate_by_label: BTreeMap::new(),
    };
    let report = EvaluationReport { aggregation: Aggregation::Mean, resamples: 200, levels: vec![level] };
    json(&dir.join("eval-good/report.json"), &report);
    // Far larger than any report (sparse): refused from its size, not read.
    std::fs::create_dir_all(dir.join("eval-huge")).unwrap();
    std::fs::File::create(dir.join("eval-huge/report.json")).unwrap().set_len(65 << 20).unwrap();
    // Cut short by a full disk.
    write(&dir.join("eval-cut/report.json"), r#"{"levels": [{"level": "pat"#);
    let run = RunResult {
        arch: "resnet18".into(),
        preset: "mm-vs-nevi@40X".into(),
        train_patches: 90,
        test_patches: 40,
        best_val_auc: Some(0.8),
        outcome: Outcome::Binary { report },
    };
    json(&dir.join("experiments/experiments.json"), &vec![run]);
    let runs = dir.join("experiments/runs/resnet18-mm-vs-nevi-40X");
    write(&runs.join("roc.svg"), SVG);
    // confusion-patch.svg is missing.
    let roi = Roi {
        id: 1,
        cells: Vec::new(),
        patches: 3,
        area_mm2: 0.1,
        mean_probability: 0.9,
        max_probability: 0.99,
        score: 1.6,
    };
    let slide = SlideExplanation {
        slide_id: "S1".into(),
        label: "MM".into(),
        patches: 9,
        unread_patches: 0,
        max_probability: 0.99,
        mean_probability: 0.7,
        rois: vec![roi],
        flagged_area_mm2: 0.1,
        pointing_hit: Some(true),
        dice: Some(0.9),
        // The last names a file outside the run folder: refused, never copied into the report.
        files: vec!["heatmap.png".into(), "panel-1.png".into(), "rois.geojson".into(), "../../../outside.png".into()],
    };
    let summary = ExplainSummary {
        arch: "resnet18".into(),
        checkpoint: "best.safetensors".into(),
        failed: Vec::new(),
        localisation: summarise(std::slice::from_ref(&slide)),
        method: "Cam".into(),
        roi_threshold: 0.5,
        slides: vec![slide],
    };
    json(&dir.join("explain-x/summary.json"), &summary);
    png(&dir.join("explain-x/S1/heatmap.png"), [200, 40, 40]);
    // A real image beside the run folder, which the summary's `../../../outside.png` names.
    png(&dir.parent().unwrap().join("outside.png"), [10, 200, 10]);
    // A panel that is not an image at all.
    write(&dir.join("explain-x/S1/panel-1.png"), "not a png");
    let row = |frame, file: &str, verdict: &str, p| FrameRow {
        frame,
        file: file.into(),
        verdict: verdict.into(),
        probability: Some(p),
        frame_probability: Some(p),
        tissue_fields: 15,
        max_familiarity: None,
        unfamiliar_fields: 0,
    };
    let judged = |row, lesion: &str, expected: &str, right| JudgedFrame {
        row,
        lesion: lesion.into(),
        expected: expected.into(),
        right,
    };
    let truth = TruthTable {
        truth: "frames.csv".into(),
        frames: vec![
            judged(row(0, "/x/MM-0.jpg", "MELANOMA SUSPECTED", 0.9), "MM", "MELANOMA SUSPECTED", true),
            judged(row(1, "/x/CN-0.jpg", "UNCERTAIN", 0.5), "CN", "NEVUS", false),
        ],
        right: 1,
        total: 2,
    };
    let stats = SessionStats { frames: 2, screened: 2, ..SessionStats::default() };
    let screen = ScreenSummary {
        stain: None,
        frames: None,
        log: "screening.log".into(),
        snapshots: "snapshots".into(),
        stats,
        truth: Some(truth),
    };
    json(&dir.join("screen/summary.json"), &screen);
    png(&dir.join("screen/snapshots/frames/frame-000000.png"), [90, 40, 120]);
    png(&dir.join("screen/snapshots/frames/frame-000001.png"), [200, 120, 170]);
    // Another lab's frames screened as stained and normalised: shown side by side.
    for (mode, verdict, p) in [("check", "NEVUS", 0.2), ("normalise", "MELANOMA SUSPECTED", 0.8)] {
        let session = ScreenSummary {
            stain: Some(mode.into()),
            frames: Some(vec![row(0, "/y/MM-0.jpg", verdict, p)]),
            log: "screening.log".into(),
            snapshots: "snapshots".into(),
            stats: SessionStats { frames: 1, screened: 1, ..SessionStats::default() },
            truth: None,
        };
        json(&dir.join(format!("screen/stain-{mode}/summary.json")), &session);
        png(&dir.join(format!("screen/stain-{mode}/snapshots/frames/frame-000000.png")), [120, 60, 150]);
    }
    // Not what `bench` writes (fields missing): named as such, not shown as blanks.
    write(
        &dir.join("screen/bench.json"),
        r#"{"median_ms": {"inference": 130.0}, "frame": {"width": 1920, "height": 1080}}"#,
    );
    let set = SetResult {
        name: "other-organ-he".into(),
        images: 19,
        fields: 85,
        tissue_fields_only: true,
        auroc: 0.998,
        flagged: 0.965,
        median_score: 4.6,
        stain_auroc: Some(0.991),
        gate_auroc: Some(0.979),
        gate_flagged: Some(1.0),
        normalised_pass: vec![melanoscope_trainer::ood::MethodPass { method: "macenko".into(), pass: 0.047 }],
    };
    let ood = OodReport {
        bundle: "/x/resnet18.mscm".into(),
        threshold: 0.49,
        chosen_pass_share: 0.97,
        test_fields: 426,
        test_pass: 0.972,
        test_pass_as_read: 0.972,
        test_pass_through_cameras: None,
        test_median_score: 0.3,
        sets: vec![set],
        stain_limits: Some(melanoscope_shared::stain::StainLimits::default()),
        test_gate_pass: Some(0.937),
        lab_styles: vec![melanoscope_trainer::ood::StyleResult {
            style: "faded".into(),
            method: "reinhard".into(),
            fields: 71,
            fallbacks: 0,
            patch_auc: 0.912,
            familiarity_pass: 0.831,
            gate_pass: Some(0.0),
        }],
    };
    json(&dir.join("export/ood.json"), &ood);
    write(&dir.join("screen/case-S1/index.html"), "<!DOCTYPE html><html><body>case S1</body></html>");
}

#[test]
fn a_damaged_run_folder_gives_a_page_naming_what_it_skipped_that_loads_cleanly_in_chromium() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("report");
    let run = dir.join("run with space");
    run_folder(&run);
    let out = dir.join("report");
    let done = write_report(&run, &out).unwrap();

    let whys: Vec<String> = done.skipped.iter().map(|s| format!("{}: {}", s.section, s.why)).collect();
    let has = |needle: &str| whys.iter().any(|w| w.contains(needle));
    assert!(has("eval-cut/report.json: not valid JSON"), "{whys:#?}");
    assert!(has("eval-huge/report.json: more than 67108864 bytes; expected at most that"), "{whys:#?}");
    assert!(has("screen/bench.json: not what its writer writes"), "{whys:#?}");
    assert!(has("confusion-patch.svg: missing"), "the missing SVG is named: {whys:#?}");
    assert!(has("panel-1.png: not an image"), "{whys:#?}");
    assert!(has("outside.png: outside the run folder"), "{whys:#?}");
    let copied: Vec<String> = std::fs::read_dir(out.join("assets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!copied.iter().any(|n| n.contains("outside")), "{copied:?}");
    assert!(has("Model cards: no model bundle"), "{whys:#?}");
    assert!(has("Cohort and patch sets: no patch set"), "{whys:#?}");
    assert!(has("INT8 against f32: no INT8 agreement report"), "{whys:#?}");
    assert_eq!(done.skipped.len(), 9, "{whys:#?}");
    for s in [
        "At a glance",
        "Evaluation on the test patients",
        "ROC curves and confusion matrices",
        "Screening at the edge",
        "Unfamiliar tissue and cases",
        "Speed",
    ] {
        assert!(done.sections.iter().any(|d| d == s), "{s} written: {:?}", done.sections);
    }
    // roc.svg, the heatmap, the two frame snapshots, and the other lab's frame as stained and
    // normalised (each copied once, though shown in its session and side by side).
    assert_eq!(done.assets, 6);

    let html = std::fs::read_to_string(&done.page).unwrap();
    assert!(!html.contains("<script"), "no script in the page");
    assert!(!html.contains("http://") && !html.contains("https://"), "nothing fetched");
    assert!(html.contains("1 of 2 frames right"), "the truth table");
    assert!(html.contains("Edge: 1 of 2 replayed camera frames right"), "at a glance");
    assert!(html.contains("0.910 <small>(0.850–0.950)</small>"), "figures with their intervals");
    assert!(html.contains("Skipped: eval-cut/report.json"), "the skip is on the page too");
    assert!(html.contains("other-organ-he") && html.contains("0.998"), "the familiarity table");
    assert!(html.contains("gate passes 93.7%") && html.contains("0.991"), "the stain check");
    assert!(html.contains("macenko 4.7%"), "real H&E's pass share normalised");
    assert!(html.contains("Other labs") && html.contains("<td>faded</td><td>reinhard</td>"), "the lab styles");
    assert!(html.contains("as stained and normalised") && html.contains("NEVUS 0.200"), "the side by side");
    assert!(html.contains("alt=\"MM-0.jpg normalised\""), "the normalised frame's snapshot");
    assert!(html.contains("href=\"../run%20with%20space/screen/case-S1/index.html\""), "the case page is linked");

    let Some(browser) = find_chromium() else {
        panic!("headless Chromium is needed for this test: run scripts/setup.sh (installs Debian's chromium)");
    };
    let shot = out.join("screenshot.png");
    let check = check_page(&done.page, &shot).unwrap_or_else(|e| panic!("{}: {e}", browser.display()));
    // Six files, eight images: the other lab's two frames are also shown side by side.
    assert_eq!(check.images.len(), 8, "{check:?}");
    assert!(check.broken().is_empty(), "broken images: {check:?}");
    assert!(check.console.is_empty(), "console: {:?}", check.console);
    assert_eq!(check.title, "Melanoscope run report");
    let bytes = std::fs::read(&shot).unwrap();
    assert_eq!(&bytes[1..4], b"PNG", "a screenshot was saved");

    // The check sees a broken image: an asset removed after the page was written.
    std::fs::remove_file(out.join("assets").join("screen_snapshots_frames_frame-000001.png")).unwrap();
    let check = check_page(&done.page, &shot).unwrap();
    assert_eq!(check.broken(), ["assets/screen_snapshots_frames_frame-000001.png"], "{check:?}");

    // A run folder that is not there is an error, not an empty page.
    let e = write_report(&dir.join("nowhere"), &out).unwrap_err().to_string();
    assert!(e.contains("nowhere") && e.contains("not a folder"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A lab's run as its commands wrote it, in folders of its own naming: the report finds each
/// part by what its file holds, shows them as it shows the demo's, and names what it did not
/// find with the command that writes it.
#[test]
fn a_labs_own_run_layout_is_found_by_content_and_what_is_missing_is_named() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("report-lab");
    let run = dir.join("lab run");
    run_folder(&run);
    let mv = |from: &str, to: &str| {
        let to = run.join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::rename(run.join(from), to).unwrap();
    };
    mv("eval-good/report.json", "results/resnet18 test/report.json");
    mv("experiments", "grid");
    mv("explain-x", "heatmaps");
    mv("screen/summary.json", "site/summary.json");
    mv("screen/snapshots", "site/snapshots");
    mv("screen/case-S1", "site/state/cases/case-S1");
    mv("export/ood.json", "gate/familiarity.json");
    for gone in ["eval-cut", "eval-huge", "eval-good", "screen", "export"] {
        std::fs::remove_dir_all(run.join(gone)).unwrap();
    }
    let done = write_report(&run, &run.join("report")).unwrap();
    let whys: Vec<String> = done.skipped.iter().map(|s| format!("{}: {}", s.section, s.why)).collect();
    for s in [
        "At a glance",
        "Evaluation on the test patients",
        "Experiment grid",
        "ROC curves and confusion matrices",
        "Explanations: heatmaps, regions of interest, panels",
        "Screening at the edge",
        "Unfamiliar tissue and cases",
    ] {
        assert!(done.sections.iter().any(|d| d == s), "{s} found in the lab's layout: {:?} {whys:#?}", done.sections);
    }
    // What is not there is named with the command that writes it.
    let has = |needle: &str| whys.iter().any(|w| w.contains(needle));
    assert!(has("Model cards: no model bundle (a *.mscm from export)"), "{whys:#?}");
    assert!(
        has("Cohort and patch sets: no patch set (a manifest.parquet from patch, a *.parquet from import-patches)"),
        "{whys:#?}"
    );
    assert!(has("Speed: no benchmark"), "{whys:#?}");
    assert!(has("grid/runs/resnet18-mm-vs-nevi-40X/confusion-patch.svg: missing"), "{whys:#?}");
    // roc.svg, the heatmap and both frames' snapshots beside the lab's summary.
    assert_eq!(done.assets, 4, "{whys:#?}");
    let html = std::fs::read_to_string(&done.page).unwrap();
    assert!(html.contains("results/resnet18 test"), "the evaluation is named by its folder");
    assert!(html.contains("1 of 2 frames right") && html.contains("other-organ-he"));
    assert!(html.contains("href=\"../site/state/cases/case-S1/index.html\""), "the case page where the edge wrote it");
    std::fs::remove_dir_all(&dir).unwrap();
}
