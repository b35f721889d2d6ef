use super::grid::{Outcome, RunResult, tables};
use super::plots::{confusion_svg, roc_svg};
use super::{Preset, parse_presets, study_presets};
use crate::train::multiclass::{MulticlassPrediction, evaluate_multiclass};
use crate::train::task::Task;
use melanoscope_shared::metrics::roc_curve;

#[test]
fn the_study_presets_and_their_names() {
    let all = study_presets();
    assert_eq!(all.len(), 9);
    assert_eq!(all.iter().filter(|p| p.task == Task::MmVsNevi).count(), 5);
    assert!(all.contains(&Preset { task: Task::Nevi3, magnification: "40X".into() }));
    assert_eq!(parse_presets("all").unwrap(), all);
    let two = parse_presets("mm-vs-nevi@mixed, nevi-3class@40x").unwrap();
    assert_eq!(two[0].name(), "mm-vs-nevi@mixed");
    assert_eq!(two[1].name(), "nevi-3class@40X");
    let bad = parse_presets("mm-vs-nevi@30X").unwrap_err().to_string();
    assert!(bad.contains("30X") && bad.contains("expected"), "{bad}");
    assert!(parse_presets("mm-vs-nevi").unwrap_err().to_string().contains("task@magnification"));
    assert!(parse_presets("melanoma@40X").unwrap_err().to_string().contains("unknown task"));
}

fn nevi_predictions() -> Vec<MulticlassPrediction> {
    // Three slides per class, four patches each; class 2 (JN) is often taken for CN.
    let mut out = Vec::new();
    for class in 0..3usize {
        for slide in 0..3 {
            for patch in 0..4 {
                let mut probs = vec![0.1; 3];
                let guess = if class == 2 && patch < 3 && slide < 2 { 1 } else { class };
                probs[guess] = 0.8;
                out.push(MulticlassPrediction { slide_id: format!("{class}-{slide}"), class, probs });
                let _ = patch;
            }
        }
    }
    out
}

#[test]
fn three_nevi_are_scored_per_class_with_a_confusion_matrix() {
    let report = evaluate_multiclass(&nevi_predictions(), &["IN", "CN", "JN"], 200, 7).unwrap();
    let patch = &report.levels[0];
    assert_eq!(patch.units, 36);
    // 6 of the 12 JN patches are called CN.
    assert_eq!(patch.confusion, vec![vec![12, 0, 0], vec![0, 12, 0], vec![0, 6, 6]]);
    let acc = patch.accuracy.unwrap();
    assert!((acc.estimate - 30.0 / 36.0).abs() < 1e-12);
    assert!(acc.lower <= acc.estimate && acc.estimate <= acc.upper && acc.upper <= 1.0);
    let jn = &patch.per_class[2];
    assert_eq!(jn.class, "JN");
    assert_eq!(jn.sensitivity, Some(0.5));
    assert_eq!(jn.specificity, Some(1.0));
    let cn = &patch.per_class[1];
    assert!((cn.precision.unwrap() - 12.0 / 18.0).abs() < 1e-12);
    // Slides: the two JN slides with 3 of 4 patches called CN average to CN.
    let slide = &report.levels[1];
    assert_eq!(slide.units, 9);
    assert_eq!(slide.confusion, vec![vec![3, 0, 0], vec![0, 3, 0], vec![0, 2, 1]]);
    let md = report.markdown("nevi");
    assert!(md.contains("| JN | 12 | 0.500 | 1.000 |"), "{md}");
    let bad = evaluate_multiclass(
        &[MulticlassPrediction { slide_id: "s".into(), class: 0, probs: vec![1.0] }],
        &["IN", "CN", "JN"],
        10,
        1,
    );
    assert!(bad.unwrap_err().to_string().contains("expected 3 classes"));
}

#[test]
fn figures_are_svg_with_the_numbers_in_them() {
    let c = roc_curve(&[false, false, true, true], &[0.1, 0.6, 0.4, 0.9]).unwrap();
    let svg = roc_svg("test ROC", &[("patch".into(), c)]).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("AUC 0.750") && svg.contains("polyline"), "{svg}");
    let names: Vec<String> = ["IN", "CN", "JN"].map(String::from).to_vec();
    let m = vec![vec![12, 0, 0], vec![0, 12, 0], vec![0, 6, 6]];
    let svg = confusion_svg("nevi", &names, &m).unwrap();
    // plotters writes each text on its own line.
    let texts: Vec<&str> = svg.lines().collect();
    assert!(texts.contains(&"6") && texts.contains(&"JN") && svg.matches("<rect").count() >= 9, "{svg}");
    assert!(confusion_svg("bad", &names, &[vec![1, 2]]).is_err());
}

#[test]
fn combined_tables_list_every_run_and_what_was_not_run() {
    let report = evaluate_multiclass(&nevi_predictions(), &["IN", "CN", "JN"], 50, 7).unwrap();
    let runs = vec![
        RunResult {
            arch: "resnet50".into(),
            preset: "nevi-3class@40X".into(),
            train_patches: 10,
            test_patches: 36,
            best_val_auc: Some(0.9),
            outcome: Outcome::Multiclass { report },
        },
        RunResult {
            arch: "vgg19".into(),
            preset: "mm-vs-nevi@4X".into(),
            train_patches: 0,
            test_patches: 0,
            best_val_auc: None,
            outcome: Outcome::Skipped { reason: "no train patches of class MM at 4X".into() },
        },
    ];
    let (md, csv) = tables(&runs);
    assert!(md.contains("| resnet50 | nevi-3class@40X | patch |"), "{md}");
    assert!(md.contains("vgg19 mm-vs-nevi@4X: skipped: no train patches of class MM at 4X"), "{md}");
    assert!(csv.lines().any(|l| l.starts_with("resnet50,nevi-3class@40X,slide,accuracy,")), "{csv}");
}
