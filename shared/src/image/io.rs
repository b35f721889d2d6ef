//! PNG/JPEG files to and from [`RgbImage`], with atomic writes.

use super::{ImageError, RgbImage};
use crate::atomic::write_atomic;
use std::io::Cursor;
use std::path::Path;

/// Decodes a PNG/JPEG (any colour type) into RGB8; errors name the file.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageError> {
    let decoded = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| ImageError::Io(format!("cannot open image {}: {e}", path.display())))?
        .decode()
        .map_err(|e| ImageError::Io(format!("cannot decode image {}: {e}", path.display())))?;
    let rgb = decoded.into_rgb8();
    let (w, h) = rgb.dimensions();
    RgbImage::from_raw(w, h, rgb.into_raw())
}

/// Decodes PNG/JPEG bytes (any colour type) into RGB8 (JPEG re-compression in augmentation,
/// frames arriving as bytes).
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    let decoded = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Io(format!("cannot read image bytes: {e}")))?
        .decode()
        .map_err(|e| ImageError::Io(format!("cannot decode image bytes: {e}")))?;
    let rgb = decoded.into_rgb8();
    let (w, h) = rgb.dimensions();
    RgbImage::from_raw(w, h, rgb.into_raw())
}

/// Encodes `img` in the format its extension names (png, jpg/jpeg) as bytes.
pub fn encode_rgb(img: &RgbImage, format: image::ImageFormat) -> Result<Vec<u8>, ImageError> {
    let buf = image::RgbImage::from_raw(img.width(), img.height(), img.as_raw().to_vec())
        .ok_or_else(|| ImageError::Io("image buffer does not match its size".into()))?;
    let mut bytes = Cursor::new(Vec::new());
    buf.write_to(&mut bytes, format).map_err(|e| ImageError::Io(format!("cannot encode image: {e}")))?;
    Ok(bytes.into_inner())
}

/// Saves by the file's extension, atomically (see [`crate::atomic`]).
pub fn save_rgb(path: &Path, img: &RgbImage) -> Result<(), ImageError> {
    let format = image::ImageFormat::from_path(path)
        .map_err(|e| ImageError::Io(format!("cannot pick an image format for {}: {e}", path.display())))?;
    let bytes = encode_rgb(img, format)?;
    write_atomic(path, &bytes).map_err(|e| ImageError::Io(e.to_string()))
}

/// Encodes `img` as JPEG at `quality` (1–100, clamped), as a microscope camera would.
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, ImageError> {
    // jpeg-encoder rather than the `image` crate's encoder: about 3x faster, and training
    // re-compresses every other patch.
    let (w, h) = (
        u16::try_from(img.width())
            .map_err(|_| ImageError::Io(format!("cannot encode JPEG: width {} over 65535", img.width())))?,
        u16::try_from(img.height())
            .map_err(|_| ImageError::Io(format!("cannot encode JPEG: height {} over 65535", img.height())))?,
    );
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality.clamp(1, 100));
    // Full-resolution chroma: patch exports and snapshots keep stain colour at cell edges.
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    encoder
        .encode(img.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| ImageError::Io(format!("cannot encode JPEG: {e}")))?;
    Ok(bytes)
}
