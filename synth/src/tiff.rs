//! A pyramidal, tiled BigTIFF writer for synthetic slides. Tiles are written as they are made
//! (Deflate-compressed RGB, any level, any order), so memory holds one row of tiles per level. The first IFD
//! carries an Aperio-style ImageDescription with `MPP`, which OpenSlide reads as
//! `openslide.mpp-x/y` (Debian's OpenSlide 3.4 does not derive µm/px from generic TIFF tags).

use crate::SynthError;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use melanoscope_shared::image::RgbImage;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Tile side in pixels.
pub const TILE: u32 = 256;

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
        let description = format!(
            "Aperio Image Library Melanoscope synthetic\r\n{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE}) Deflate|AppMag = {app_mag}|MPP = {um_per_px:.4}",
            w = level0.0,
            h = level0.1
        );
        Ok(Self { out, path: path.into(), tmp, levels: Vec::new(), description })
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
        // (offset of the IFD, offset of its next-IFD pointer), recorded as written.
        let mut ifds: Vec<(u64, u64)> = Vec::new();
        let levels = std::mem::take(&mut self.levels);
        for (i, level) in levels.iter().enumerate() {
            // Out-of-line data first: arrays and the description.
            let mut pos = self.out.stream_position().map_err(e)?;
            let offsets_at = pos;
            for o in &level.offsets {
                self.out.write_all(&o.to_le_bytes()).map_err(e)?;
            }
            let counts_at = offsets_at + 8 * level.offsets.len() as u64;
            for c in &level.counts {
                self.out.write_all(&c.to_le_bytes()).map_err(e)?;
            }
            pos = counts_at + 8 * level.counts.len() as u64;
            let desc_at = pos;
            let desc = if i == 0 { Some(format!("{}\0", self.description)) } else { None };
            if let Some(d) = &desc {
                self.out.write_all(d.as_bytes()).map_err(e)?;
                pos += d.len() as u64;
            }
            if pos % 2 == 1 {
                self.out.write_all(&[0]).map_err(e)?;
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
            entries.sort_by_key(|e| e.0);
            // A single tile's array fits inline in the 8-byte value field.
            self.out.write_all(&(entries.len() as u64).to_le_bytes()).map_err(e)?;
            for (tag, ty, count, value) in &entries {
                let value = if (*tag == 324 || *tag == 325) && *count == 1 {
                    if *tag == 324 { level.offsets[0] } else { level.counts[0] }
                } else {
                    *value
                };
                self.out.write_all(&tag.to_le_bytes()).map_err(e)?;
                self.out.write_all(&ty.to_le_bytes()).map_err(e)?;
                self.out.write_all(&count.to_le_bytes()).map_err(e)?;
                self.out.write_all(&value.to_le_bytes()).map_err(e)?;
            }
            // Next-IFD offset, patched below.
            let next_at = self.out.stream_position().map_err(e)?;
            self.out.write_all(&0u64.to_le_bytes()).map_err(e)?;
            ifds.push((pos, next_at));
        }
        // Link the IFDs: header -> level 0 -> level 1 -> ...
        let mut file = self.out.into_inner().map_err(|err| io(&tmp, err.into_error()))?;
        let mut link_at = 8u64;
        for (ifd, next_at) in ifds {
            file.seek(SeekFrom::Start(link_at)).map_err(e)?;
            file.write_all(&ifd.to_le_bytes()).map_err(e)?;
            link_at = next_at;
        }
        file.sync_all().map_err(e)?;
        std::fs::rename(&tmp, &self.path).map_err(|err| io(&self.path, err))?;
        Ok(self.path.clone())
    }
}
