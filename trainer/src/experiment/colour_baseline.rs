//! How far colour alone gets on a patch set: per-patch mean and spread of R, G and B, a
//! class-balanced logistic regression for melanoma vs nevi trained on the training patients,
//! scored on the test patients. On the synthetic cohort this should sit near chance, which shows
//! that a model has to use morphology.

use melanoscope_shared::metrics::{MultiConfusion, auc};
use melanoscope_slides::manifest::ManifestRow;
use melanoscope_slides::patching::read_patch;
use melanoscope_slides::slide::Slide;
use melanoscope_slides::split::{Partition, PatientSplit};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct ColourBaselineReport {
    pub magnification: String,
    pub train_patches: usize,
    pub test_patches: usize,
    pub features: &'static str,
    /// Patch-level AUC of melanoma vs nevi on the test patients.
    pub mm_vs_nevi_auc: f64,
    /// Four-class accuracy of a nearest-centroid rule on the same features (chance = 0.25 for balanced classes).
    pub four_class_accuracy: f64,
    pub four_class_chance: f64,
}

fn features(img: &melanoscope_shared::image::RgbImage) -> [f64; 6] {
    let n = f64::from(img.width() * img.height());
    let (mut sum, mut sq) = ([0f64; 3], [0f64; 3]);
    for p in img.as_raw().chunks_exact(3) {
        for c in 0..3 {
            let v = f64::from(p[c]) / 255.0;
            sum[c] += v;
            sq[c] += v * v;
        }
    }
    let mean: [f64; 3] = core::array::from_fn(|c| sum[c] / n);
    [
        mean[0],
        mean[1],
        mean[2],
        (sq[0] / n - mean[0] * mean[0]).max(0.0).sqrt(),
        (sq[1] / n - mean[1] * mean[1]).max(0.0).sqrt(),
        (sq[2] / n - mean[2] * mean[2]).max(0.0).sqrt(),
    ]
}

/// Why the colour baseline could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(transparent)]
    Slide(#[from] melanoscope_slides::slide::SlideError),
    #[error("{0}")]
    Data(String),
    #[error("{what}")]
    Metrics { what: &'static str, source: melanoscope_shared::metrics::MetricsError },
}

/// Reads every patch of `magnification` in `rows`, trains on the split's training patients
/// and scores on its test patients.
pub fn colour_only_baseline(
    rows: &[ManifestRow],
    split: &PatientSplit,
    magnification: &str,
) -> Result<ColourBaselineReport, BaselineError> {
    let mut slides: HashMap<String, Slide> = HashMap::new();
    let classes = ["MM", "IN", "CN", "JN"];
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for r in rows.iter().filter(|r| r.magnification == magnification) {
        let Some(part) = split.partition_of(&r.patient_id) else { continue };
        if part == Partition::Validation {
            continue;
        }
        if !slides.contains_key(&r.slide) {
            let s = Slide::open(Path::new(&r.slide), None)?;
            slides.insert(r.slide.clone(), s);
        }
        let slide = &slides[&r.slide];
        let img = read_patch(slide, r.requested_um_per_px, r.x0 as u64, r.y0 as u64, r.patch_size as u32)?;
        let class = classes
            .iter()
            .position(|c| *c == r.label)
            .ok_or_else(|| BaselineError::Data(format!("unknown label {}", r.label)))?;
        let item = (features(&img), class);
        if part == Partition::Train { train.push(item) } else { test.push(item) }
    }
    if train.is_empty() || test.is_empty() {
        return Err(BaselineError::Data(format!("no {magnification} patches in the train or test partition")));
    }
    // Standardise with the training statistics.
    let dims = 6;
    let mean: Vec<f64> = (0..dims).map(|d| train.iter().map(|(f, _)| f[d]).sum::<f64>() / train.len() as f64).collect();
    let sd: Vec<f64> = (0..dims)
        .map(|d| {
            (train.iter().map(|(f, _)| (f[d] - mean[d]).powi(2)).sum::<f64>() / train.len() as f64).sqrt().max(1e-9)
        })
        .collect();
    let z = |f: &[f64; 6]| -> Vec<f64> { (0..dims).map(|d| (f[d] - mean[d]) / sd[d]).collect() };
    // Standardised once, not on every gradient step.
    let train: Vec<(Vec<f64>, usize)> = train.iter().map(|(f, c)| (z(f), *c)).collect();
    let test: Vec<(Vec<f64>, usize)> = test.iter().map(|(f, c)| (z(f), *c)).collect();
    // Class-balanced logistic regression, full-batch gradient descent.
    let positives = train.iter().filter(|(_, c)| *c == 0).count().max(1) as f64;
    let negatives = (train.len() as f64 - positives).max(1.0);
    let (mut w, mut b) = (vec![0.0; dims], 0.0);
    for _ in 0..2000 {
        let (mut gw, mut gb) = (vec![0.0; dims], 0.0);
        for (x, c) in &train {
            let p = 1.0 / (1.0 + (-(b + x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>())).exp());
            let (y, weight) = if *c == 0 { (1.0, 0.5 / positives) } else { (0.0, 0.5 / negatives) };
            for d in 0..dims {
                gw[d] += weight * (p - y) * x[d];
            }
            gb += weight * (p - y);
        }
        for d in 0..dims {
            w[d] -= 0.5 * gw[d];
        }
        b -= 0.5 * gb;
    }
    let labels: Vec<bool> = test.iter().map(|(_, c)| *c == 0).collect();
    let scores: Vec<f64> = test.iter().map(|(x, _)| b + x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()).collect();
    let mm_vs_nevi_auc =
        auc(&labels, &scores).map_err(|source| BaselineError::Metrics { what: "AUC on the test patients", source })?;
    // Nearest centroid over the four classes.
    let centroids: Vec<Vec<f64>> = (0..4)
        .map(|k| {
            let members: Vec<&Vec<f64>> = train.iter().filter(|(_, c)| *c == k).map(|(x, _)| x).collect();
            (0..dims).map(|d| members.iter().map(|m| m[d]).sum::<f64>() / members.len().max(1) as f64).collect()
        })
        .collect();
    let truth: Vec<usize> = test.iter().map(|(_, c)| *c).collect();
    let predicted: Vec<usize> = test
        .iter()
        .map(|(x, _)| {
            let dist = |c: &Vec<f64>| x.iter().zip(c).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
            (0..4).min_by(|a, b| dist(&centroids[*a]).total_cmp(&dist(&centroids[*b]))).unwrap_or(0)
        })
        .collect();
    let cm = MultiConfusion::from_predictions(&truth, &predicted, 4)
        .map_err(|source| BaselineError::Metrics { what: "confusion matrix", source })?;
    let largest = (0..4).map(|k| truth.iter().filter(|t| **t == k).count()).max().unwrap_or(0);
    Ok(ColourBaselineReport {
        magnification: magnification.into(),
        train_patches: train.len(),
        test_patches: test.len(),
        features: "mean and standard deviation of R, G, B per patch",
        mm_vs_nevi_auc,
        four_class_accuracy: cm.accuracy(),
        four_class_chance: largest as f64 / truth.len() as f64,
    })
}
