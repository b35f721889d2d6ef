//! Whether the objective in use can give the bundle's fields at all, checked once at start
//! (a 10X objective with a 40X model would otherwise fail every frame). Messages are in a
//! technician's words: objectives by their power, not scans and tolerances.

use melanoscope_shared::image::DEFAULT_UPSAMPLE_TOLERANCE;

/// Why the objective and camera cannot serve the model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ObjectiveMismatch {
    #[error(
        "this model needs a {need} objective ({model_um:?} µm/px); objective {objective} gives {frame_um:?} µm/px. \
         Put in the {need} objective and set camera.objective to it (then calibrate it), or install a model \
         made for {have}"
    )]
    TooCoarse { objective: String, frame_um: f64, model_um: f64, need: String, have: String },
    #[error(
        "camera frames of {width}x{height} px with objective {objective} ({frame_um:?} µm/px) are {resampled_w}x{resampled_h} px \
         at the model's {model_um:?} µm/px, smaller than one {field}x{field} field. Set a larger camera.width/height"
    )]
    FrameTooSmall {
        objective: String,
        width: u32,
        height: u32,
        frame_um: f64,
        model_um: f64,
        resampled_w: u32,
        resampled_h: u32,
        field: u32,
    },
}

/// The nominal power of an objective giving `um_per_px` on the study's scale (40X = 0.25 µm/px,
/// 10X = 1.0 µm/px): "40X".
pub fn nominal_power(um_per_px: f64) -> String {
    format!("{:.0}X", 10.0 / um_per_px)
}

/// Checks that frames at `frame_um` µm/px (of `frame_size` pixels, when the camera's size is
/// fixed) can be cut into `field`-pixel fields at the model's `model_um`.
pub fn check_objective(
    objective: &str,
    frame_um: f64,
    model_um: f64,
    field: u32,
    frame_size: Option<(u32, u32)>,
) -> Result<(), ObjectiveMismatch> {
    // Rounded for the message: calibrations carry many digits.
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    if frame_um > model_um * (1.0 + DEFAULT_UPSAMPLE_TOLERANCE) {
        return Err(ObjectiveMismatch::TooCoarse {
            objective: objective.into(),
            frame_um: round(frame_um),
            model_um: round(model_um),
            need: nominal_power(model_um),
            have: nominal_power(frame_um),
        });
    }
    if let Some((width, height)) = frame_size {
        let scale = frame_um / model_um;
        let (rw, rh) = ((f64::from(width) * scale).floor() as u32, (f64::from(height) * scale).floor() as u32);
        if rw < field || rh < field {
            return Err(ObjectiveMismatch::FrameTooSmall {
                objective: objective.into(),
                width,
                height,
                frame_um: round(frame_um),
                model_um: round(model_um),
                resampled_w: rw,
                resampled_h: rh,
                field,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_10x_objective_with_a_40x_model_is_named_in_a_technicians_words() {
        let e = check_objective("10x", 1.0, 0.25, 256, Some((1920, 1080))).unwrap_err().to_string();
        assert!(e.starts_with("this model needs a 40X objective (0.25 µm/px); objective 10x gives 1.0 µm/px"), "{e}");
        assert!(e.contains("made for 10X") && !e.contains("tolerance") && !e.contains("scan"), "{e}");
        // Within the calibration tolerance (a 40X measured at 0.2575): accepted.
        assert_eq!(check_objective("40x", 0.2575, 0.25, 256, Some((1920, 1080))), Ok(()));
        // Finer objectives are fine (frames are shrunk).
        assert_eq!(check_objective("60x", 0.16, 0.25, 256, Some((1920, 1080))), Ok(()));
    }

    #[test]
    fn frames_smaller_than_one_field_are_refused_at_start() {
        // 320x240 at 0.25 -> 320x240: one field fits.
        assert_eq!(check_objective("40x", 0.25, 0.25, 256, Some((320, 260))), Ok(()));
        // 640x480 at 0.16 µm/px -> 409x307 at 0.25: fits; 320x240 -> 204x153: does not.
        assert_eq!(check_objective("60x", 0.16, 0.25, 256, Some((640, 480))), Ok(()));
        let e = check_objective("60x", 0.16, 0.25, 256, Some((320, 240))).unwrap_err();
        assert!(matches!(e, ObjectiveMismatch::FrameTooSmall { resampled_w: 204, resampled_h: 153, .. }), "{e:?}");
        assert!(e.to_string().contains("smaller than one 256x256 field"), "{e}");
        // Replayed files have no fixed size: only the power is checked.
        assert_eq!(check_objective("60x", 0.16, 0.25, 256, None), Ok(()));
    }
}
