//! Other labs' H&E: the test fields re-stained in lab styles beyond the training's stain
//! jitter (`melanoscope_synth::stains::LabStyle`), each given to the network as re-stained,
//! normalised by Reinhard's method and by Macenko's to targets fitted on training fields. For
//! each style and method: the patch AUC, the share of fields the familiarity threshold passes,
//! and the share the edge's whole gate passes (familiarity, and the stain check on the field
//! as the camera shows it, before normalisation).

use super::{FieldScores, OodError, Scorer, gate_score};
use melanoscope_shared::formats::{LabStats, MacenkoStain};
use melanoscope_shared::image::{FieldRect, RgbImage};
use melanoscope_shared::stain::{MacenkoParams, macenko, reinhard};
use melanoscope_synth::stains::{LabStyle, restyle};

/// One lab style through one normalisation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StyleResult {
    /// `as-read` (the test fields themselves) or a [`LabStyle`]'s name.
    pub style: String,
    /// `none`, `reinhard` or `macenko`.
    pub method: String,
    pub fields: usize,
    /// Fields whose normalisation fell back to the re-stained field (no fit possible).
    pub fallbacks: usize,
    #[serde(deserialize_with = "melanoscope_shared::metrics::f64_or_nan")]
    pub patch_auc: f64,
    pub familiarity_pass: f64,
    /// With the bundle's stain target: the share passing familiarity and the stain check.
    #[serde(default)]
    pub gate_pass: Option<f64>,
}

/// The share of fields passing the gate after one normalisation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MethodPass {
    pub method: String,
    pub pass: f64,
}

/// The normalisation targets, fitted on training fields.
pub(super) struct Targets {
    pub reinhard: LabStats,
    pub macenko: MacenkoStain,
}

const METHODS: [&str; 3] = ["none", "reinhard", "macenko"];

/// `field` normalised by `method`; `None` when the method could not fit it.
fn normalised(field: &RgbImage, method: &str, t: &Targets) -> Option<RgbImage> {
    match method {
        "reinhard" => reinhard::normalise(field, &t.reinhard).ok(),
        "macenko" => macenko::normalise(field, &t.macenko, &MacenkoParams::default()).ok(),
        _ => Some(field.clone()),
    }
}

/// The share of `fields` (an outside set's, whose stain check read `raw_stain` as they came)
/// that the gate passes after each normalisation.
pub(super) fn normalised_pass(
    s: &mut Scorer,
    set: &str,
    fields: &[RgbImage],
    raw_stain: &[f32],
    targets: &Targets,
    threshold: f32,
) -> Result<Vec<MethodPass>, OodError> {
    let mut out = Vec::new();
    for method in ["reinhard", "macenko"] {
        let mut passed = 0;
        for (field, stain) in fields.iter().zip(raw_stain) {
            let input = normalised(field, method, targets).unwrap_or_else(|| field.clone());
            let rect = FieldRect::square(0, 0, input.width().min(input.height()));
            let f = s.score_image(&input, rect, |source| OodError::Image {
                set: format!("{set}, {method}"),
                path: "(fields)".into(),
                source,
            })?;
            if gate_score(&FieldScores { familiarity: f.familiarity, stain: *stain }, threshold) <= 1.0 {
                passed += 1;
            }
        }
        out.push(MethodPass { method: method.into(), pass: passed as f64 / fields.len().max(1) as f64 });
    }
    Ok(out)
}

/// Every style (and the fields as read) through every method.
pub(super) fn measure_styles(
    s: &mut Scorer,
    fields: &[RgbImage],
    positives: &[bool],
    targets: &Targets,
    threshold: f32,
    checked: bool,
) -> Result<Vec<StyleResult>, OodError> {
    let styles: Vec<Option<LabStyle>> = std::iter::once(None).chain(LabStyle::ALL.map(Some)).collect();
    let bar = crate::progress::bar((styles.len() * METHODS.len() * fields.len()) as u64, "ood: lab styles", "fields");
    let mut out = Vec::new();
    for style in styles {
        let name = style.map_or("as-read", |st| st.name());
        let shown: Vec<RgbImage> =
            fields.iter().map(|f| style.map_or_else(|| f.clone(), |st| restyle(f, st))).collect();
        let excess: Vec<f32> =
            shown.iter().map(|f| s.stain_excess(f, FieldRect::square(0, 0, f.width().min(f.height())))).collect();
        for method in METHODS {
            let (mut probabilities, mut scores, mut fallbacks) = (Vec::new(), Vec::new(), 0);
            for (field, stain) in shown.iter().zip(&excess) {
                let input = normalised(field, method, targets).unwrap_or_else(|| {
                    fallbacks += 1;
                    field.clone()
                });
                let rect = FieldRect::square(0, 0, input.width().min(input.height()));
                let set = || format!("lab style {name}, {method}");
                let f = s.score_image(&input, rect, |source| OodError::Image {
                    set: set(),
                    path: "(test fields)".into(),
                    source,
                })?;
                probabilities.push(f64::from(s.probability()));
                scores.push(FieldScores { familiarity: f.familiarity, stain: *stain });
                bar.inc(1);
            }
            let n = scores.len().max(1) as f64;
            let familiarity_pass = scores.iter().filter(|f| f.familiarity <= threshold).count() as f64 / n;
            let gate_pass =
                checked.then(|| scores.iter().filter(|f| gate_score(f, threshold) <= 1.0).count() as f64 / n);
            out.push(StyleResult {
                style: name.into(),
                method: method.into(),
                fields: scores.len(),
                fallbacks,
                patch_auc: melanoscope_shared::metrics::auc(positives, &probabilities).unwrap_or(f64::NAN),
                familiarity_pass,
                gate_pass,
            });
        }
    }
    bar.finish_and_clear();
    Ok(out)
}
