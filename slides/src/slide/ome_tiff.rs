//! OME-TIFF (what microscopes, Bio-Formats, QuPath and many scanners' converters write): the
//! µm/px from the OME-XML's `PhysicalSizeX/Y` and their units, the pyramid from the first
//! image's SubIFDs (OME-TIFF 6) or from the top-level IFDs that follow it (older files), tiled
//! or stripped, uncompressed, Deflate, LZW or JPEG, 8-bit RGB. OpenSlide reads none of this.
//! Directories are parsed by the `tiff` crate; chunks are read and decoded here, since the
//! crate decodes only top-level images.

use melanoscope_shared::image::{ImageError, PixelSpacing, RgbImage};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tiff::decoder::{Decoder, Limits};
use tiff::tags::{IfdPointer, Tag};

/// Why an OME-TIFF cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OmeError {
    #[error("TIFF structure")]
    Tiff(#[from] tiff::TiffError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("OME-XML: {0}")]
    Xml(String),
    #[error("level {level}: {detail}")]
    Unsupported { level: usize, detail: String },
    #[error("level {level}, chunk {index}: {detail}")]
    Chunk { level: usize, index: usize, detail: String },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("the reader was poisoned by an earlier panic")]
    Poisoned,
}

/// A chunk larger than this (compressed or not) is refused: no real tile or strip comes near.
const MAX_CHUNK_BYTES: u64 = 256 << 20;
/// Decoded chunks kept for the next reads (a patch row reuses its tiles and strips)...
const CACHED_CHUNKS: usize = 64;
/// ...within this many decoded bytes in all (64 strips of 256 MiB would be 16 GiB).
const CACHE_BYTES: usize = 256 << 20;

#[derive(Debug, Clone)]
struct Level {
    width: u32,
    height: u32,
    /// Tile (or strip: full width x rows per strip) size.
    chunk_w: u32,
    chunk_h: u32,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    compression: u16,
    predictor: u16,
    jpeg_tables: Option<Vec<u8>>,
    /// JPEG chunks whose components are R, G, B (Photometric RGB), not YCbCr.
    jpeg_rgb: bool,
}

/// A decoded chunk, keyed by (level, chunk index).
type CachedChunk = ((usize, usize), std::sync::Arc<Vec<u8>>);

struct Reader {
    file: BufReader<File>,
    cache: VecDeque<CachedChunk>,
}

/// An opened OME-TIFF.
pub struct OmeTiff {
    path: PathBuf,
    levels: Vec<Level>,
    spacing: Option<PixelSpacing>,
    reader: Mutex<Reader>,
}

impl std::fmt::Debug for OmeTiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sizes: Vec<(u32, u32)> = self.levels.iter().map(|l| (l.width, l.height)).collect();
        f.debug_struct("OmeTiff").field("path", &self.path).field("levels", &sizes).finish()
    }
}

fn limits() -> Limits {
    let mut l = Limits::default();
    // OME-XML of a large multi-image file runs to megabytes; refuse beyond that.
    l.ifd_value_size = 16 << 20;
    l
}

/// µm per unit of an OME length unit (the schema's default is µm).
fn unit_in_um(unit: &str) -> Option<f64> {
    Some(match unit.trim() {
        "" | "µm" | "μm" | "um" | "micron" | "microns" | "micrometer" => 1.0,
        "nm" => 1e-3,
        "pm" => 1e-6,
        "Å" | "angstrom" => 1e-4,
        "mm" => 1e3,
        "cm" => 1e4,
        "m" => 1e6,
        _ => return None,
    })
}

/// The value of `name="..."` in the attribute text of one element.
fn attribute<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = element;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().last();
        let after = &rest[at + name.len()..];
        let after_trim = after.trim_start();
        if before.is_some_and(char::is_whitespace) && after_trim.starts_with('=') {
            let value = after_trim[1..].trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let body = &value[1..];
                return body.find(quote).map(|end| &body[..end]);
            }
        }
        rest = &rest[at + name.len()..];
    }
    None
}

/// µm/px from the first `Pixels` element's `PhysicalSizeX/Y` (and units); `Ok(None)` when the
/// file does not say.
pub fn ome_spacing(xml: &str) -> Result<Option<PixelSpacing>, OmeError> {
    let start = xml
        .find("<Pixels")
        .or_else(|| xml.find(":Pixels ").map(|i| i.saturating_sub(1)))
        .ok_or_else(|| OmeError::Xml("no <Pixels> element".into()))?;
    let element = &xml[start..start + xml[start..].find('>').unwrap_or(xml.len() - start)];
    let axis = |size: &str, unit: &str| -> Result<Option<f64>, OmeError> {
        let Some(value) = attribute(element, size) else { return Ok(None) };
        let v: f64 = value.trim().parse().map_err(|_| OmeError::Xml(format!("{size}=\"{value}\" is not a number")))?;
        let unit_text = attribute(element, unit).unwrap_or("µm");
        let factor = unit_in_um(unit_text)
            .ok_or_else(|| OmeError::Xml(format!("{unit}=\"{unit_text}\" is not a length unit")))?;
        let um = v * factor;
        if !(um.is_finite() && um > 0.0) {
            return Err(OmeError::Xml(format!("{size}=\"{value}\" {unit_text} is not a positive length")));
        }
        Ok(Some(um))
    };
    match (axis("PhysicalSizeX", "PhysicalSizeXUnit")?, axis("PhysicalSizeY", "PhysicalSizeYUnit")?) {
        (Some(x), Some(y)) => {
            Ok(Some(PixelSpacing::new(x, y).map_err(|e| OmeError::Xml(melanoscope_shared::errors::error_chain(&e)))?))
        }
        (Some(x), None) | (None, Some(x)) => {
            Ok(Some(PixelSpacing::new(x, x).map_err(|e| OmeError::Xml(melanoscope_shared::errors::error_chain(&e)))?))
        }
        (None, None) => Ok(None),
    }
}

/// Reads one directory's layout as a level; `index` names it in errors.
fn level_of(tags: &mut tiff::decoder::IfdDecoder<'_>, index: usize) -> Result<Level, OmeError> {
    let bad = |detail: String| OmeError::Unsupported { level: index, detail };
    let u32_tag = |t: &mut tiff::decoder::IfdDecoder<'_>, tag: Tag| -> Result<Option<u32>, OmeError> {
        Ok(t.find_tag_unsigned::<u32>(tag)?)
    };
    let width = u32_tag(tags, Tag::ImageWidth)?.ok_or_else(|| bad("no ImageWidth".into()))?;
    let height = u32_tag(tags, Tag::ImageLength)?.ok_or_else(|| bad("no ImageLength".into()))?;
    let samples = u32_tag(tags, Tag::SamplesPerPixel)?.unwrap_or(1);
    let bits: Vec<u16> = tags.find_tag_unsigned_vec(Tag::BitsPerSample)?.unwrap_or_else(|| vec![1]);
    let planar = u32_tag(tags, Tag::PlanarConfiguration)?.unwrap_or(1);
    let photometric = u32_tag(tags, Tag::PhotometricInterpretation)?.unwrap_or(2);
    if samples != 3 || bits.iter().any(|b| *b != 8) || planar != 1 {
        return Err(bad(format!(
            "{samples} samples of {bits:?} bits, planar configuration {planar}; only interleaved 8-bit RGB \
             (brightfield H&E) is read"
        )));
    }
    let compression = u32_tag(tags, Tag::Compression)?.unwrap_or(1) as u16;
    if !matches!(compression, 1 | 5 | 7 | 8 | 32946) {
        return Err(bad(format!("compression {compression}; supported: none, LZW, JPEG, Deflate")));
    }
    if photometric != 2 && !(compression == 7 && photometric == 6) {
        return Err(bad(format!("photometric interpretation {photometric}; expected RGB (or YCbCr JPEG)")));
    }
    let predictor = u32_tag(tags, Tag::Predictor)?.unwrap_or(1) as u16;
    if !matches!(predictor, 1 | 2) {
        return Err(bad(format!("predictor {predictor}; supported: none, horizontal")));
    }
    let tiled = tags.find_tag(Tag::TileWidth)?.is_some();
    let (chunk_w, chunk_h, offsets, counts) = if tiled {
        let tw = u32_tag(tags, Tag::TileWidth)?.unwrap_or(0);
        let th = u32_tag(tags, Tag::TileLength)?.unwrap_or(0);
        let offsets: Vec<u64> = tags.find_tag_unsigned_vec(Tag::TileOffsets)?.unwrap_or_default();
        let counts: Vec<u64> = tags.find_tag_unsigned_vec(Tag::TileByteCounts)?.unwrap_or_default();
        (tw, th, offsets, counts)
    } else {
        let rows = u32_tag(tags, Tag::RowsPerStrip)?.unwrap_or(height).min(height.max(1));
        let offsets: Vec<u64> = tags.find_tag_unsigned_vec(Tag::StripOffsets)?.unwrap_or_default();
        let counts: Vec<u64> = tags.find_tag_unsigned_vec(Tag::StripByteCounts)?.unwrap_or_default();
        (width, rows, offsets, counts)
    };
    if width == 0 || height == 0 || chunk_w == 0 || chunk_h == 0 || chunk_w > 1 << 16 && tiled {
        return Err(bad(format!("{width}x{height} px in {chunk_w}x{chunk_h} chunks")));
    }
    // Decoded, a chunk must fit the same bound as its bytes on disk (a header claiming a strip
    // a billion pixels wide would otherwise reserve gigabytes).
    let decoded = u64::from(chunk_w) * u64::from(chunk_h) * 3;
    if decoded > MAX_CHUNK_BYTES {
        return Err(bad(format!(
            "{chunk_w}x{chunk_h} px chunks decode to {decoded} bytes; at most {MAX_CHUNK_BYTES} are read at once"
        )));
    }
    let expected = u64::from(width.div_ceil(chunk_w)) * u64::from(height.div_ceil(chunk_h));
    if offsets.len() as u64 != expected || counts.len() as u64 != expected {
        return Err(bad(format!(
            "{} chunk offsets and {} byte counts; {width}x{height} px in {chunk_w}x{chunk_h} chunks needs {expected}",
            offsets.len(),
            counts.len()
        )));
    }
    let jpeg_tables =
        if compression == 7 { tags.find_tag(Tag::JPEGTables)?.map(|v| v.into_u8_vec()).transpose()? } else { None };
    let jpeg_rgb = photometric == 2;
    Ok(Level { width, height, chunk_w, chunk_h, offsets, counts, compression, predictor, jpeg_tables, jpeg_rgb })
}

/// Whether `b` is a reduced copy of `a` (same aspect within 2%, smaller).
fn reduces(a: &Level, b: &Level) -> bool {
    let (ra, rb) = (f64::from(a.width) / f64::from(a.height), f64::from(b.width) / f64::from(b.height));
    b.width < a.width && (ra / rb - 1.0).abs() < 0.02
}

impl OmeTiff {
    /// Opens `path`: its levels (largest first) and the OME-XML's µm/px (`spacing()`); an
    /// error when it is not an OME-TIFF.
    pub fn open(path: &Path) -> Result<Self, OmeError> {
        Self::open_if_ome(path)?.ok_or_else(|| OmeError::Xml("not an OME-TIFF (no OME-XML description)".into()))
    }

    /// [`OmeTiff::open`] when `path` is a TIFF whose first description is OME-XML; `Ok(None)`
    /// for anything else (other slide formats go on to OpenSlide), read in one pass.
    pub fn open_if_ome(path: &Path) -> Result<Option<Self>, OmeError> {
        let Some(mut decoder) = File::open(path).ok().and_then(|f| Decoder::new(BufReader::new(f)).ok()) else {
            return Ok(None);
        };
        decoder = decoder.with_limits(limits());
        let Ok(xml) = decoder.get_tag_ascii_string(Tag::ImageDescription) else { return Ok(None) };
        if !(xml.contains("<OME") || xml.contains(":OME")) {
            return Ok(None);
        }
        let spacing = ome_spacing(&xml)?;
        let first = level_of(&mut decoder.image_ifd(), 0)?;
        let subs: Vec<u64> = decoder.find_tag_unsigned_vec(Tag::SubIfd)?.unwrap_or_default();
        let mut levels = vec![first];
        if subs.is_empty() {
            // Older pyramids: the following top-level IFDs, while each reduces the one before
            // (a label or macro image, or the next channel or plane, ends the pyramid).
            let mut index = 0;
            while decoder.more_images() && index < 64 {
                decoder.next_image()?;
                index += 1;
                let Ok(level) = level_of(&mut decoder.image_ifd(), index) else { break };
                if !levels.last().is_some_and(|l| reduces(l, &level)) {
                    break;
                }
                levels.push(level);
            }
        } else {
            for (i, offset) in subs.iter().take(64).enumerate() {
                let dir = decoder.read_directory(IfdPointer(*offset))?;
                let level = level_of(&mut decoder.read_directory_tags(&dir), i + 1)?;
                if reduces(levels.last().unwrap_or(&level), &level) {
                    levels.push(level);
                }
            }
        }
        let file = File::open(path)?;
        Ok(Some(Self {
            path: path.to_path_buf(),
            levels,
            spacing,
            reader: Mutex::new(Reader { file: BufReader::new(file), cache: VecDeque::new() }),
        }))
    }

    /// Level sizes, largest first.
    pub fn level_sizes(&self) -> Vec<(u32, u32)> {
        self.levels.iter().map(|l| (l.width, l.height)).collect()
    }

    /// Level-0 µm/px from the OME-XML, when it says.
    pub fn spacing(&self) -> Option<PixelSpacing> {
        self.spacing
    }

    /// The decoded chunk `index` of `level`: rows of `chunk_w` RGB pixels.
    fn chunk(&self, level: usize, index: usize) -> Result<std::sync::Arc<Vec<u8>>, OmeError> {
        let mut reader = self.reader.lock().map_err(|_| OmeError::Poisoned)?;
        if let Some((_, data)) = reader.cache.iter().find(|(k, _)| *k == (level, index)) {
            return Ok(data.clone());
        }
        let l = &self.levels[level];
        let err = |detail: String| OmeError::Chunk { level, index, detail };
        let (offset, count) = (l.offsets[index], l.counts[index]);
        if count > MAX_CHUNK_BYTES {
            return Err(err(format!("{count} bytes; larger than any real tile or strip")));
        }
        let mut raw = vec![0u8; count as usize];
        reader.file.seek(SeekFrom::Start(offset))?;
        reader.file.read_exact(&mut raw).map_err(|e| err(format!("{count} bytes at offset {offset}: {e}")))?;
        let expected = l.chunk_w as usize * l.chunk_h as usize * 3;
        let mut data = match l.compression {
            1 => raw,
            8 | 32946 => {
                let mut out = Vec::with_capacity(expected);
                flate2::read::ZlibDecoder::new(&raw[..])
                    .take(expected as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| err(format!("Deflate: {e}")))?;
                out
            }
            5 => {
                // Into a buffer of the chunk's decoded size: a bomb (a few KB inflating to
                // gigabytes) stops there, as Deflate's `take` does.
                let mut out = vec![0u8; expected];
                let mut lzw = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
                let (mut read, mut written) = (0, 0);
                // Until the strip is full or the code stream ends (the decoder may still hold
                // output after the last input byte).
                while written < expected {
                    let r = lzw.decode_bytes(&raw[read..], &mut out[written..]);
                    read += r.consumed_in;
                    written += r.consumed_out;
                    match r.status {
                        Ok(weezl::LzwStatus::Ok) if r.consumed_in + r.consumed_out > 0 => {}
                        Ok(_) => break,
                        Err(e) => return Err(err(format!("LZW: {e}"))),
                    }
                }
                out.truncate(written);
                out
            }
            7 => {
                // The shared tables merged in, and RGB components said to be RGB (else decoded
                // as YCbCr: false colours).
                let stream = melanoscope_shared::image::jpeg_chunk_stream(l.jpeg_tables.as_deref(), &raw, l.jpeg_rgb);
                let img = melanoscope_shared::image::decode_rgb(&stream).map_err(|e| err(format!("JPEG: {e}")))?;
                if (img.width(), img.height()) != (l.chunk_w, l.chunk_h) {
                    return Err(err(format!(
                        "JPEG of {}x{} in a {}x{} chunk",
                        img.width(),
                        img.height(),
                        l.chunk_w,
                        l.chunk_h
                    )));
                }
                img.as_raw().to_vec()
            }
            other => return Err(err(format!("compression {other}"))),
        };
        // The last strip may be short; everything else is a whole chunk.
        let rows = (l.height - (index as u32 / l.width.div_ceil(l.chunk_w)) * l.chunk_h).min(l.chunk_h);
        let minimum = l.chunk_w as usize * if l.chunk_w == l.width { rows as usize } else { l.chunk_h as usize } * 3;
        if data.len() < minimum {
            return Err(err(format!("{} bytes decoded; expected {minimum}", data.len())));
        }
        data.truncate(expected);
        if l.predictor == 2 {
            // Horizontal differencing, per row of the chunk, per sample.
            for row in data.chunks_mut(l.chunk_w as usize * 3) {
                for i in 3..row.len() {
                    row[i] = row[i].wrapping_add(row[i - 3]);
                }
            }
        }
        let data = std::sync::Arc::new(data);
        let mut held: usize = reader.cache.iter().map(|(_, d)| d.len()).sum();
        while reader.cache.len() >= CACHED_CHUNKS || (held + data.len() > CACHE_BYTES && !reader.cache.is_empty()) {
            held -= reader.cache.pop_front().map_or(0, |(_, d)| d.len());
        }
        if data.len() <= CACHE_BYTES {
            reader.cache.push_back(((level, index), data.clone()));
        }
        Ok(data)
    }

    /// `w`x`h` pixels of `level` from level pixel (`x`, `y`); outside the image is white glass.
    pub fn read(&self, level: usize, x: u64, y: u64, w: u32, h: u32) -> Result<RgbImage, OmeError> {
        let l = self.levels.get(level).ok_or(OmeError::Unsupported { level, detail: "no such level".into() })?;
        let mut out = RgbImage::filled(w, h, [255; 3])?;
        let (lw, lh) = (u64::from(l.width), u64::from(l.height));
        let (x_end, y_end) = ((x + u64::from(w)).min(lw), (y + u64::from(h)).min(lh));
        if x >= x_end || y >= y_end {
            return Ok(out);
        }
        let (cw, ch) = (u64::from(l.chunk_w), u64::from(l.chunk_h));
        let across = lw.div_ceil(cw);
        for cy in y / ch..y_end.div_ceil(ch) {
            for cx in x / cw..x_end.div_ceil(cw) {
                let index = (cy * across + cx) as usize;
                let data = self.chunk(level, index)?;
                let (x0, y0) = (cx * cw, cy * ch);
                let (sx0, sx1) = (x.max(x0), x_end.min(x0 + cw));
                let (sy0, sy1) = (y.max(y0), y_end.min(y0 + ch));
                let raw = out.as_raw_mut();
                for yy in sy0..sy1 {
                    let src = (((yy - y0) * cw + (sx0 - x0)) * 3) as usize;
                    let dst = (((yy - y) * u64::from(w)) + (sx0 - x)) as usize * 3;
                    let n = ((sx1 - sx0) * 3) as usize;
                    let Some(from) = data.get(src..src + n) else {
                        return Err(OmeError::Chunk { level, index, detail: "shorter than its rows".into() });
                    };
                    raw[dst..dst + n].copy_from_slice(from);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_sizes_are_read_with_their_units() {
        let px = |x: &str| ome_spacing(&format!("<OME><Image><Pixels ID=\"P\" {x} SizeX=\"9\">")).unwrap();
        assert_eq!(px("PhysicalSizeX=\"0.25\" PhysicalSizeY=\"0.26\""), Some(PixelSpacing { x: 0.25, y: 0.26 }));
        let nm = px("PhysicalSizeX=\"250\" PhysicalSizeXUnit=\"nm\" PhysicalSizeY=\"250\" PhysicalSizeYUnit=\"nm\"")
            .unwrap();
        assert!((nm.x - 0.25).abs() < 1e-12 && (nm.y - 0.25).abs() < 1e-12);
        assert_eq!(px("PhysicalSizeX='0.5' PhysicalSizeXUnit='µm'"), Some(PixelSpacing { x: 0.5, y: 0.5 }));
        assert_eq!(px("SizeC=\"3\""), None);
        let bad = |x: &str| ome_spacing(&format!("<Pixels {x}>")).unwrap_err().to_string();
        assert!(bad("PhysicalSizeX=\"abc\"").contains("not a number"));
        assert!(bad("PhysicalSizeX=\"1\" PhysicalSizeXUnit=\"furlong\"").contains("furlong"));
        assert!(bad("PhysicalSizeX=\"-1\"").contains("positive"));
        assert!(ome_spacing("<OME></OME>").unwrap_err().to_string().contains("Pixels"));
        // An attribute whose name ends another's is not mistaken for it.
        assert_eq!(px("XPhysicalSizeX=\"9\" PhysicalSizeX=\"0.5\""), Some(PixelSpacing { x: 0.5, y: 0.5 }));
    }
}
