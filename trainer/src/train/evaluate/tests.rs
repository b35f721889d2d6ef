use super::*;

fn patient(id: &str, label: &str, scores: &[f64]) -> Vec<PatchPrediction> {
    scores
        .iter()
        .map(|&p| PatchPrediction {
            slide_id: format!("{id}-S1"),
            patient_id: id.into(),
            label: label.into(),
            class: usize::from(label == "MM"),
            p_melanoma: p,
        })
        .collect()
}

fn data() -> (Vec<PatchPrediction>, Vec<PatchPrediction>) {
    let val = [
        patient("V1", "MM", &[0.8, 0.7, 0.6]),
        patient("V2", "IN", &[0.2, 0.3, 0.1]),
        patient("V3", "CN", &[0.5, 0.4, 0.45]),
    ]
    .concat();
    let test = [
        patient("T1", "MM", &[0.9, 0.8, 0.3]),
        patient("T2", "MM", &[0.6, 0.7, 0.2]),
        patient("T3", "IN", &[0.1, 0.2, 0.4]),
        patient("T4", "JN", &[0.7, 0.1, 0.1]),
    ]
    .concat();
    (val, test)
}

#[test]
fn hand_worked_patch_and_slide_levels_with_validation_thresholds() {
    let (val, test) = data();
    let r = evaluate_binary(&val, &test, Aggregation::Mean, 200, 7).unwrap();
    let patch = &r.levels[0];
    // Validation patches: 0.6 separates MM {0.8, 0.7, 0.6} from the nevi (max 0.5): Youden J = 1.
    assert_eq!((patch.units, patch.positives, patch.threshold.threshold), (12, 6, 0.6));
    // Test patches at 0.6: MM 4 of 6 called, one JN patch (0.7) a false positive.
    let est = |c: &Option<ConfidenceInterval>| c.unwrap().estimate;
    assert!((est(&patch.sensitivity) - 4.0 / 6.0).abs() < 1e-12);
    assert!((est(&patch.specificity) - 5.0 / 6.0).abs() < 1e-12);
    assert!((est(&patch.precision) - 0.8).abs() < 1e-12);
    assert!((est(&patch.f1) - 2.0 * 0.8 * (4.0 / 6.0) / (0.8 + 4.0 / 6.0)).abs() < 1e-12);
    // 30 of 36 MM/nevus pairs ordered right, ties counted half.
    assert!((patch.auc.estimate - 30.0 / 36.0).abs() < 1e-12);
    assert!(patch.auc.lower <= patch.auc.estimate && patch.auc.estimate <= patch.auc.upper);
    assert_eq!(patch.positive_rate_by_label["JN"], 1.0 / 3.0);
    assert_eq!(patch.positive_rate_by_label["IN"], 0.0);

    // Slides by mean probability: validation 0.7 (MM), 0.2, 0.45 -> threshold 0.7; test MM slides
    // average 0.667 and 0.5: perfectly ranked (AUC 1) but both below the validation threshold.
    let slide = &r.levels[1];
    assert_eq!((slide.units, slide.positives), (4, 2));
    assert!((slide.threshold.threshold - 0.7).abs() < 1e-12);
    assert_eq!(slide.auc.estimate, 1.0);
    assert_eq!(est(&slide.sensitivity), 0.0);
    assert_eq!(est(&slide.specificity), 1.0);
    assert!(slide.precision.is_none(), "no slide called positive: precision undefined, not NaN");
    assert_eq!(r.levels[2].level, Level::Patient);
    assert_eq!(serde_json::to_value(&r.levels[2]).unwrap()["level"], "patient", "report.json keeps the spelling");
    assert_eq!(r.levels[2].units, 4);

    let md = r.markdown("mm-vs-nevi, resnet50, 40X");
    assert!(md.contains("| patch | 12 (6) | 0.600 | 0.833"), "{md}");
    assert!(md.contains("| slide | 4 (2) | 0.700 | 1.000"), "{md}");
    assert!(md.contains("n/a"), "{md}");
    let csv = r.csv();
    assert_eq!(csv.lines().count(), 1 + 3 * 5);
    assert!(csv.contains("slide,precision,,,"), "{csv}");
    // The same seed gives the same intervals.
    let again = evaluate_binary(&val, &test, Aggregation::Mean, 200, 7).unwrap();
    assert_eq!(again.markdown("x"), r.markdown("x"));
}

#[test]
fn a_patient_with_one_melanoma_slide_is_a_melanoma_patient_and_single_class_validation_is_an_error() {
    let (val, mut test) = data();
    // T3 gets a second slide, of melanoma.
    test.extend(patient("T3", "MM", &[0.9]).into_iter().map(|mut p| {
        p.slide_id = "T3-S2".into();
        p
    }));
    let r = evaluate_binary(&val, &test, Aggregation::TopK(1), 50, 1).unwrap();
    assert_eq!((r.levels[1].units, r.levels[1].positives), (5, 3));
    assert_eq!((r.levels[2].units, r.levels[2].positives), (4, 3));
    let only_nevi: Vec<PatchPrediction> = val.iter().filter(|p| p.class == 0).cloned().collect();
    let err = evaluate_binary(&only_nevi, &test, Aggregation::Mean, 50, 1).unwrap_err().to_string();
    assert!(err.contains("patch-level validation"), "{err}");
}

/// One patch a patient (a public patch set's per-file ids): the report says the slide and
/// patient rows only repeat the patch row (they equalled it with no note); real patients, none.
#[test]
fn single_patch_patients_are_noted_under_the_table() {
    let (val, test) = data();
    let r = evaluate_binary(&val, &test, Aggregation::Mean, 50, 7).unwrap();
    assert_eq!(r.one_patch_units_note(), None);
    assert!(!r.markdown("t").contains("Note:"));
    let one = |id: &str, label: &str, p: f64| patient(id, label, &[p]);
    let val = [one("A", "MM", 0.8), one("B", "IN", 0.2), one("C", "MM", 0.7), one("D", "CN", 0.3)].concat();
    let test = [one("E", "MM", 0.9), one("F", "IN", 0.1), one("G", "MM", 0.6), one("H", "JN", 0.4)].concat();
    let r = evaluate_binary(&val, &test, Aggregation::Mean, 50, 7).unwrap();
    let note = r.one_patch_units_note().expect("a note");
    assert!(note.contains("slide and patient row(s)") && note.contains("(4)") && note.contains("--patients"), "{note}");
    assert!(r.markdown("t").contains(&note));
}
