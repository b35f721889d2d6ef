//! A pyramidal, tiled BigTIFF writer for synthetic slides. Tiles are written as they are made
//! (Deflate-compressed RGB, any level, any order), so memory holds one row of tiles per level.
//! In the Aperio layout the first IFD carries an Aperio-style ImageDescription with `MPP`, which
//! OpenSlide reads as `openslide.mpp-x/y`; in the OME layouts it carries OME-XML with
//! `PhysicalSizeX/Y`, and the reduced levels are SubIFDs of the first (OME-TIFF 6) or follow it
//! as top-level IFDs (older pyramids), as microscopy software writes them.

use crate::SynthError;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use melanoscope_shared::image::RgbImage;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Tile side in pixels.
pub const TILE: u32 = 256;

/// How the levels and the µm/px are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TiffLayout {
    /// Aperio-style description, levels as top-level IFDs (what OpenSlide reads).
    Aperio,
    /// OME-XML, reduced levels as SubIFDs of the first IFD.
    OmeSubIfds,
    /// OME-XML, reduced levels as top-level IFDs after the first.
    OmeTopLevel,
}

/// The OME-XML of a single RGB image of `width`x`height` at `um_per_px` (given in `unit`).
pub fn ome_xml(width: u32, height: u32, um_per_px: f64, unit: &str) -> String {
    let factor = match unit {
        "nm" => 1000.0,
        "mm" => 0.001,
        _ => 1.0,
    };
    let size = um_per_px * factor;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\" Creator=\"Melanoscope synthetic\">\
<Image ID=\"Image:0\" Name=\"synthetic lesion\"><Pixels ID=\"Pixels:0\" DimensionOrder=\"XYCZT\" Type=\"uint8\" \
SizeX=\"{width}\" SizeY=\"{height}\" SizeC=\"3\" SizeZ=\"1\" SizeT=\"1\" Interleaved=\"true\" \
PhysicalSizeX=\"{size}\" PhysicalSizeXUnit=\"{unit}\" PhysicalSizeY=\"{size}\" PhysicalSizeYUnit=\"{unit}\">\
<Channel ID=\"Channel:0:0\" SamplesPerPixel=\"3\"/><TiffData IFD=\"0\" PlaneCount=\"1\"/></Pixels></Image></OME>"
    )
}

struct Level {
    width: u32,
    height: u32,
    offsets: Vec<u64>,
    counts: Vec<u64>,
}

/// Declare levels with [`TiffPyramidWriter::add_level`] (largest first), write their tile rows
/// with [`TiffPyramidWriter::write_tile_row`], then [`TiffPyramidWriter::finish`].
pub struct TiffPyramidWriter {
    out: BufWriter<File>,
    path: PathBuf,
    tmp: PathBuf,
    levels: Vec<Level>,
    description: String,
    layout: TiffLayout,
}

impl std::fmt::Debug for TiffPyramidWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TiffPyramidWriter({})", self.path.display())
    }
}

fn io(path: &Path, source: std::io::Error) -> SynthError {
    SynthError::Io { path: path.to_path_buf(), source }
}

impl TiffPyramidWriter {
    /// Starts a slide whose level 0 is `um_per_px` µm/px at `app_mag` objective power.
    pub fn create(path: &Path, level0: (u32, u32), um_per_px: f64, app_mag: u32) -> Result<Self, SynthError> {
        Self::create_as(path, level0, um_per_px, app_mag, TiffLayout::Aperio)
    }

    /// [`TiffPyramidWriter::create`] in `layout`.
    pub fn create_as(
        path: &Path,
        level0: (u32, u32),
        um_per_px: f64,
        app_mag: u32,
        layout: TiffLayout,
    ) -> Result<Self, SynthError> {
        let tmp = melanoscope_shared::atomic::temp_path(path);
        let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        // BigTIFF header: byte order, version 43, offset size 8, reserved, first IFD offset (patched later).
        out.write_all(b"II")
            .and_then(|_| out.write_all(&43u16.to_le_bytes()))
            .and_then(|_| out.write_all(&8u16.to_le_bytes()))
            .and_then(|_| out.write_all(&0u16.to_le_bytes()))
            .and_then(|_| out.write_all(&0u64.to_le_bytes()))
            .map_err(|e| io(&tmp, e))?;
        let description = match layout {
            TiffLayout::Aperio => format!(
                "Aperio Image Library Melanoscope synthetic\r\n{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE}) Deflate|AppMag = {app_mag}|MPP = {um_per_px:.4}",
                w = level0.0,
                h = level0.1
            ),
            TiffLayout::OmeSubIfds | TiffLayout::OmeTopLevel => ome_xml(level0.0, level0.1, um_per_px, "µm"),
        };
        Ok(Self { out, path: path.into(), tmp, levels: Vec::new(), description, layout })
    }

    /// Declares the next level (largest first); its tiles may then be written in any order.
    pub fn add_level(&mut self, width: u32, height: u32) -> usize {
        let n = (width.div_ceil(TILE) * height.div_ceil(TILE)) as usize;
        self.levels.push(Level { width, height, offsets: vec![0; n], counts: vec![0; n] });
        self.levels.len() - 1
    }

    /// Writes one row of tiles of `level` from `strip` (the level's full width, up to `TILE`
    /// rows; pixels beyond the level's edge are padded with glass white).
    pub fn write_tile_row(&mut self, level: usize, row: u32, strip: &RgbImage) -> Result<(), SynthError> {
        let (width, height) = match self.levels.get(level) {
            Some(l) => (l.width, l.height),
            None => return Err(SynthError::Invalid(format!("level {level} was not declared"))),
        };
        let (cols, rows) = (width.div_ceil(TILE), height.div_ceil(TILE));
        if row >= rows || strip.width() < width {
            return Err(SynthError::Invalid(format!(
                "tile row {row} of level {level} ({}x{}) does not fit {width}x{height}",
                strip.width(),
                strip.height()
            )));
        }
        let strip_h = strip.height().min(TILE).min(height - row * TILE);
        let mut tile = vec![255u8; (TILE * TILE * 3) as usize];
        for c in 0..cols {
            tile.fill(255);
            let x0 = c * TILE;
            let w = TILE.min(width - x0);
            for y in 0..strip_h {
                let src = &strip.row(y)[(x0 * 3) as usize..((x0 + w) * 3) as usize];
                let at = (y * TILE * 3) as usize;
                tile[at..at + src.len()].copy_from_slice(src);
            }
            let mut enc = ZlibEncoder::new(Vec::with_capacity(64 << 10), Compression::fast());
            enc.write_all(&tile).map_err(|e| io(&self.tmp, e))?;
            let bytes = enc.finish().map_err(|e| io(&self.tmp, e))?;
            let offset = self.out.stream_position().map_err(|e| io(&self.tmp, e))?;
            self.out.write_all(&bytes).map_err(|e| io(&self.tmp, e))?;
            let i = (row * cols + c) as usize;
            self.levels[level].offsets[i] = offset;
            self.levels[level].counts[i] = bytes.len() as u64;
        }
        Ok(())
    }

    /// Writes the directories, flushes, and moves the file into place.
    pub fn finish(mut self) -> Result<PathBuf, SynthError> {
        let tmp = self.tmp.clone();
        let e = |err: std::io::Error| io(&tmp, err);
        let levels = std::mem::take(&mut self.levels);
        // (offset of the IFD, offset of its next-IFD pointer) per level, as written. With
        // SubIFDs the reduced levels go first, so that level 0 can list where they are.
        let mut ifds: Vec<(u64, u64)> = vec![(0, 0); levels.len()];
        let order: Vec<usize> = match self.layout {
            TiffLayout::OmeSubIfds => (1..levels.len()).chain(std::iter::once(0)).collect(),
            _ => (0..levels.len()).collect(),
        };
        for i in order {
            let subs: Vec<u64> = if self.layout == TiffLayout::OmeSubIfds && i == 0 {
                ifds[1..].iter().map(|(at, _)| *at).collect()
            } else {
                Vec::new()
            };
            ifds[i] = self.write_ifd(&levels[i], i, &subs).map_err(e)?;
        }
        // Link the IFDs: header -> level 0 (-> level 1 -> ... unless they are SubIFDs).
        let chain: Vec<(u64, u64)> = match self.layout {
            TiffLayout::OmeSubIfds => ifds[..1].to_vec(),
            _ => ifds,
        };
        let mut file = self.out.into_inner().map_err(|err| io(&tmp, err.into_error()))?;
        let mut link_at = 8u64;
        for (ifd, next_at) in chain {
            file.seek(SeekFrom::Start(link_at)).map_err(e)?;
            file.write_all(&ifd.to_le_bytes()).map_err(e)?;
            link_at = next_at;
        }
        file.sync_all().map_err(e)?;
        std::fs::rename(&tmp, &self.path).map_err(|err| io(&self.path, err))?;
        Ok(self.path.clone())
    }

    /// Writes the directory of `level` (index `i`) with its out-of-line arrays; `subs` lists
    /// SubIFD offsets for level 0 in the SubIFD layout. Returns (IFD offset, next-pointer offset).
    fn write_ifd(&mut self, level: &Level, i: usize, subs: &[u64]) -> std::io::Result<(u64, u64)> {
        // Out-of-line data first: arrays and the description.
        let mut pos = self.out.stream_position()?;
        let offsets_at = pos;
        for o in &level.offsets {
            self.out.write_all(&o.to_le_bytes())?;
        }
        let counts_at = offsets_at + 8 * level.offsets.len() as u64;
        for c in &level.counts {
            self.out.write_all(&c.to_le_bytes())?;
        }
        pos = counts_at + 8 * level.counts.len() as u64;
        let subs_at = pos;
        if subs.len() > 1 {
            for s in subs {
                self.out.write_all(&s.to_le_bytes())?;
            }
            pos += 8 * subs.len() as u64;
        }
        let desc_at = pos;
        let desc = if i == 0 { Some(format!("{}\0", self.description)) } else { None };
        if let Some(d) = &desc {
            self.out.write_all(d.as_bytes())?;
            pos += d.len() as u64;
        }
        if pos % 2 == 1 {
            self.out.write_all(&[0])?;
            pos += 1;
        }
        // Entries must be sorted by tag.
        let n_tiles = level.offsets.len() as u64;
        let mut entries: Vec<(u16, u16, u64, u64)> = vec![
            (256, 4, 1, u64::from(level.width)),  // ImageWidth (LONG)
            (257, 4, 1, u64::from(level.height)), // ImageLength
            (258, 3, 3, 0x0008_0008_0008),        // BitsPerSample 8,8,8 (inline SHORTs)
            (259, 3, 1, 8),                       // Compression: Adobe Deflate
            (262, 3, 1, 2),                       // Photometric: RGB
            (277, 3, 1, 3),                       // SamplesPerPixel
            (284, 3, 1, 1),                       // PlanarConfiguration: contiguous
            (322, 3, 1, u64::from(TILE)),         // TileWidth
            (323, 3, 1, u64::from(TILE)),         // TileLength
            (324, 16, n_tiles, offsets_at),       // TileOffsets (LONG8)
            (325, 16, n_tiles, counts_at),        // TileByteCounts (LONG8)
        ];
        if let Some(d) = &desc {
            entries.push((270, 2, d.len() as u64, desc_at)); // ImageDescription (ASCII)
        }
        if i > 0 && self.layout != TiffLayout::Aperio {
            entries.push((254, 4, 1, 1)); // NewSubfileType: reduced resolution
        }
        if !subs.is_empty() {
            // SubIFDs (IFD8); a single offset fits inline.
            let value = if subs.len() == 1 { subs[0] } else { subs_at };
            entries.push((330, 18, subs.len() as u64, value));
        }
        entries.sort_by_key(|e| e.0);
        // A single tile's array fits inline in the 8-byte value field.
        self.out.write_all(&(entries.len() as u64).to_le_bytes())?;
        for (tag, ty, count, value) in &entries {
            let value = if (*tag == 324 || *tag == 325) && *count == 1 {
                if *tag == 324 { level.offsets[0] } else { level.counts[0] }
            } else {
                *value
            };
            self.out.write_all(&tag.to_le_bytes())?;
            self.out.write_all(&ty.to_le_bytes())?;
            self.out.write_all(&count.to_le_bytes())?;
            self.out.write_all(&value.to_le_bytes())?;
        }
        // Next-IFD offset, patched by `finish`.
        let next_at = self.out.stream_position()?;
        self.out.write_all(&0u64.to_le_bytes())?;
        Ok((pos, next_at))
    }
}

/// Writes `img` as a classic (32-bit offset) stripped, uncompressed RGB TIFF whose description
/// is OME-XML at `um_per_px` given in `unit`: what a camera or image-analysis program exports
/// for a region of interest. Written to a temporary name and moved into place.
pub fn write_stripped_ome(img: &RgbImage, um_per_px: f64, unit: &str, path: &Path) -> Result<(), SynthError> {
    const ROWS_PER_STRIP: u32 = 16;
    let (w, h) = (img.width(), img.height());
    let row_bytes = w * 3;
    let strips: Vec<(u32, u32)> = (0..h.div_ceil(ROWS_PER_STRIP))
        .map(|s| (s * ROWS_PER_STRIP * row_bytes, ROWS_PER_STRIP.min(h - s * ROWS_PER_STRIP) * row_bytes))
        .collect();
    let layout = StrippedOme { width: w, height: h, rows_per_strip: ROWS_PER_STRIP, compression: 1, um_per_px, unit };
    let out = layout.bytes(img.as_raw(), &strips);
    melanoscope_shared::atomic::write_atomic(path, &out).map_err(|e| io(path, e))
}

/// The layout of a classic stripped RGB OME-TIFF, for [`write_stripped_ome`] and for tests
/// that write what no camera does (a header claiming a huge image, strips that are bombs).
#[derive(Debug, Clone, Copy)]
pub struct StrippedOme<'a> {
    pub width: u32,
    pub height: u32,
    pub rows_per_strip: u32,
    /// TIFF compression code: 1 none, 5 LZW, 8 Deflate.
    pub compression: u16,
    pub um_per_px: f64,
    pub unit: &'a str,
}

impl StrippedOme<'_> {
    /// The file: `data` after the header, and one strip per `(offset in data, length)` (strips
    /// may share bytes).
    pub fn bytes(&self, data: &[u8], strips: &[(u32, u32)]) -> Vec<u8> {
        let desc = format!("{}\0", ome_xml(self.width, self.height, self.um_per_px, self.unit));
        let mut out: Vec<u8> = Vec::with_capacity(data.len() + 8 * strips.len() + desc.len() + 1024);
        out.extend_from_slice(b"II");
        out.extend_from_slice(&42u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // first IFD offset, patched below
        let data_at = out.len() as u32;
        out.extend_from_slice(data);
        let array = |values: &mut dyn Iterator<Item = u32>, out: &mut Vec<u8>| {
            let at = out.len() as u32;
            values.for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
            at
        };
        let offsets_at = array(&mut strips.iter().map(|(o, _)| data_at + o), &mut out);
        let counts_at = array(&mut strips.iter().map(|(_, n)| *n), &mut out);
        let bits_at = out.len() as u32;
        [8u16, 8, 8].iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        let desc_at = out.len() as u32;
        out.extend_from_slice(desc.as_bytes());
        if out.len() % 2 == 1 {
            out.push(0);
        }
        let ifd_at = out.len() as u32;
        let n = strips.len() as u32;
        // (tag, type, count, value or offset); the strip arrays are always written out of line
        // (one strip's would fit inline, but every caller has several).
        let entries: [(u16, u16, u32, u32); 11] = [
            (256, 4, 1, self.width),
            (257, 4, 1, self.height),
            (258, 3, 3, bits_at),
            (259, 3, 1, u32::from(self.compression)),
            (262, 3, 1, 2), // RGB
            (270, 2, desc.len() as u32, desc_at),
            (273, 4, n, offsets_at),
            (277, 3, 1, 3),
            (278, 4, 1, self.rows_per_strip),
            (279, 4, n, counts_at),
            (284, 3, 1, 1),
        ];
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, ty, count, value) in entries {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&ty.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        out[4..8].copy_from_slice(&ifd_at.to_le_bytes());
        out
    }
}
