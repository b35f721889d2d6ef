//! What one frame showed: its gate readings, the gate that stopped it, each field's
//! probabilities and CAM, and the frame's probability. Written by the screen's analyser, read by
//! the screen, the verdict tracker and the case book: below all of them.

use crate::gates::{Gate, GateReadings};
use melanoscope_shared::stain::StainReading;
use std::time::Instant;

/// Milliseconds since `t`: how every stage time of a frame is taken.
pub fn elapsed_ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// One screened field of the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldResult {
    pub col: u16,
    pub row: u16,
    /// Where the field lies in the frame's pixels.
    pub frame_rect: (f64, f64, f64),
    pub probabilities: Vec<f32>,
    /// The positive class's CAM (feature-map resolution, row-major), scaled by the field's
    /// positive probability so that fields the model calls benign stay cold on the overlay.
    pub heat: Vec<f32>,
    pub heat_size: (usize, usize),
    /// The field's familiarity score (`None`: the gate is off), and whether it is above the
    /// bundle's threshold.
    pub familiarity: Option<f32>,
    pub unfamiliar: bool,
}

/// Milliseconds spent in each stage of one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StageTimes {
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub cam_ms: f64,
    /// Pooling the features and scoring every field's familiarity.
    pub familiarity_ms: f64,
    /// Fitting and checking the frame's stain, and mapping its fields (inside `preprocess_ms`).
    pub stain_ms: f64,
}

/// What one frame showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub readings: GateReadings,
    /// The gate that stopped this frame, if any (no inference then).
    pub gate: Option<Gate>,
    pub fields: Vec<FieldResult>,
    /// The frame's positive-class probability (aggregated over fields), when screened.
    pub probability: Option<f64>,
    /// Tissue fields above the familiarity threshold (0 with the gate off).
    pub unfamiliar_fields: usize,
    /// The frame's stain against the bundle's (`None`: the check is off, or no tissue field).
    pub stain: Option<StainReading>,
    pub times: StageTimes,
}
