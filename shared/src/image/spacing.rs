use super::ImageError;
use serde::{Deserialize, Serialize};

/// How much finer than the scan a target may be and still be served by the
/// scan's own pixels (3%: scanners report 0.2425–0.2525 µm/px for "40X").
pub const DEFAULT_UPSAMPLE_TOLERANCE: f64 = 0.03;

/// Physical size of one pixel in micrometres, per axis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PixelSpacing {
    pub x: f64,
    pub y: f64,
}

impl PixelSpacing {
    /// Square pixels of `um` µm; validated.
    pub fn isotropic(um: f64) -> Result<Self, ImageError> {
        Self::new(um, um)
    }

    /// Pixels of `x` by `y` µm; both must be finite and positive.
    pub fn new(x: f64, y: f64) -> Result<Self, ImageError> {
        check_um("x", x)?;
        check_um("y", y)?;
        Ok(Self { x, y })
    }
}

pub(crate) fn check_um(field: &'static str, value: f64) -> Result<(), ImageError> {
    if value.is_finite() && value > 0.0 { Ok(()) } else { Err(ImageError::BadSpacing { field, value }) }
}
