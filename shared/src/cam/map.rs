use thiserror::Error;

/// What can be wrong with the tensors handed to CAM.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CamError {
    #[error("{what} holds {actual} values; expected {expected} ({detail})")]
    Shape { what: &'static str, expected: usize, actual: usize, detail: String },
    #[error("class {class} is out of range; the classifier has {classes} classes")]
    ClassOutOfRange { class: usize, classes: usize },
    #[error("{what} has a zero dimension ({detail})")]
    Empty { what: &'static str, detail: String },
    #[error("{what} contains a non-finite value at index {index}")]
    NonFinite { what: &'static str, index: usize },
}

/// A borrowed channels × height × width feature map (one image, no batch dimension).
#[derive(Debug, Clone, Copy)]
pub struct FeatureMap<'a> {
    pub data: &'a [f32],
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl<'a> FeatureMap<'a> {
    /// Checks the buffer length and that nothing is NaN or infinite.
    pub fn new(data: &'a [f32], channels: usize, height: usize, width: usize) -> Result<Self, CamError> {
        if channels == 0 || height == 0 || width == 0 {
            return Err(CamError::Empty { what: "feature map", detail: format!("{channels}x{height}x{width}") });
        }
        let expected = channels * height * width;
        if data.len() != expected {
            return Err(CamError::Shape {
                what: "feature map",
                expected,
                actual: data.len(),
                detail: format!("{channels} channels x {height} x {width}"),
            });
        }
        check_finite("feature map", data)?;
        Ok(Self { data, channels, height, width })
    }

    fn plane(&self, c: usize) -> &[f32] {
        let n = self.height * self.width;
        &self.data[c * n..(c + 1) * n]
    }
}

fn check_finite(what: &'static str, data: &[f32]) -> Result<(), CamError> {
    match data.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(CamError::NonFinite { what, index }),
        None => Ok(()),
    }
}

/// CAM for `class`: the weighted sum of feature channels with the linear classifier's
/// weights (`weights` is classes × channels, row-major), then ReLU and 0..1 normalisation.
pub fn class_activation_map(features: &FeatureMap<'_>, weights: &[f32], class: usize) -> Result<Vec<f32>, CamError> {
    let c = features.channels;
    if weights.is_empty() || !weights.len().is_multiple_of(c) {
        return Err(CamError::Shape {
            what: "classifier weights",
            expected: c,
            actual: weights.len(),
            detail: format!("a multiple of the {c} feature channels (classes x channels)"),
        });
    }
    let classes = weights.len() / c;
    if class >= classes {
        return Err(CamError::ClassOutOfRange { class, classes });
    }
    check_finite("classifier weights", weights)?;
    let w = &weights[class * c..(class + 1) * c];
    Ok(weighted_sum(features, w))
}

/// Grad-CAM: channel weights are the spatial means of the class score's gradients with
/// respect to the feature map (`gradients` has the feature map's shape).
pub fn grad_cam(features: &FeatureMap<'_>, gradients: &[f32]) -> Result<Vec<f32>, CamError> {
    let grads =
        FeatureMap::new(gradients, features.channels, features.height, features.width).map_err(|e| match e {
            CamError::Shape { expected, actual, detail, .. } => {
                CamError::Shape { what: "gradients", expected, actual, detail }
            }
            CamError::NonFinite { index, .. } => CamError::NonFinite { what: "gradients", index },
            other => other,
        })?;
    let n = (features.height * features.width) as f32;
    let alphas: Vec<f32> = (0..features.channels).map(|c| grads.plane(c).iter().sum::<f32>() / n).collect();
    Ok(weighted_sum(features, &alphas))
}

fn weighted_sum(features: &FeatureMap<'_>, channel_weights: &[f32]) -> Vec<f32> {
    let mut map = vec![0.0f32; features.height * features.width];
    for (c, wc) in channel_weights.iter().enumerate() {
        for (m, a) in map.iter_mut().zip(features.plane(c)) {
            *m += wc * a;
        }
    }
    normalize_map(&mut map);
    map
}

/// ReLU, then min–max scaling to 0..1. A flat map (nothing above zero) becomes all zeros.
pub fn normalize_map(map: &mut [f32]) {
    map.iter_mut().for_each(|v| *v = v.max(0.0));
    let (lo, hi) = map.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let range = hi - lo;
    if range.is_finite() && range > f32::EPSILON * hi.abs().max(1.0) {
        map.iter_mut().for_each(|v| *v = (*v - lo) / range);
    } else {
        map.iter_mut().for_each(|v| *v = 0.0);
    }
}

/// Bilinear upsampling with half-pixel centres (PyTorch `align_corners=False`).
pub fn upsample_bilinear(
    map: &[f32],
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
) -> Result<Vec<f32>, CamError> {
    if height == 0 || width == 0 || out_height == 0 || out_width == 0 {
        return Err(CamError::Empty { what: "map", detail: format!("{height}x{width} to {out_height}x{out_width}") });
    }
    if map.len() != height * width {
        return Err(CamError::Shape {
            what: "map",
            expected: height * width,
            actual: map.len(),
            detail: format!("{height} x {width}"),
        });
    }
    let coords = |out: usize, inp: usize| -> Vec<(usize, usize, f32)> {
        let scale = inp as f32 / out as f32;
        (0..out)
            .map(|o| {
                let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (src.floor() as usize).min(inp - 1);
                let i1 = (i0 + 1).min(inp - 1);
                (i0, i1, src - i0 as f32)
            })
            .collect()
    };
    let (ys, xs) = (coords(out_height, height), coords(out_width, width));
    let mut out = Vec::with_capacity(out_height * out_width);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            let top = map[y0 * width + x0] * (1.0 - fx) + map[y0 * width + x1] * fx;
            let bottom = map[y1 * width + x0] * (1.0 - fx) + map[y1 * width + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cam_weights_channels_and_normalises() {
        // Two channels, 1x3 map.
        let feats = [1.0, 2.0, 3.0, 3.0, 0.0, 0.0];
        let f = FeatureMap::new(&feats, 2, 1, 3).unwrap();
        // Class 1 weights (1, -1): raw 1-3, 2-0, 3-0 = -2, 2, 3 -> relu 0, 2, 3 -> 0, 2/3, 1.
        let cam = class_activation_map(&f, &[0.0, 0.0, 1.0, -1.0], 1).unwrap();
        let expect = [0.0, 2.0 / 3.0, 1.0];
        for (a, b) in cam.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn grad_cam_equals_cam_for_gap_linear_head() {
        // For logits = W * mean(A), d logit_k / d A_c(i,j) = W_kc / (H*W) everywhere.
        let (c, h, w) = (4, 3, 5);
        let mut rng = crate::rng::SplitMix64::new(3);
        let feats: Vec<f32> = (0..c * h * w).map(|_| rng.next_f64() as f32).collect();
        let weights: Vec<f32> = (0..2 * c).map(|_| rng.next_f64() as f32 - 0.5).collect();
        let f = FeatureMap::new(&feats, c, h, w).unwrap();
        for class in 0..2 {
            let grads: Vec<f32> =
                (0..c).flat_map(|ch| std::iter::repeat_n(weights[class * c + ch] / (h * w) as f32, h * w)).collect();
            let cam = class_activation_map(&f, &weights, class).unwrap();
            let gcam = grad_cam(&f, &grads).unwrap();
            for (a, b) in cam.iter().zip(&gcam) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn shape_errors_are_reported() {
        assert!(matches!(FeatureMap::new(&[0.0; 5], 2, 1, 3), Err(CamError::Shape { expected: 6, .. })));
        assert!(matches!(FeatureMap::new(&[f32::NAN; 6], 2, 1, 3), Err(CamError::NonFinite { index: 0, .. })));
        let feats = [0.0; 6];
        let f = FeatureMap::new(&feats, 2, 1, 3).unwrap();
        assert!(matches!(class_activation_map(&f, &[0.0; 3], 0), Err(CamError::Shape { .. })));
        assert!(matches!(
            class_activation_map(&f, &[0.0; 4], 2),
            Err(CamError::ClassOutOfRange { class: 2, classes: 2 })
        ));
        let err = grad_cam(&f, &[0.0; 7]).unwrap_err();
        assert!(err.to_string().starts_with("gradients holds 7"), "{err}");
        assert!(upsample_bilinear(&[0.0; 3], 2, 2, 4, 4).is_err());
    }

    #[test]
    fn flat_map_is_zero() {
        let mut m = [-1.0, -2.0, -3.0];
        normalize_map(&mut m);
        assert_eq!(m, [0.0; 3]);
    }

    #[test]
    fn bilinear_matches_torch_half_pixel_rule() {
        // torch.nn.functional.interpolate([[0, 1]], size=4, mode='bilinear', align_corners=False)
        // gives [0, 0.25, 0.75, 1] along the row.
        let up = upsample_bilinear(&[0.0, 1.0], 1, 2, 1, 4).unwrap();
        assert_eq!(up, vec![0.0, 0.25, 0.75, 1.0]);
        let same = upsample_bilinear(&[0.1, 0.2, 0.3, 0.4], 2, 2, 2, 2).unwrap();
        assert_eq!(same, vec![0.1, 0.2, 0.3, 0.4]);
    }
}
