//! The patch manifest: one Parquet row per kept patch, written in row groups so that ten
//! million patches never sit in memory at once. Readable by pandas, polars and DuckDB.

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::RowAccessor;
use parquet::schema::parser::parse_message_type;
use serde::Serialize;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

const SCHEMA: &str = "
message patch_manifest {
  required binary slide (UTF8);
  required binary slide_id (UTF8);
  required binary patient_id (UTF8);
  required binary label (UTF8);
  optional binary site (UTF8);
  required binary magnification (UTF8);
  required double requested_um_per_px;
  required double effective_um_per_px;
  required int32 level;
  required int64 x0;
  required int64 y0;
  required int64 size0;
  required int32 patch_size;
  required float background_fraction;
  required binary slide_label (UTF8);
  optional int32 region_id;
  optional binary region_name (UTF8);
  optional binary region_class (UTF8);
  optional float region_overlap;
}";

/// Rows buffered before a row group is written (about 10 MB of column data).
const ROWS_PER_GROUP: usize = 65_536;

/// One patch of the manifest; coordinates are level-0 pixels of the slide. `label` is the
/// patch's label (from its region when regions carry labels), `slide_label` the cohort's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManifestRow {
    pub slide: String,
    pub slide_id: String,
    pub patient_id: String,
    pub label: String,
    pub site: Option<String>,
    pub magnification: String,
    pub requested_um_per_px: f64,
    pub effective_um_per_px: f64,
    pub level: i32,
    pub x0: i64,
    pub y0: i64,
    pub size0: i64,
    pub patch_size: i32,
    pub background_fraction: f32,
    pub slide_label: String,
    /// The delineated region the patch came from: its 1-based position in the annotation file.
    pub region_id: Option<i32>,
    pub region_name: Option<String>,
    pub region_class: Option<String>,
    /// Fraction of the patch inside that region.
    pub region_overlap: Option<f32>,
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("manifest {path}: {detail}")]
    Io { path: PathBuf, detail: String },
}

/// Streams rows into a Parquet file, written under a temporary name and renamed on `finish`.
pub struct ManifestWriter {
    writer: Option<SerializedFileWriter<File>>,
    path: PathBuf,
    tmp: PathBuf,
    buffer: Vec<ManifestRow>,
    rows: u64,
}

impl std::fmt::Debug for ManifestWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ManifestWriter({}, {} rows)", self.path.display(), self.rows)
    }
}

impl ManifestWriter {
    pub fn create(path: &Path) -> Result<Self, ManifestError> {
        let err = |e: &dyn std::fmt::Display| ManifestError::Io { path: path.into(), detail: e.to_string() };
        let schema = Arc::new(parse_message_type(SCHEMA).map_err(|e| err(&e))?);
        let props = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
        let tmp = melanoscope_shared::atomic::temp_path(path);
        let file = File::create(&tmp).map_err(|e| err(&e))?;
        let writer = SerializedFileWriter::new(file, schema, props).map_err(|e| err(&e))?;
        Ok(Self { writer: Some(writer), path: path.into(), tmp, buffer: Vec::new(), rows: 0 })
    }

    pub fn push(&mut self, row: ManifestRow) -> Result<(), ManifestError> {
        self.buffer.push(row);
        if self.buffer.len() >= ROWS_PER_GROUP {
            self.flush_group()?;
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<(), ManifestError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |e: parquet::errors::ParquetError| ManifestError::Io {
            path: path.clone(),
            detail: melanoscope_shared::errors::error_chain(&e),
        };
        let Some(writer) = self.writer.as_mut() else {
            return Err(ManifestError::Io { path: self.path.clone(), detail: "writer already finished".into() });
        };
        let rows = std::mem::take(&mut self.buffer);
        let mut group = writer.next_row_group().map_err(err)?;
        let mut index = 0;
        let strings = |f: &dyn Fn(&ManifestRow) -> &str| -> Vec<ByteArray> {
            rows.iter().map(|r| ByteArray::from(f(r))).collect()
        };
        // Optional columns: the present values, and a definition level (0 = null) per row.
        let opt_strings = |f: &dyn Fn(&ManifestRow) -> Option<&str>| -> (Vec<ByteArray>, Vec<i16>) {
            (rows.iter().filter_map(|r| f(r).map(ByteArray::from)).collect(), defs(&rows, |r| f(r).is_some()))
        };
        while let Some(mut col) = group.next_column().map_err(err)? {
            match index {
                0 => col.typed::<ByteArrayType>().write_batch(&strings(&|r| &r.slide), None, None),
                1 => col.typed::<ByteArrayType>().write_batch(&strings(&|r| &r.slide_id), None, None),
                2 => col.typed::<ByteArrayType>().write_batch(&strings(&|r| &r.patient_id), None, None),
                3 => col.typed::<ByteArrayType>().write_batch(&strings(&|r| &r.label), None, None),
                4 => {
                    let (values, defs) = opt_strings(&|r| r.site.as_deref());
                    col.typed::<ByteArrayType>().write_batch(&values, Some(&defs), None)
                }
                5 => col.typed::<ByteArrayType>().write_batch(&strings(&|r| &r.magnification), None, None),
                6 => col.typed::<DoubleType>().write_batch(&collect(&rows, |r| r.requested_um_per_px), None, None),
                7 => col.typed::<DoubleType>().write_batch(&collect(&rows, |r| r.effective_um_per_px), None, None),
                8 => col.typed::<Int32Type>().write_batch(&collect(&rows, |r| r.level), None, None),
                9 => col.typed::<Int64Type>().write_batch(&collect(&rows, |r| r.x0), None, None),
                10 => col.typed::<Int64Type>().write_batch(&collect(&rows, |r| r.y0), None, None),
                11 => col.typed::<Int64Type>().write_batch(&collect(&rows, |r| r.size0), None, None),
                12 => col.typed::<Int32Type>().write_batch(&collect(&rows, |r| r.patch_size), None, None),
                13 => col.typed::<FloatType>().write_batch(&collect(&rows, |r| r.background_fraction), None, None),
                14 => col.typed::<ByteArrayType>().write_batch(&strings(&|r| &r.slide_label), None, None),
                15 => col.typed::<Int32Type>().write_batch(
                    &rows.iter().filter_map(|r| r.region_id).collect::<Vec<_>>(),
                    Some(&defs(&rows, |r| r.region_id.is_some())),
                    None,
                ),
                16 => {
                    let (values, defs) = opt_strings(&|r| r.region_name.as_deref());
                    col.typed::<ByteArrayType>().write_batch(&values, Some(&defs), None)
                }
                17 => {
                    let (values, defs) = opt_strings(&|r| r.region_class.as_deref());
                    col.typed::<ByteArrayType>().write_batch(&values, Some(&defs), None)
                }
                _ => col.typed::<FloatType>().write_batch(
                    &rows.iter().filter_map(|r| r.region_overlap).collect::<Vec<_>>(),
                    Some(&defs(&rows, |r| r.region_overlap.is_some())),
                    None,
                ),
            }
            .map_err(err)?;
            col.close().map_err(err)?;
            index += 1;
        }
        group.close().map_err(err)?;
        self.rows += rows.len() as u64;
        Ok(())
    }

    /// Writes the last row group and the footer, flushes to disk and moves the file into place.
    pub fn finish(mut self) -> Result<u64, ManifestError> {
        self.flush_group()?;
        let err = |e: &dyn std::fmt::Display| ManifestError::Io { path: self.path.clone(), detail: e.to_string() };
        if let Some(writer) = self.writer.take() {
            let file = writer.into_inner().map_err(|e| err(&e))?;
            file.sync_all().map_err(|e| err(&e))?;
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|e| err(&e))?;
        Ok(self.rows)
    }
}

impl Drop for ManifestWriter {
    fn drop(&mut self) {
        // An unfinished manifest never replaces a finished one.
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn collect<T>(rows: &[ManifestRow], f: impl Fn(&ManifestRow) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

fn defs(rows: &[ManifestRow], present: impl Fn(&ManifestRow) -> bool) -> Vec<i16> {
    rows.iter().map(|r| i16::from(present(r))).collect()
}

/// Reads a whole manifest (for tests and small cohorts; large ones are read by row group).
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestRow>, ManifestError> {
    let err = |e: &dyn std::fmt::Display| ManifestError::Io { path: path.into(), detail: e.to_string() };
    // The trainer writes absolute paths; a relative one (a manifest moved with its patches, or
    // written by another tool) is taken from the manifest's own folder, wherever the command runs.
    let base = std::path::absolute(path).map_err(|e| err(&e))?.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |slide: String| {
        if Path::new(&slide).is_relative() { base.join(&slide).display().to_string() } else { slide }
    };
    let reader = SerializedFileReader::try_from(path).map_err(|e| err(&e))?;
    let mut rows = Vec::new();
    for row in reader.get_row_iter(None).map_err(|e| err(&e))? {
        let r = row.map_err(|e| err(&e))?;
        let s = |i: usize| r.get_string(i).cloned().map_err(|e| err(&e));
        rows.push(ManifestRow {
            slide: resolve(s(0)?),
            slide_id: s(1)?,
            patient_id: s(2)?,
            label: s(3)?,
            site: r.get_string(4).ok().cloned(),
            magnification: s(5)?,
            requested_um_per_px: r.get_double(6).map_err(|e| err(&e))?,
            effective_um_per_px: r.get_double(7).map_err(|e| err(&e))?,
            level: r.get_int(8).map_err(|e| err(&e))?,
            x0: r.get_long(9).map_err(|e| err(&e))?,
            y0: r.get_long(10).map_err(|e| err(&e))?,
            size0: r.get_long(11).map_err(|e| err(&e))?,
            patch_size: r.get_int(12).map_err(|e| err(&e))?,
            background_fraction: r.get_float(13).map_err(|e| err(&e))?,
            slide_label: s(14)?,
            region_id: r.get_int(15).ok(),
            region_name: r.get_string(16).ok().cloned(),
            region_class: r.get_string(17).ok().cloned(),
            region_overlap: r.get_float(18).ok(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: i64) -> ManifestRow {
        ManifestRow {
            slide: format!("/slides/s{}.tif", i % 3),
            slide_id: format!("S{}", i % 3),
            patient_id: "P1".into(),
            label: "MM".into(),
            site: (i % 2 == 0).then(|| "north".to_string()),
            magnification: "40X".into(),
            requested_um_per_px: 0.25,
            effective_um_per_px: 0.25,
            level: 0,
            x0: i * 256,
            y0: 512,
            size0: 256,
            patch_size: 256,
            background_fraction: 0.125,
            slide_label: "MM".into(),
            region_id: (i % 3 == 0).then_some(i as i32 % 7 + 1),
            region_name: (i % 3 == 0).then(|| format!("region {}", i % 7 + 1)),
            region_class: (i % 3 == 0).then(|| "Melanoma".to_string()),
            region_overlap: (i % 3 == 0).then_some(0.75),
        }
    }

    #[test]
    fn rows_round_trip_across_row_groups_and_nothing_is_left_half_written() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("manifest");
        let path = dir.join("patches.parquet");
        let mut w = ManifestWriter::create(&path).unwrap();
        let n = ROWS_PER_GROUP as i64 + 10;
        for i in 0..n {
            w.push(row(i)).unwrap();
        }
        assert!(!path.exists(), "the manifest appears only when finished");
        assert_eq!(w.finish().unwrap(), n as u64);
        let back = read_manifest(&path).unwrap();
        assert_eq!(back.len(), n as usize);
        assert_eq!(back[0], row(0));
        assert_eq!(back[n as usize - 1], row(n - 1));
        // The file is ordinary Parquet: pandas (pyarrow) reads the same rows and types.
        let python = std::env::var("VIRTUAL_ENV").map(|v| format!("{v}/bin/python")).unwrap_or("python3".into());
        let check = format!(
            "import pandas as pd; df = pd.read_parquet('{}'); \
             assert len(df) == {n}, len(df); assert str(df.x0.dtype) == 'int64'; \
             assert df.site.isna().sum() == {}; assert df.region_id.notna().sum() == {}; \
             assert df.region_overlap.dropna().eq(0.75).all(); print('pandas ok')",
            path.display(),
            n / 2,
            (n + 2) / 3
        );
        let out = std::process::Command::new(&python).args(["-c", &check]).output().expect("python runs");
        assert!(out.status.success(), "pandas could not read the manifest: {}", String::from_utf8_lossy(&out.stderr));
        // A writer dropped unfinished leaves the finished manifest untouched.
        let mut w = ManifestWriter::create(&path).unwrap();
        w.push(row(1)).unwrap();
        drop(w);
        assert_eq!(read_manifest(&path).unwrap().len(), n as usize);
        assert!(!melanoscope_shared::atomic::temp_path(&path).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn relative_paths_resolve_from_the_manifests_folder_whatever_the_working_folder() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("manifest-rel");
        std::fs::create_dir_all(dir.join("set")).unwrap();
        let path = dir.join("set/manifest.parquet");
        let mut w = ManifestWriter::create(&path).unwrap();
        w.push(ManifestRow { slide: "MM/p1.png".into(), ..row(0) }).unwrap();
        w.push(ManifestRow { slide: "/abs/p2.png".into(), ..row(1) }).unwrap();
        w.finish().unwrap();
        let back = read_manifest(&path).unwrap();
        assert_eq!(back[0].slide, dir.join("set/MM/p1.png").display().to_string());
        assert_eq!(back[1].slide, "/abs/p2.png");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
