//! Field tensors from the shared preprocessing to a libtorch batch.

use melanoscope_shared::image::TensorLayout;
use tch::{Device, Kind, Tensor};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BatchError {
    #[error("{values} tensor values are not a whole number of {size}x{size} RGB fields")]
    Ragged { values: usize, size: u32 },
    #[error("field size must be above 0")]
    ZeroSize,
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

/// Turns the concatenated field tensors written by `FieldExtractor` into an
/// `N x 3 x size x size` float tensor on `device` (channels-last inputs are permuted).
pub fn fields_to_tensor(values: &[f32], size: u32, layout: TensorLayout, device: Device) -> Result<Tensor, BatchError> {
    if size == 0 {
        return Err(BatchError::ZeroSize);
    }
    let s = i64::from(size);
    let per = 3 * size as usize * size as usize;
    if !values.len().is_multiple_of(per) {
        return Err(BatchError::Ragged { values: values.len(), size });
    }
    let n = (values.len() / per) as i64;
    let flat = Tensor::from_slice(values);
    let t = match layout {
        TensorLayout::Nchw => flat.f_view([n, 3, s, s])?,
        TensorLayout::Nhwc => flat.f_view([n, s, s, 3])?.f_permute([0, 3, 1, 2])?.f_contiguous()?,
    };
    Ok(t.f_to_kind(Kind::Float)?.f_to_device(device)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use melanoscope_shared::image::{PixelSpacing, RgbImage};
    use melanoscope_shared::pipeline::{ExtractConfig, FieldExtractor};

    fn tissue(w: u32, h: u32) -> RgbImage {
        let mut img = RgbImage::filled(w, h, [0; 3]).unwrap();
        for y in 0..h {
            for x in 0..w {
                img.put(x, y, [150 + (x % 50) as u8, 60 + (y % 70) as u8, 170]);
            }
        }
        img
    }

    #[test]
    fn both_layouts_give_the_same_batch_with_the_shared_values() {
        let img = tissue(512, 256);
        let spacing = PixelSpacing::isotropic(1.0).unwrap();
        let mut nchw = FieldExtractor::new(ExtractConfig::study(1.0)).unwrap();
        let mut cfg = ExtractConfig::study(1.0);
        cfg.layout = TensorLayout::Nhwc;
        let mut nhwc = FieldExtractor::new(cfg).unwrap();
        let a = fields_to_tensor(nchw.process(&img, spacing).unwrap().tensors, 256, TensorLayout::Nchw, Device::Cpu)
            .unwrap();
        let b = fields_to_tensor(nhwc.process(&img, spacing).unwrap().tensors, 256, TensorLayout::Nhwc, Device::Cpu)
            .unwrap();
        assert_eq!(a.size(), vec![2, 3, 256, 256]);
        assert!(a.equal(&b));
        // Pixel (x=300, y=10) is in field 1 at (44, 10); its green channel is 60 + 10.
        let v = a.double_value(&[1, 1, 10, 44]);
        let expect = (70.0 / 255.0 - 0.456) / 0.224;
        assert!((v - expect).abs() < 1e-5, "{v} vs {expect}");
        assert!(matches!(
            fields_to_tensor(&[0.0; 10], 256, TensorLayout::Nchw, Device::Cpu),
            Err(BatchError::Ragged { values: 10, .. })
        ));
    }
}
