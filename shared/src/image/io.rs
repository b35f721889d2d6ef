//! PNG/JPEG/TIFF files to and from [`RgbImage`], with atomic writes.

use super::{ImageError, RgbImage};
use crate::atomic::write_atomic;
use std::io::Cursor;
use std::path::Path;

/// Decodes a PNG, JPEG or TIFF (any colour type and depth) into RGB8; errors name the file.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageError> {
    if is_tiff_path(path) {
        // JPEG-compressed TIFFs decode here, in their own colours (super::tiff_jpeg).
        let bytes =
            std::fs::read(path).map_err(|e| ImageError::Io(format!("cannot open image {}: {e}", path.display())))?;
        if let Some(r) = super::tiff_jpeg::decode_jpeg_tiff(&bytes, FrameBounds::HARD) {
            return r.map_err(|e| ImageError::Io(format!("cannot decode image {}: {e}", path.display())));
        }
    }
    let decoded = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| ImageError::Io(format!("cannot open image {}: {e}", path.display())))?
        .decode()
        .map_err(|e| ImageError::Io(format!("cannot decode image {}: {e}", path.display())))?;
    let rgb = decoded.into_rgb8();
    let (w, h) = rgb.dimensions();
    RgbImage::from_raw(w, h, rgb.into_raw())
}

fn is_tiff_path(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("tif" | "tiff"))
}

/// Decodes PNG/JPEG/TIFF bytes (any colour type) into RGB8 (JPEG re-compression in
/// augmentation, frames arriving as bytes).
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    if let Some(r) = super::tiff_jpeg::decode_jpeg_tiff(bytes, FrameBounds::HARD) {
        return r;
    }
    let decoded = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Io(format!("cannot read image bytes: {e}")))?
        .decode()
        .map_err(|e| ImageError::Io(format!("cannot decode image bytes: {e}")))?;
    let rgb = decoded.into_rgb8();
    let (w, h) = rgb.dimensions();
    RgbImage::from_raw(w, h, rgb.into_raw())
}

/// The largest frame a source accepts, by side: checked against the image's header before
/// any pixel is decoded, so that a small file declaring a huge image costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameBounds {
    pub max_width: u32,
    pub max_height: u32,
    /// Pixels in all: what the decoded frame, and every buffer the screen makes from it, cost.
    pub max_pixels: u64,
}

impl FrameBounds {
    /// Any frame: 16384 px a side, the largest camera the settings allow, and 64 Mpx in all
    /// (192 MB decoded; a 12,000² photograph, 144 Mpx, made the screen peak at 3.8 GB).
    pub const HARD: FrameBounds = FrameBounds { max_width: 16384, max_height: 16384, max_pixels: 64 << 20 };

    /// Frames of a `width` x `height` camera: up to twice each side (a driver may deliver a
    /// larger mode than asked), within [`Self::HARD`].
    pub fn camera(width: u32, height: u32) -> Self {
        FrameBounds {
            max_width: width.saturating_mul(2).clamp(1, Self::HARD.max_width),
            max_height: height.saturating_mul(2).clamp(1, Self::HARD.max_height),
            max_pixels: (4 * u64::from(width) * u64::from(height)).clamp(1, Self::HARD.max_pixels),
        }
    }

    /// Refuses a `width` x `height` image beyond the bounds (in either orientation's order).
    pub fn check(&self, width: u32, height: u32) -> Result<(), ImageError> {
        if width > self.max_width || height > self.max_height {
            return Err(ImageError::Oversized {
                width,
                height,
                max_width: self.max_width,
                max_height: self.max_height,
            });
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(ImageError::TooManyPixels { width, height, max_pixels: self.max_pixels });
        }
        Ok(())
    }
}

/// [`decode_rgb_into_bounded`] within [`FrameBounds::HARD`].
pub fn decode_rgb_into(bytes: &[u8], into: &mut RgbImage) -> Result<(), ImageError> {
    decode_rgb_into_bounded(bytes, into, FrameBounds::HARD)
}

/// Decodes a frame into `into`, reusing its buffer: a baseline or progressive RGB JPEG (what
/// MJPEG cameras send) is decoded straight into it; anything else (PNG, grey or CMYK JPEG)
/// goes through [`decode_rgb`] and replaces it. A frame beyond `bounds` by its header is
/// refused before decoding. On error `into` keeps its size with unspecified pixels.
pub fn decode_rgb_into_bounded(bytes: &[u8], into: &mut RgbImage, bounds: FrameBounds) -> Result<(), ImageError> {
    use image::ImageDecoder;
    let jpeg = bytes
        .starts_with(&[0xFF, 0xD8])
        .then(|| image::codecs::jpeg::JpegDecoder::new(Cursor::new(bytes)).ok())
        .flatten()
        .filter(|d| d.color_type() == image::ColorType::Rgb8);
    if let Some(r) = super::tiff_jpeg::decode_jpeg_tiff(bytes, bounds) {
        *into = r?;
        return Ok(());
    }
    let Some(decoder) = jpeg else {
        let (w, h) = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| ImageError::Io(format!("cannot read image bytes: {e}")))?
            .into_dimensions()
            .map_err(|e| ImageError::Io(format!("cannot read the image's header: {e}")))?;
        bounds.check(w, h)?;
        *into = decode_rgb(bytes)?;
        return Ok(());
    };
    let (w, h) = decoder.dimensions();
    bounds.check(w, h)?;
    into.reshape(w, h)?;
    decoder.read_image(into.as_raw_mut()).map_err(|e| ImageError::Io(format!("cannot decode JPEG bytes: {e}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        let mut img = RgbImage::filled(w, h, [0; 3]).unwrap();
        for y in 0..h {
            for x in 0..w {
                img.put(x, y, [(x * 255 / w) as u8, (y * 255 / h) as u8, 128]);
            }
        }
        img
    }

    /// The reused-buffer decode gives the same pixels as the allocating one, keeps the buffer
    /// across frames of one size, and follows a size change.
    #[test]
    fn decoding_into_a_frame_matches_and_reuses_it() {
        let jpeg = encode_jpeg(&gradient(96, 64), 90).unwrap();
        let mut frame = RgbImage::filled(1, 1, [0; 3]).unwrap();
        decode_rgb_into(&jpeg, &mut frame).unwrap();
        assert_eq!(frame, decode_rgb(&jpeg).unwrap());
        let at = frame.as_raw().as_ptr();
        decode_rgb_into(&jpeg, &mut frame).unwrap();
        assert_eq!(frame.as_raw().as_ptr(), at, "the frame buffer was reallocated");
        let png = encode_rgb(&gradient(40, 30), image::ImageFormat::Png).unwrap();
        decode_rgb_into(&png, &mut frame).unwrap();
        assert_eq!((frame.width(), frame.height()), (40, 30));
        assert_eq!(frame, gradient(40, 30));
    }

    /// TIFF (what microscope cameras and many lab tools save) loads like PNG, and a TIFF
    /// whose header claims a huge image is refused before its pixels are decoded.
    #[test]
    fn tiff_images_load_and_are_bounded() {
        let dir = crate::scratch::ScratchDir::new("io-tiff");
        let path = dir.join("frame.tif");
        save_rgb(&path, &gradient(40, 30)).unwrap();
        assert_eq!(load_rgb(&path).unwrap(), gradient(40, 30));
        let bytes = std::fs::read(&path).unwrap();
        let mut frame = RgbImage::filled(1, 1, [0; 3]).unwrap();
        decode_rgb_into(&bytes, &mut frame).unwrap();
        assert_eq!(frame, gradient(40, 30));
        let small = FrameBounds { max_width: 32, max_height: 32, max_pixels: 1024 };
        assert!(matches!(decode_rgb_into_bounded(&bytes, &mut frame, small), Err(ImageError::Oversized { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A JPEG-compressed TIFF of `img` in strips of `rows` rows: each strip a JPEG stream whose
    /// components are RGB (`photometric` 2: no colour transform, as libtiff writes it) or YCbCr
    /// (6), with the tables of the first strip in JPEGTables when `tables`.
    fn jpeg_tiff(img: &RgbImage, rows: u32, photometric: u16, tables: bool) -> Vec<u8> {
        let mut strips = Vec::new();
        for y in (0..img.height()).step_by(rows as usize) {
            let h = rows.min(img.height() - y);
            let part = img.crop(0, y, img.width(), h).unwrap();
            let mut bytes = Vec::new();
            let enc = jpeg_encoder::Encoder::new(&mut bytes, 92);
            let colour = if photometric == 2 {
                // Components stored as R, G, B: the encoder is told they are YCbCr already.
                jpeg_encoder::ColorType::Ycbcr
            } else {
                jpeg_encoder::ColorType::Rgb
            };
            enc.encode(part.as_raw(), img.width() as u16, h as u16, colour).unwrap();
            // Without the JFIF marker, as TIFF writers leave it out.
            let app0 = bytes.windows(2).position(|w| w == [0xFF, 0xE0]).unwrap();
            let len = usize::from(u16::from_be_bytes([bytes[app0 + 2], bytes[app0 + 3]]));
            bytes.drain(app0..app0 + 2 + len);
            strips.push(bytes);
        }
        // Abbreviated strips: the first strip's header (up to its SOF) as JPEGTables.
        let jpeg_tables = tables.then(|| {
            let sof = strips[0].windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
            [&strips[0][..sof], &[0xFF, 0xD9]].concat()
        });
        let mut out = b"II*\0".to_vec();
        out.extend_from_slice(&8u32.to_le_bytes());
        let mut entries: Vec<(u16, u16, u32, u32)> = Vec::new();
        let n_entries = 11 + u16::from(tables);
        let data_at = 8 + 2 + 12 * u32::from(n_entries) + 4;
        let mut data = Vec::new();
        let mut put = |bytes: &[u8]| {
            let at = data_at + data.len() as u32;
            data.extend_from_slice(bytes);
            at
        };
        let bits = put(&[8, 0, 8, 0, 8, 0]);
        let offsets_at = put(&vec![0; 4 * strips.len()]);
        let counts: Vec<u8> = strips.iter().flat_map(|s| (s.len() as u32).to_le_bytes()).collect();
        let counts_at = put(&counts);
        let tables_at = jpeg_tables.as_ref().map(|t| put(t));
        let mut strip_offsets = Vec::new();
        for s in &strips {
            strip_offsets.push(put(s));
        }
        let offsets: Vec<u8> = strip_offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
        let o = (offsets_at - data_at) as usize;
        data[o..o + offsets.len()].copy_from_slice(&offsets);
        let n = strips.len() as u32;
        entries.extend([
            (256, 4, 1, img.width()),
            (257, 4, 1, img.height()),
            (258, 3, 3, bits),
            (259, 3, 1, 7),
            (262, 3, 1, u32::from(photometric)),
            (273, 4, n, if n == 1 { strip_offsets[0] } else { offsets_at }),
            (277, 3, 1, 3),
            (278, 4, 1, rows),
            (279, 4, n, if n == 1 { strips[0].len() as u32 } else { counts_at }),
            (284, 3, 1, 1),
            (530, 3, 2, 0x0001_0001),
        ]);
        if let (Some(t), Some(at)) = (&jpeg_tables, tables_at) {
            entries.push((347, 7, t.len() as u32, at));
        }
        entries.sort();
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, kind, count, value) in entries {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&data);
        out
    }

    /// JPEG-compressed RGB TIFFs decode in their own colours, as strips with or without shared
    /// tables, RGB or YCbCr components. Before, a TIFF whose JPEG components are RGB (libtiff's
    /// Photometric RGB) decoded in false colours: H&E pink came out green.
    #[test]
    fn jpeg_compressed_tiffs_keep_their_colours() {
        let mut img = RgbImage::filled(96, 64, [235, 232, 238]).unwrap();
        for y in 8..56 {
            for x in 8..88 {
                img.put(x, y, if (x / 6 + y / 5) % 3 == 0 { [90, 50, 140] } else { [215, 120, 180] });
            }
        }
        let close = |got: &RgbImage| {
            let diff: u64 = got.as_raw().iter().zip(img.as_raw()).map(|(a, b)| u64::from(a.abs_diff(*b))).sum();
            diff as f64 / img.as_raw().len() as f64
        };
        for (photometric, rows, tables) in [(2, 64, false), (2, 16, true), (6, 16, false), (6, 64, true)] {
            let tiff = jpeg_tiff(&img, rows, photometric, tables);
            let got = decode_rgb(&tiff).unwrap();
            assert_eq!((got.width(), got.height()), (96, 64));
            let mean = close(&got);
            assert!(mean < 6.0, "photometric {photometric}, {rows} rows, tables {tables}: mean difference {mean:.1}");
            let mut frame = RgbImage::filled(1, 1, [0; 3]).unwrap();
            decode_rgb_into(&tiff, &mut frame).unwrap();
            assert_eq!(frame, got);
            // Bounded like any frame, from its header.
            let small = FrameBounds { max_width: 32, max_height: 32, max_pixels: 1024 };
            assert!(matches!(decode_rgb_into_bounded(&tiff, &mut frame, small), Err(ImageError::Oversized { .. })));
        }
        // A strip pointing outside the file: an error naming the chunk, no panic.
        let mut cut = jpeg_tiff(&img, 16, 2, false);
        cut.truncate(cut.len() - 40);
        let e = decode_rgb(&cut).unwrap_err().to_string();
        assert!(e.contains("JPEG-compressed TIFF") && e.contains("chunk 3"), "{e}");
    }

    #[test]
    fn truncated_and_garbage_frames_are_errors() {
        let jpeg = encode_jpeg(&gradient(64, 48), 90).unwrap();
        let mut frame = RgbImage::filled(2, 2, [0; 3]).unwrap();
        for bad in [&jpeg[..jpeg.len() / 3], &[0xFF, 0xD8, 0xFF][..], b"not an image at all", &[][..]] {
            // A truncated JPEG may decode with grey rows (as libjpeg does) or fail, never panic.
            if let Err(e) = decode_rgb_into(bad, &mut frame) {
                assert!(e.to_string().contains("decode") || e.to_string().contains("read"), "{e}");
            }
        }
        assert!(decode_rgb_into(b"not an image at all", &mut frame).is_err());
    }

    /// A header claiming 65535 x 65535 pixels is refused by its size before any buffer for it
    /// is made (the frame keeps its old one).
    #[test]
    fn a_frame_claiming_gigapixels_is_refused_before_allocating() {
        let mut jpeg = encode_jpeg(&gradient(32, 24), 90).unwrap();
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("baseline JPEG");
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        let mut frame = RgbImage::filled(8, 8, [1; 3]).unwrap();
        let err = decode_rgb_into(&jpeg, &mut frame).unwrap_err();
        assert!(matches!(err, ImageError::Oversized { width: 65535, height: 65535, .. }), "{err}");
        assert_eq!((frame.width(), frame.height(), frame.as_raw().len()), (8, 8, 192));
        // 12,000² px: within the sides, beyond the pixel budget (before, decoded: 3.8 GB peak).
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0x2E, 0xE0, 0x2E, 0xE0]);
        let err = decode_rgb_into(&jpeg, &mut frame).unwrap_err();
        assert!(matches!(err, ImageError::TooManyPixels { width: 12000, height: 12000, .. }), "{err}");
        assert!(err.to_string().contains("12000x12000") && err.to_string().contains("67108864"), "{err}");
    }

    /// A camera's bounds hold for JPEG and PNG frames alike, from the header alone.
    #[test]
    fn frames_beyond_the_camera_bounds_are_refused_by_their_header() {
        let bounds = FrameBounds::camera(32, 16);
        assert_eq!(bounds, FrameBounds { max_width: 64, max_height: 32, max_pixels: 2048 });
        let mut frame = RgbImage::filled(8, 8, [1; 3]).unwrap();
        let ok = encode_jpeg(&gradient(64, 32), 90).unwrap();
        decode_rgb_into_bounded(&ok, &mut frame, bounds).unwrap();
        assert_eq!((frame.width(), frame.height()), (64, 32));
        for bytes in [
            encode_jpeg(&gradient(65, 32), 90).unwrap(),
            encode_rgb(&gradient(64, 40), image::ImageFormat::Png).unwrap(),
        ] {
            let err = decode_rgb_into_bounded(&bytes, &mut frame, bounds).unwrap_err();
            assert!(matches!(err, ImageError::Oversized { max_width: 64, max_height: 32, .. }), "{err}");
            assert!(err.to_string().contains("larger than the 64x32 accepted"), "{err}");
        }
        assert_eq!(FrameBounds::camera(16384, 16384), FrameBounds::HARD);
    }
}
