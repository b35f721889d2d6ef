//! The record log on disk: appends go to the end of the file with one `write` and are
//! flushed to storage, so a power cut loses at most the record being written.

use super::{FormatError, LogScan, ScreeningRecord, encode_log_frame, scan_log};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What the writer needs of the file under it; a trait so that tests can inject faults.
pub trait LogStorage {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    fn sync_data(&mut self) -> std::io::Result<()>;
    /// The file's length in bytes.
    fn size(&mut self) -> std::io::Result<u64>;
    /// Cuts the file back to `len` bytes.
    fn truncate(&mut self, len: u64) -> std::io::Result<()>;
}

impl LogStorage for File {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        Write::write_all(self, bytes)
    }
    fn sync_data(&mut self) -> std::io::Result<()> {
        File::sync_data(self)
    }
    fn size(&mut self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }
}

/// Appends records to a log file.
#[derive(Debug)]
pub struct RecordLogWriter<S: LogStorage = File> {
    file: S,
    path: PathBuf,
    sync: bool,
    /// A write failed part-way and could not be cut back: the next record starts with a
    /// delimiter so that it is not glued to the torn bytes.
    torn: bool,
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> FormatError {
    FormatError::Io(format!("{what} {}: {e}", path.display()))
}

impl RecordLogWriter<File> {
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
        let mut torn = false;
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1)).map_err(|e| io_err(path, "cannot seek record log", e))?;
            file.read_exact(&mut last).map_err(|e| io_err(path, "cannot read record log", e))?;
            torn = last[0] != 0;
            if torn {
                tracing::warn!(path = %path.display(), "record log ends in a torn record; sealing it");
            }
        }
        Ok(Self::on(file, path, sync, torn))
    }
}

impl<S: LogStorage> RecordLogWriter<S> {
    /// A writer on `storage` (named `path` in errors); `torn`: it ends part-way through a record.
    pub fn on(storage: S, path: &Path, sync: bool, torn: bool) -> Self {
        Self { file: storage, path: path.to_path_buf(), sync, torn }
    }

    /// Appends one record. A failed write is cut back to the last whole record (or, when even
    /// that fails, the next record starts after a fresh delimiter); the record is not written
    /// and the caller keeps it to try again.
    pub fn append(&mut self, record: &ScreeningRecord) -> Result<(), FormatError> {
        let mut frame = encode_log_frame(record)?;
        if self.torn {
            frame.insert(0, 0);
        }
        let before = self.file.size().map_err(|e| io_err(&self.path, "cannot stat record log", e))?;
        let written = self.file.write_all(&frame).and_then(|()| if self.sync { self.file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            self.torn = match self.file.truncate(before) {
                Ok(()) => self.torn,
                Err(cut) => {
                    tracing::warn!(path = %self.path.display(), error = %cut, "cannot cut a failed record back");
                    true
                }
            };
            return Err(io_err(&self.path, "cannot append to record log", e));
        }
        self.torn = false;
        Ok(())
    }
}

/// Largest record log read whole (`log export`, `review`).
pub const MAX_LOG_BYTES: u64 = 1 << 30;

/// Reads and scans a whole log file.
pub fn read_log_file(path: &Path) -> Result<LogScan, FormatError> {
    // A year of verdict changes is tens of MB; a link to /dev/zero or a FIFO is refused.
    let bytes = crate::bounded::read_bounded(path, MAX_LOG_BYTES)
        .map_err(|e| io_err(path, "cannot read record log", e.into_io()))?;
    Ok(scan_log(&bytes))
}

#[cfg(test)]
mod tests {
    use super::super::log::tests::record;
    use super::*;

    #[test]
    fn reopening_after_a_torn_write_keeps_new_records_readable() {
        let dir = crate::scratch::ScratchDir::new("log");
        let path = dir.join("records.log");
        let _ = std::fs::remove_file(&path);
        let mut w = RecordLogWriter::open(&path, true).unwrap();
        w.append(&record(0)).unwrap();
        w.append(&record(1)).unwrap();
        drop(w);
        // Simulate a power cut in the middle of the third record.
        let frame = encode_log_frame(&record(2)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        Write::write_all(&mut f, &frame[..frame.len() / 2]).unwrap();
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

    /// Storage that fails the writes it is told to, after writing part of them (a disk that
    /// fills up mid-record), and optionally cannot be cut back either.
    struct Flaky {
        bytes: Vec<u8>,
        fail_next: usize,
        truncate_fails: bool,
    }

    impl LogStorage for Flaky {
        fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            if self.fail_next > 0 {
                self.fail_next -= 1;
                self.bytes.extend_from_slice(&bytes[..bytes.len() / 2]);
                return Err(std::io::Error::other("no space left on device"));
            }
            self.bytes.extend_from_slice(bytes);
            Ok(())
        }
        fn sync_data(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        fn size(&mut self) -> std::io::Result<u64> {
            Ok(self.bytes.len() as u64)
        }
        fn truncate(&mut self, len: u64) -> std::io::Result<()> {
            if self.truncate_fails {
                return Err(std::io::Error::other("read-only now"));
            }
            self.bytes.truncate(len as usize);
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_loses_no_other_record_and_the_retry_lands() {
        for truncate_fails in [false, true] {
            let storage = Flaky { bytes: Vec::new(), fail_next: 0, truncate_fails };
            let mut w = RecordLogWriter::on(storage, Path::new("flaky.log"), true, false);
            w.append(&record(0)).unwrap();
            w.file.fail_next = 2;
            for _ in 0..2 {
                let err = w.append(&record(1)).unwrap_err().to_string();
                assert!(err.contains("flaky.log") && err.contains("no space left"), "{err}");
            }
            w.append(&record(1)).unwrap(); // the caller's retry
            w.append(&record(2)).unwrap();
            let scan = scan_log(&w.file.bytes);
            let ids: Vec<u64> = scan.records.iter().map(|(_, r)| r.frame_id).collect();
            assert_eq!(ids, vec![0, 1, 2], "truncate fails: {truncate_fails}");
            assert_eq!(scan.damaged.is_empty(), !truncate_fails, "{scan:?}");
            assert!(scan.torn_tail.is_none());
        }
    }
}
