//! The metrics against independent reference values computed by scikit-learn
//! (`fixtures/make_metrics_fixtures.py` wrote `fixtures/metrics_reference.json`).

use melanoscope_shared::metrics::{
    BinaryConfusion, MultiConfusion, ThresholdRule, auc, choose_threshold, macro_auc_ovr, one_vs_rest_auc, roc_curve,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct AtHalf {
    tn: u64,
    fp: u64,
    #[serde(rename = "fn")]
    fn_: u64,
    tp: u64,
    precision: f64,
    recall: f64,
    f1: f64,
    specificity: f64,
}

#[derive(Deserialize)]
struct BinaryCase {
    name: String,
    labels: Vec<bool>,
    scores: Vec<f64>,
    auc: f64,
    roc_fpr: Vec<f64>,
    roc_tpr: Vec<f64>,
    roc_thresholds_finite: Vec<f64>,
    at_0_5: AtHalf,
    youden_threshold: f64,
}

#[derive(Deserialize)]
struct Multi {
    labels: Vec<usize>,
    probs: Vec<f64>,
    classes: usize,
    ovr_auc: Vec<f64>,
    macro_auc: f64,
    confusion: Vec<Vec<u64>>,
    precision: Vec<f64>,
    recall: Vec<f64>,
    f1: Vec<f64>,
    #[serde(rename = "macro")]
    macro_avg: [f64; 3],
}

#[derive(Deserialize)]
struct Reference {
    binary: Vec<BinaryCase>,
    multiclass: Multi,
}

fn reference() -> Reference {
    let text = include_str!("fixtures/metrics_reference.json");
    serde_json::from_str(text).expect("fixture parses")
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-12, "{what}: {a} vs scikit-learn {b}");
}

#[test]
fn binary_metrics_match_scikit_learn() {
    let r = reference();
    assert_eq!(r.binary.len(), 4);
    for c in &r.binary {
        close(auc(&c.labels, &c.scores).unwrap(), c.auc, &format!("{} auc", c.name));
        let curve = roc_curve(&c.labels, &c.scores).unwrap();
        assert_eq!(curve.fpr.len(), c.roc_fpr.len(), "{} roc points", c.name);
        for i in 0..curve.fpr.len() {
            close(curve.fpr[i], c.roc_fpr[i], &format!("{} fpr[{i}]", c.name));
            close(curve.tpr[i], c.roc_tpr[i], &format!("{} tpr[{i}]", c.name));
        }
        assert_eq!(&curve.thresholds[1..], &c.roc_thresholds_finite[..], "{}", c.name);
        let m = BinaryConfusion::at_threshold(&c.labels, &c.scores, 0.5).unwrap();
        let h = &c.at_0_5;
        assert_eq!((m.tn, m.fp, m.fn_, m.tp), (h.tn, h.fp, h.fn_, h.tp), "{}", c.name);
        close(m.precision().unwrap_or(0.0), h.precision, "precision");
        close(m.recall().unwrap(), h.recall, "recall");
        close(m.f1().unwrap_or(0.0), h.f1, "f1");
        close(m.specificity().unwrap(), h.specificity, "specificity");
        let y = choose_threshold(&c.labels, &c.scores, ThresholdRule::Youden).unwrap();
        assert_eq!(y.threshold, c.youden_threshold, "{} youden", c.name);
    }
}

#[test]
fn multiclass_metrics_match_scikit_learn() {
    let m = reference().multiclass;
    let per = one_vs_rest_auc(&m.labels, &m.probs, m.classes).unwrap();
    for (a, b) in per.iter().zip(&m.ovr_auc) {
        close(*a, *b, "ovr auc");
    }
    close(macro_auc_ovr(&m.labels, &m.probs, m.classes).unwrap(), m.macro_auc, "macro auc");
    let cm = MultiConfusion::from_probabilities(&m.labels, &m.probs, m.classes).unwrap();
    assert_eq!(cm.counts, m.confusion);
    for k in 0..m.classes {
        let rep = cm.report(k);
        close(rep.precision.unwrap_or(0.0), m.precision[k], "precision");
        close(rep.recall.unwrap_or(0.0), m.recall[k], "recall");
        close(rep.f1.unwrap_or(0.0), m.f1[k], "f1");
    }
    let (p, r, f) = cm.macro_average();
    close(p, m.macro_avg[0], "macro precision");
    close(r, m.macro_avg[1], "macro recall");
    close(f, m.macro_avg[2], "macro f1");
}
