//! Field report of one image: resample to the model's µm/px, lay the centred 256×256 grid,
//! apply the 40% background rule, and draw kept (green) and dropped (red) fields.

use melanoscope_shared::image::{GridAlign, ImageError, PixelSpacing, RgbImage, outline_rect};
use melanoscope_shared::pipeline::{ExtractConfig, FieldExtractor, FieldInfo};
use serde::Serialize;

const KEPT: [u8; 3] = [0, 200, 0];
const DROPPED: [u8; 3] = [220, 0, 0];

/// What the report says about one image.
#[derive(Debug, Clone, Serialize)]
pub struct FieldReport {
    pub source_width: u32,
    pub source_height: u32,
    pub source_um_per_px: f64,
    pub target_um_per_px: f64,
    pub resampled_width: u32,
    pub resampled_height: u32,
    pub fields: Vec<FieldInfo>,
    pub kept: usize,
    /// Elements of the input tensor batch for the kept fields.
    pub tensor_values: usize,
}

/// Runs the preprocessing on `image` and returns the report and the QC picture
/// (the resampled image with field outlines).
pub fn field_report(
    image: &RgbImage,
    source_um_per_px: f64,
    target_um_per_px: f64,
) -> Result<(FieldReport, RgbImage), ImageError> {
    let spacing = PixelSpacing::isotropic(source_um_per_px)
        .map_err(|_| ImageError::BadSpacing { field: "of the image", value: source_um_per_px })?;
    let mut config = ExtractConfig::study(target_um_per_px);
    // Camera frames are vignetted at the borders, so the grid is centred.
    config.align = GridAlign::Centered;
    let mut extractor = FieldExtractor::new(config)?;
    let out = extractor.process(image, spacing)?;
    let mut qc = out.resampled.clone();
    for f in out.fields {
        let color = if f.kept { KEPT } else { DROPPED };
        outline_rect(&mut qc, f.rect.x, f.rect.y, f.rect.size, f.rect.size, color, 3);
    }
    let report = FieldReport {
        source_width: image.width(),
        source_height: image.height(),
        source_um_per_px,
        target_um_per_px: out.effective.x,
        resampled_width: out.resampled.width(),
        resampled_height: out.resampled.height(),
        fields: out.fields.to_vec(),
        kept: out.kept_count(),
        tensor_values: out.tensors.len(),
    };
    Ok((report, qc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_field_keeps_nothing_and_tissue_is_kept() {
        let blank = RgbImage::filled(600, 600, [240, 240, 240]).unwrap();
        let (r, qc) = field_report(&blank, 0.5, 1.0).unwrap();
        assert_eq!((r.resampled_width, r.fields.len(), r.kept, r.tensor_values), (300, 1, 0, 0));
        // The dropped field is outlined in red at the centred grid origin (22, 22).
        assert_eq!(qc.get(22, 22), Some(DROPPED));
        let pink = RgbImage::filled(600, 600, [210, 120, 180]).unwrap();
        let (r, qc) = field_report(&pink, 0.5, 1.0).unwrap();
        assert_eq!((r.kept, r.tensor_values), (1, 3 * 256 * 256));
        assert_eq!(qc.get(22, 22), Some(KEPT));
    }

    #[test]
    fn refuses_upsampling_with_the_spacings_in_the_message() {
        let img = RgbImage::filled(600, 600, [210, 120, 180]).unwrap();
        let err = field_report(&img, 1.0, 0.25).unwrap_err().to_string();
        assert!(err.contains("0.25") && err.contains('1'), "{err}");
        assert!(field_report(&img, f64::NAN, 1.0).is_err());
    }
}
