//! The record log on disk: appends go to the end of the file with one `write` and are
//! flushed to storage, so a power cut loses at most the record being written.

use super::{FormatError, LogScan, ScreeningRecord, encode_log_frame, scan_log};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Appends records to a log file.
#[derive(Debug)]
pub struct RecordLogWriter {
    file: File,
    path: PathBuf,
    sync: bool,
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> FormatError {
    FormatError::Io(format!("{what} {}: {e}", path.display()))
}

impl RecordLogWriter {
    /// Opens (or creates) the log for appending. `sync` flushes each record to storage
    /// before returning (what a device that can lose power wants).
    pub fn open(path: &Path, sync: bool) -> Result<Self, FormatError> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(|e| io_err(path, "cannot open record log", e))?;
        // If the last write was torn, seal it with a delimiter so the next record starts a
        // fresh frame instead of being glued to the broken one.
        let len = file.metadata().map_err(|e| io_err(path, "cannot stat record log", e))?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1)).map_err(|e| io_err(path, "cannot seek record log", e))?;
            file.read_exact(&mut last).map_err(|e| io_err(path, "cannot read record log", e))?;
            if last[0] != 0 {
                tracing::warn!(path = %path.display(), "record log ends in a torn record; sealing it");
                file.write_all(&[0]).map_err(|e| io_err(path, "cannot write record log", e))?;
            }
        }
        Ok(Self { file, path: path.to_path_buf(), sync })
    }

    /// Appends one record.
    pub fn append(&mut self, record: &ScreeningRecord) -> Result<(), FormatError> {
        let frame = encode_log_frame(record)?;
        self.file.write_all(&frame).map_err(|e| io_err(&self.path, "cannot append to record log", e))?;
        if self.sync {
            self.file.sync_data().map_err(|e| io_err(&self.path, "cannot flush record log", e))?;
        }
        Ok(())
    }
}

/// Reads and scans a whole log file.
pub fn read_log_file(path: &Path) -> Result<LogScan, FormatError> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, "cannot read record log", e))?;
    Ok(scan_log(&bytes))
}

#[cfg(test)]
mod tests {
    use super::super::log::tests::record;
    use super::*;

    #[test]
    fn reopening_after_a_torn_write_keeps_new_records_readable() {
        let dir = std::env::temp_dir().join(format!("msc-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("records.log");
        let _ = std::fs::remove_file(&path);
        let mut w = RecordLogWriter::open(&path, true).unwrap();
        w.append(&record(0)).unwrap();
        w.append(&record(1)).unwrap();
        drop(w);
        // Simulate a power cut in the middle of the third record.
        let frame = encode_log_frame(&record(2)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&frame[..frame.len() / 2]).unwrap();
        drop(f);
        let mut w = RecordLogWriter::open(&path, false).unwrap();
        w.append(&record(3)).unwrap();
        let scan = read_log_file(&path).unwrap();
        let ids: Vec<u64> = scan.records.iter().map(|(_, r)| r.frame_id).collect();
        assert_eq!(ids, vec![0, 1, 3]);
        assert_eq!(scan.damaged.len(), 1, "the torn record is reported, not hidden");
        assert!(read_log_file(&dir.join("missing.log")).unwrap_err().to_string().contains("missing.log"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
