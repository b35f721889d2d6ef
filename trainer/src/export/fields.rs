//! Fields for calibration, reference fields and the agreement report: patches of a task's
//! partition read through the training loader without augmentation, as RGB and as the
//! normalised tensor the engines take.

use crate::data::augment::AugmentConfig;
use crate::data::loader::{LoaderConfig, Sample, epoch_batches};
use melanoscope_shared::image::{ImageError, Normalization, RgbImage, planes_to_tensor};
use std::sync::Arc;

/// Why no field set could be made.
#[derive(Debug, thiserror::Error)]
pub enum FieldsError {
    #[error("laying out the fields")]
    Image(#[from] ImageError),
    #[error("none of the {tried} patches picked could be read (see the loader's warnings)")]
    NoneReadable { tried: usize },
}

/// Fields in order, each with its class.
#[derive(Debug, Clone)]
pub struct FieldSet {
    pub side: usize,
    pub rgb: Vec<RgbImage>,
    /// Normalised NCHW values of every field, one after another.
    pub tensor: Vec<f32>,
    pub classes: Vec<usize>,
}

impl FieldSet {
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The tensor of fields `start..start + n`.
    pub fn tensor_of(&self, start: usize, n: usize) -> &[f32] {
        let per = 3 * self.side * self.side;
        &self.tensor[start * per..(start + n) * per]
    }
}

/// Up to `max` of `samples` (evenly spread over the list, so every class and slide is met),
/// read and laid out; unreadable ones are skipped.
pub fn read_fields(samples: &[Sample], max: usize, side: u32, norm: Normalization) -> Result<FieldSet, FieldsError> {
    let step = samples.len().div_ceil(max.max(1)).max(1);
    let picked: Vec<Sample> = samples.iter().step_by(step).take(max).cloned().collect();
    let cfg = LoaderConfig {
        batch_size: 16,
        workers: 2,
        prefetch: 2,
        seed: 0,
        shuffle: false,
        augment: AugmentConfig::none(),
        normalization: norm,
        size: side,
        slide_cache: 8,
    };
    let s = side as usize;
    let per = 3 * s * s;
    let mut set = FieldSet { side: s, rgb: Vec::new(), tensor: Vec::new(), classes: Vec::new() };
    let tried = picked.len();
    for batch in epoch_batches(Arc::new(picked), &cfg, 0) {
        let start = set.tensor.len();
        set.tensor.resize(start + batch.images.len(), 0.0);
        planes_to_tensor(&batch.images, s, &norm, &mut set.tensor[start..])?;
        for (k, class) in batch.classes.iter().enumerate() {
            let planes = &batch.images[k * per..(k + 1) * per];
            let rgb: Vec<u8> = (0..s * s).flat_map(|i| [planes[i], planes[s * s + i], planes[2 * s * s + i]]).collect();
            set.rgb.push(RgbImage::from_raw(side, side, rgb)?);
            set.classes.push(*class as usize);
        }
    }
    if set.is_empty() {
        return Err(FieldsError::NoneReadable { tried });
    }
    Ok(set)
}
