//! Conversion of a field to the model's input tensor: `(pixel / 255 - mean) / std` per channel.

use super::tissue::check_rect;
use super::{FieldRect, ImageError, RgbImage};
use serde::{Deserialize, Serialize};

/// Memory layout of one field's tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TensorLayout {
    /// Channels, then rows, then columns (PyTorch, ONNX default).
    #[default]
    Nchw,
    /// Rows, columns, channels (channels-last).
    Nhwc,
}

/// Per-channel mean and standard deviation of the model's training inputs (0..1 scale).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalization {
    /// The ImageNet statistics that torchvision's pretrained ResNet and VGG weights expect.
    pub const IMAGENET: Normalization = Normalization { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

    /// Checks that every mean is finite and every std finite and positive.
    pub fn validate(&self) -> Result<(), ImageError> {
        for c in 0..3 {
            if !self.mean[c].is_finite() {
                return Err(ImageError::BadNormalization { field: "mean", channel: c, value: self.mean[c], extra: "" });
            }
            if !(self.std[c].is_finite() && self.std[c] > 0.0) {
                return Err(ImageError::BadNormalization {
                    field: "std",
                    channel: c,
                    value: self.std[c],
                    extra: " above 0",
                });
            }
        }
        Ok(())
    }

    /// `(v/255 - mean)/std` as one multiply-add per value, `v * scale + bias`: the exact form
    /// (same operations, same rounding) every implementation uses, on the CPU here and on the
    /// trainer's GPU, so the edge sees bit-identical inputs.
    pub fn scale_bias(&self) -> ([f32; 3], [f32; 3]) {
        (core::array::from_fn(|c| 1.0 / (255.0 * self.std[c])), core::array::from_fn(|c| -self.mean[c] / self.std[c]))
    }

    /// The inverse map for one channel, for showing a tensor as an image again.
    pub fn denormalize(&self, channel: usize, value: f32) -> u8 {
        ((value * self.std[channel] + self.mean[channel]) * 255.0 + 0.5).clamp(0.0, 255.0) as u8
    }
}

/// Writes the tensor of the field `rect` of `image` into `out`, which must hold `3 * size * size` values.
pub fn field_to_tensor(
    image: &RgbImage,
    rect: FieldRect,
    norm: &Normalization,
    layout: TensorLayout,
    out: &mut [f32],
) -> Result<(), ImageError> {
    norm.validate()?;
    check_rect(image, rect)?;
    let s = rect.size as usize;
    let expected = 3 * s * s;
    if out.len() != expected {
        return Err(ImageError::TensorSize { w: rect.size, h: rect.size, expected, actual: out.len() });
    }
    let (scale, bias) = norm.scale_bias();
    let plane = s * s;
    for dy in 0..s {
        let row = &image.row(rect.y + dy as u32)[rect.x as usize * 3..(rect.x as usize + s) * 3];
        match layout {
            TensorLayout::Nchw => {
                for c in 0..3 {
                    let dst = &mut out[c * plane + dy * s..c * plane + (dy + 1) * s];
                    for (d, px) in dst.iter_mut().zip(row.chunks_exact(3)) {
                        *d = f32::from(px[c]) * scale[c] + bias[c];
                    }
                }
            }
            TensorLayout::Nhwc => {
                let dst = &mut out[dy * s * 3..(dy + 1) * s * 3];
                for (i, (d, v)) in dst.iter_mut().zip(row).enumerate() {
                    let c = i % 3;
                    *d = f32::from(*v) * scale[c] + bias[c];
                }
            }
        }
    }
    Ok(())
}

/// Writes the field `rect` of `image` as 8-bit channel planes (C×H×W) into `out`, which must
/// hold `3 * size * size` bytes: the trainer ships these to the GPU (a quarter of the bytes of
/// floats) and normalises there with [`Normalization::scale_bias`].
pub fn field_to_planes(image: &RgbImage, rect: FieldRect, out: &mut [u8]) -> Result<(), ImageError> {
    check_rect(image, rect)?;
    let s = rect.size as usize;
    let expected = 3 * s * s;
    if out.len() != expected {
        return Err(ImageError::TensorSize { w: rect.size, h: rect.size, expected, actual: out.len() });
    }
    let plane = s * s;
    for dy in 0..s {
        let row = &image.row(rect.y + dy as u32)[rect.x as usize * 3..(rect.x as usize + s) * 3];
        for c in 0..3 {
            let dst = &mut out[c * plane + dy * s..c * plane + (dy + 1) * s];
            for (d, px) in dst.iter_mut().zip(row.chunks_exact(3)) {
                *d = px[c];
            }
        }
    }
    Ok(())
}

/// Normalises fields stored as 8-bit planes (C×H×W each, `side` square, as
/// [`field_to_planes`] writes them) into `out`, with the same multiply-add as
/// [`field_to_tensor`].
pub fn planes_to_tensor(planes: &[u8], side: usize, norm: &Normalization, out: &mut [f32]) -> Result<(), ImageError> {
    norm.validate()?;
    let plane = side * side;
    if plane == 0 || out.len() != planes.len() || !planes.len().is_multiple_of(3 * plane) {
        return Err(ImageError::TensorSize {
            w: side as u32,
            h: side as u32,
            expected: planes.len(),
            actual: out.len(),
        });
    }
    let (scale, bias) = norm.scale_bias();
    for (k, (pi, po)) in planes.chunks(plane).zip(out.chunks_mut(plane)).enumerate() {
        let c = k % 3;
        for (d, v) in po.iter_mut().zip(pi) {
            *d = f32::from(*v) * scale[c] + bias[c];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_in_both_layouts() {
        let mut img = RgbImage::filled(2, 2, [0, 128, 255]).unwrap();
        img.put(1, 0, [255, 0, 0]);
        let rect = FieldRect::square(0, 0, 2);
        let n = Normalization { mean: [0.5; 3], std: [0.5; 3] };
        let mut chw = vec![0.0; 12];
        field_to_tensor(&img, rect, &n, TensorLayout::Nchw, &mut chw).unwrap();
        assert!((chw[0] + 1.0).abs() < 1e-6); // R of (0,0) = 0 -> -1
        assert!((chw[1] - 1.0).abs() < 1e-6); // R of (1,0) = 255 -> +1
        assert!((chw[8 + 1] + 1.0).abs() < 1e-6); // B of (1,0) = 0 -> -1
        let mut hwc = vec![0.0; 12];
        field_to_tensor(&img, rect, &n, TensorLayout::Nhwc, &mut hwc).unwrap();
        for c in 0..3 {
            for p in 0..4 {
                assert_eq!(chw[c * 4 + p], hwc[p * 3 + c]);
            }
        }
        assert_eq!(n.denormalize(1, chw[4]), 128);
        // The planes, normalised with scale_bias, are the tensor bit for bit.
        let mut planes = vec![0u8; 12];
        field_to_planes(&img, rect, &mut planes).unwrap();
        let (scale, bias) = n.scale_bias();
        for (i, (p, t)) in planes.iter().zip(&chw).enumerate() {
            assert_eq!(f32::from(*p) * scale[i / 4] + bias[i / 4], *t);
        }
        assert!(field_to_planes(&img, rect, &mut [0; 11]).is_err());
        let mut again = vec![0f32; 24];
        planes_to_tensor(&[planes.clone(), planes].concat(), 2, &n, &mut again).unwrap();
        assert_eq!(&again[..12], &chw[..]);
        assert_eq!(&again[12..], &chw[..]);
    }

    #[test]
    fn rejects_bad_norm_and_buffers() {
        let img = RgbImage::filled(2, 2, [0; 3]).unwrap();
        let rect = FieldRect::square(0, 0, 2);
        let bad = Normalization { mean: [0.0; 3], std: [0.2, 0.0, 0.2] };
        let err = field_to_tensor(&img, rect, &bad, TensorLayout::Nchw, &mut [0.0; 12]).unwrap_err();
        assert!(err.to_string().contains("std[1]"), "{err}");
        assert!(matches!(
            field_to_tensor(&img, rect, &Normalization::IMAGENET, TensorLayout::Nchw, &mut [0.0; 11]),
            Err(ImageError::TensorSize { expected: 12, actual: 11, .. })
        ));
    }
}
