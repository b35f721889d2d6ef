//! JPEG-compressed TIFF (compression 7): camera software, slide tools (bfconvert, ImageMagick,
//! QuPath exports) and OME-TIFF writers save RGB this way. Each strip or tile is a JPEG stream,
//! often abbreviated (its tables in the JPEGTables tag). What a JPEG decoder cannot know is the
//! colour space of the components: with Photometric = RGB they are R, G, B, with no colour
//! transform, but a stream without a JFIF or Adobe marker is decoded as YCbCr — false colours
//! (haematoxylin green, eosin blue: real tissue then read as glass or unfamiliar). So an RGB
//! stream gets an Adobe marker saying "no transform" before it is decoded. Both the edge's frames
//! and the slide reader's OME-TIFF chunks go through [`jpeg_chunk_stream`].

use super::{FrameBounds, ImageError, RgbImage, decode_rgb};

/// The JPEG stream of one TIFF chunk: the tables (without their EOI) before the chunk (without
/// its SOI) when the file has JPEGTables, and, when the TIFF says the components are RGB, an
/// Adobe APP14 marker with transform 0 after the SOI (unless the stream carries one).
pub fn jpeg_chunk_stream(tables: Option<&[u8]>, raw: &[u8], photometric_rgb: bool) -> Vec<u8> {
    let mut stream = match tables {
        Some(t) if t.len() > 4 && raw.len() > 2 && t.starts_with(&[0xFF, 0xD8]) => {
            [&t[..t.len() - 2], &raw[2..]].concat()
        }
        _ => raw.to_vec(),
    };
    let adobe = stream.windows(7).any(|w| w == [0xFF, 0xEE, 0x00, 0x0E, b'A', b'd', b'o']);
    if photometric_rgb && !adobe && stream.starts_with(&[0xFF, 0xD8]) {
        // APP14 "Adobe": version 100, flags 0, 0, transform 0 (the components are RGB).
        const APP14: [u8; 16] = [0xFF, 0xEE, 0x00, 0x0E, b'A', b'd', b'o', b'b', b'e', 0x00, 0x64, 0, 0, 0, 0, 0];
        stream.splice(2..2, APP14);
    }
    stream
}

/// The first IFD of a classic TIFF: each entry's tag, type, count and where its 4-byte value
/// field lies in the file.
struct Ifd<'a> {
    bytes: &'a [u8],
    little: bool,
    entries: Vec<(u16, u16, u32, usize)>,
}

impl<'a> Ifd<'a> {
    /// The first IFD of a classic TIFF (not BigTIFF), or `None`.
    fn first(bytes: &'a [u8]) -> Option<Self> {
        let little = match bytes.get(..4)? {
            [b'I', b'I', 42, 0] => true,
            [b'M', b'M', 0, 42] => false,
            _ => return None,
        };
        let mut ifd = Ifd { bytes, little, entries: Vec::new() };
        let at = ifd.u32_at(4)? as usize;
        let n = usize::from(ifd.u16_at(at)?);
        for i in 0..n {
            let e = at.checked_add(2 + 12 * i)?;
            ifd.entries.push((ifd.u16_at(e)?, ifd.u16_at(e + 2)?, ifd.u32_at(e + 4)?, e + 8));
        }
        Some(ifd)
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    /// Tag `tag`'s values: their bytes (inline in the entry, or where its offset points) and
    /// the size of one value.
    fn values(&self, tag: u16) -> Option<(&'a [u8], usize)> {
        let &(_, kind, count, field) = self.entries.iter().find(|e| e.0 == tag)?;
        let size = match kind {
            1 | 2 | 6 | 7 => 1usize,
            3 | 8 => 2,
            4 | 9 => 4,
            _ => return None,
        };
        let len = size.checked_mul(count as usize)?;
        let at = if len <= 4 { field } else { self.u32_at(field)? as usize };
        Some((self.bytes.get(at..at.checked_add(len)?)?, size))
    }

    /// Tag `tag`'s bytes (JPEGTables).
    fn raw(&self, tag: u16) -> Option<&'a [u8]> {
        self.values(tag).map(|(b, _)| b)
    }

    /// Tag `tag`'s values as numbers (SHORT or LONG).
    fn numbers(&self, tag: u16) -> Option<Vec<u64>> {
        let (data, size) = self.values(tag)?;
        let read = |b: &[u8]| -> Option<u64> {
            Some(match (size, self.little) {
                (2, true) => u64::from(u16::from_le_bytes(b.try_into().ok()?)),
                (2, false) => u64::from(u16::from_be_bytes(b.try_into().ok()?)),
                (4, true) => u64::from(u32::from_le_bytes(b.try_into().ok()?)),
                (4, false) => u64::from(u32::from_be_bytes(b.try_into().ok()?)),
                _ => return None,
            })
        };
        data.chunks_exact(size).map(read).collect()
    }

    fn number(&self, tag: u16) -> Option<u64> {
        self.numbers(tag)?.first().copied()
    }
}

/// Decodes a JPEG-compressed RGB TIFF (strips or tiles, one plane) within `bounds`; `None` when
/// `bytes` is not one (any other TIFF, or not a TIFF, is for the image crate).
pub fn decode_jpeg_tiff(bytes: &[u8], bounds: FrameBounds) -> Option<Result<RgbImage, ImageError>> {
    let ifd = Ifd::first(bytes)?;
    if ifd.number(259)? != 7 {
        return None;
    }
    Some(decode_ifd(&ifd, bounds))
}

fn decode_ifd(ifd: &Ifd<'_>, bounds: FrameBounds) -> Result<RgbImage, ImageError> {
    let bad = |what: String| ImageError::Io(format!("JPEG-compressed TIFF: {what}"));
    let dim = |tag: u16, name: &str| {
        ifd.number(tag).and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0).ok_or_else(|| bad(format!("no {name}")))
    };
    let (width, height) = (dim(256, "ImageWidth")?, dim(257, "ImageLength")?);
    bounds.check(width, height)?;
    let samples = ifd.number(277).unwrap_or(1);
    let photometric = ifd.number(262).unwrap_or(2);
    if samples != 3 || !matches!(photometric, 2 | 6) || ifd.number(284).unwrap_or(1) != 1 {
        return Err(bad(format!(
            "{samples} samples, Photometric {photometric}: only RGB (or YCbCr) in one plane is read"
        )));
    }
    let tiled = ifd.number(322).is_some();
    let (chunk_w, chunk_h) = if tiled {
        (dim(322, "TileWidth")?, dim(323, "TileLength")?)
    } else {
        (width, ifd.number(278).map_or(height, |r| r.min(u64::from(height)) as u32).max(1))
    };
    let (offsets, counts) =
        if tiled { (ifd.numbers(324), ifd.numbers(325)) } else { (ifd.numbers(273), ifd.numbers(279)) };
    let (Some(offsets), Some(counts)) = (offsets, counts) else {
        return Err(bad("no chunk offsets or byte counts".into()));
    };
    let across = width.div_ceil(chunk_w);
    let expected = u64::from(across) * u64::from(height.div_ceil(chunk_h));
    if offsets.len() as u64 != expected || counts.len() as u64 != expected {
        return Err(bad(format!(
            "{} chunks listed; {width}x{height} px in {chunk_w}x{chunk_h} chunks needs {expected}",
            offsets.len()
        )));
    }
    let tables = ifd.raw(347);
    let mut out = RgbImage::filled(width, height, [255; 3])?;
    for (i, (&off, &len)) in offsets.iter().zip(&counts).enumerate() {
        let raw = usize::try_from(off)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(o, l)| ifd.bytes.get(o..o.checked_add(l)?))
            .ok_or_else(|| bad(format!("chunk {i} lies outside the file")))?;
        let stream = jpeg_chunk_stream(tables, raw, photometric == 2);
        let chunk = decode_rgb(&stream).map_err(|e| bad(format!("chunk {i}: {e}")))?;
        let (x0, y0) = ((i as u32 % across) * chunk_w, (i as u32 / across) * chunk_h);
        // The chunk's pixels that fall inside the image (edge tiles are padded).
        for y in 0..chunk.height().min(height.saturating_sub(y0)) {
            let w = chunk.width().min(width.saturating_sub(x0)) as usize * 3;
            let src = &chunk.row(y)[..w];
            let at = ((y0 + y) as usize * width as usize + x0 as usize) * 3;
            out.as_raw_mut()[at..at + w].copy_from_slice(src);
        }
    }
    Ok(out)
}
