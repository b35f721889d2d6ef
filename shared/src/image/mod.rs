//! RGB8 images, physical pixel spacing, resampling, the field grid, the tissue
//! test and conversion of fields to model input tensors.

mod draw;
mod error;
mod grid;
#[cfg(feature = "image-io")]
mod io;
mod optics;
mod resample;
mod rgb;
mod spacing;
mod tensor;
#[cfg(feature = "image-io")]
mod tiff_jpeg;
mod tissue;

pub use draw::{draw_line, outline_rect};
pub use error::ImageError;
pub use grid::{FieldGrid, FieldRect, GridAlign};
#[cfg(feature = "image-io")]
pub use io::{
    FrameBounds, decode_rgb, decode_rgb_into, decode_rgb_into_bounded, encode_jpeg, encode_rgb, load_rgb, save_rgb,
};
pub use optics::{CameraOptics, gaussian_blur};
pub use resample::{Resampled, Resampler, resample};
pub use rgb::RgbImage;
pub use spacing::{DEFAULT_UPSAMPLE_TOLERANCE, PixelSpacing};
pub use tensor::{Normalization, TensorLayout, field_to_planes, field_to_tensor, planes_to_tensor};
#[cfg(feature = "image-io")]
pub use tiff_jpeg::jpeg_chunk_stream;
pub use tissue::{TissueTest, background_fraction, tissue_mask};
