//! The per-image preprocessing both sides run: resample to the model's µm/px, lay the
//! field grid, measure each field's background, drop fields over the study's 40% rule,
//! and write the kept fields' input tensors into one batch buffer.
//!
//! All buffers live in [`FieldExtractor`] and are reused, so a camera stream of equally
//! sized frames allocates nothing after the first frame.

use crate::image::{
    FieldGrid, FieldRect, GridAlign, ImageError, Normalization, PixelSpacing, Resampler, RgbImage, TensorLayout,
    TissueTest, background_fraction, field_to_tensor,
};
use serde::{Deserialize, Serialize};

/// Settings of the preprocessing; the trainer writes them into the model bundle and the
/// edge reads them back, so both sides cut and normalise fields identically.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExtractConfig {
    pub target_um_per_px: f64,
    pub field_size: u32,
    pub align: GridAlign,
    pub tissue: TissueTest,
    pub max_background: f32,
    pub normalization: Normalization,
    pub layout: TensorLayout,
    pub upsample_tolerance: f64,
}

impl ExtractConfig {
    /// Study defaults at `target_um_per_px`: 256 px fields, 40% background rule, ImageNet statistics.
    pub fn study(target_um_per_px: f64) -> Self {
        Self {
            target_um_per_px,
            field_size: crate::FIELD_SIZE,
            align: GridAlign::TopLeft,
            tissue: TissueTest::default(),
            max_background: crate::MAX_BACKGROUND_FRACTION,
            normalization: Normalization::IMAGENET,
            layout: TensorLayout::Nchw,
            upsample_tolerance: crate::image::DEFAULT_UPSAMPLE_TOLERANCE,
        }
    }
}

/// One field of the grid with its background fraction and whether it was kept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FieldInfo {
    pub rect: FieldRect,
    pub background: f32,
    pub kept: bool,
}

/// The result for one image; borrows the extractor's buffers.
#[derive(Debug)]
pub struct Extracted<'a> {
    /// The image at the target µm/px that the fields were cut from.
    pub resampled: &'a RgbImage,
    pub effective: PixelSpacing,
    pub grid: FieldGrid,
    /// Every grid field, kept or not, in row-major order.
    pub fields: &'a [FieldInfo],
    /// Input tensors of the kept fields, one after another, in `fields` order.
    pub tensors: &'a [f32],
}

impl Extracted<'_> {
    pub fn kept(&self) -> impl Iterator<Item = &FieldInfo> {
        self.fields.iter().filter(|f| f.kept)
    }

    pub fn kept_count(&self) -> usize {
        self.kept().count()
    }
}

/// Reusable preprocessing state (see the module documentation).
#[derive(Debug, Clone)]
pub struct FieldExtractor {
    config: ExtractConfig,
    resampler: Resampler,
    resampled: RgbImage,
    fields: Vec<FieldInfo>,
    tensors: Vec<f32>,
}

impl FieldExtractor {
    /// Validates the configuration once, before any image is processed.
    pub fn new(config: ExtractConfig) -> Result<Self, ImageError> {
        config.normalization.validate()?;
        PixelSpacing::isotropic(config.target_um_per_px)
            .map_err(|_| ImageError::BadSpacing { field: "target", value: config.target_um_per_px })?;
        if config.field_size == 0 {
            return Err(ImageError::BadFieldSize(0));
        }
        Ok(Self {
            config,
            resampler: Resampler::new(config.upsample_tolerance),
            resampled: RgbImage::filled(1, 1, [0; 3])?,
            fields: Vec::new(),
            tensors: Vec::new(),
        })
    }

    pub fn config(&self) -> &ExtractConfig {
        &self.config
    }

    /// Runs the whole preprocessing on `image`, whose pixels are `spacing` µm wide.
    pub fn process(&mut self, image: &RgbImage, spacing: PixelSpacing) -> Result<Extracted<'_>, ImageError> {
        self.process_with(image, spacing, |_, _| {})
    }

    /// [`Self::process`], with `before_tensors` given the resampled image and its fields
    /// once the fields are chosen and before their tensors are written (the edge fits the
    /// stain of the kept fields there, and normalises them).
    pub fn process_with(
        &mut self,
        image: &RgbImage,
        spacing: PixelSpacing,
        before_tensors: impl FnOnce(&mut RgbImage, &[FieldInfo]),
    ) -> Result<Extracted<'_>, ImageError> {
        let cfg = self.config;
        let effective = self.resampler.resample_into(image, spacing, cfg.target_um_per_px, &mut self.resampled)?;
        let grid = FieldGrid::new(self.resampled.width(), self.resampled.height(), cfg.field_size, cfg.align)?;
        self.fields.clear();
        for rect in grid.fields() {
            let background = background_fraction(&self.resampled, rect, &cfg.tissue)?;
            self.fields.push(FieldInfo { rect, background, kept: background <= cfg.max_background });
        }
        before_tensors(&mut self.resampled, &self.fields);
        let per_field = 3 * cfg.field_size as usize * cfg.field_size as usize;
        let kept = self.fields.iter().filter(|f| f.kept).count();
        self.tensors.resize(kept * per_field, 0.0);
        for (slot, field) in self.tensors.chunks_exact_mut(per_field).zip(self.fields.iter().filter(|f| f.kept)) {
            field_to_tensor(&self.resampled, field.rect, &cfg.normalization, cfg.layout, slot)?;
        }
        Ok(Extracted { resampled: &self.resampled, effective, grid, fields: &self.fields, tensors: &self.tensors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_tissue_fields_and_drops_glass() {
        // 1024x512 at 0.5 µm/px -> 512x256 at 1.0: two fields, left tissue, right glass.
        let mut img = RgbImage::filled(1024, 512, [240, 240, 242]).unwrap();
        for y in 0..512 {
            for x in 0..512 {
                img.put(x, y, if (x / 3 + y / 5) % 2 == 0 { [150, 70, 160] } else { [225, 140, 190] });
            }
        }
        let mut ex = FieldExtractor::new(ExtractConfig::study(1.0)).unwrap();
        let out = ex.process(&img, PixelSpacing::isotropic(0.5).unwrap()).unwrap();
        assert_eq!(out.fields.len(), 2);
        assert!(out.fields[0].kept && out.fields[0].background < 0.01);
        assert!(!out.fields[1].kept && out.fields[1].background > 0.99);
        assert_eq!(out.tensors.len(), 3 * 256 * 256);
        assert_eq!(out.effective.x, 1.0);
    }

    #[test]
    fn bad_config_is_refused_up_front() {
        let mut cfg = ExtractConfig::study(f64::NAN);
        assert!(FieldExtractor::new(cfg).is_err());
        cfg = ExtractConfig::study(1.0);
        cfg.normalization.std[2] = 0.0;
        assert!(FieldExtractor::new(cfg).is_err());
    }
}
