//! The one way a file from outside is read whole: at most `limit` bytes are ever read (the
//! read stops at `limit + 1`), so a file that grows while it is read, a link to `/dev/zero` or
//! a damaged size field cannot make the reader hold more than that; and only a regular file is
//! read: a FIFO, a device or a socket in its place is refused when opened, without blocking or
//! reading (a link to a FIFO would otherwise hang the reader, `/dev/zero` fill it). Callers name
//! the file and say what the limit is for.

use std::io::{self, Read};
use std::path::Path;

/// Why a bounded read gave no bytes.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error("cannot read it")]
    Io(#[from] io::Error),
    #[error("more than {limit} bytes")]
    TooLarge { limit: u64 },
}

impl BoundedReadError {
    /// As an I/O error (for callers whose errors carry one): too large is `InvalidData`,
    /// saying the limit.
    pub fn into_io(self) -> io::Error {
        match self {
            BoundedReadError::Io(e) => e,
            BoundedReadError::TooLarge { limit } => {
                io::Error::new(io::ErrorKind::InvalidData, format!("more than {limit} bytes; expected at most that"))
            }
        }
    }
}

/// What a FIFO, device or socket in a file's place reads as (an I/O error of kind
/// `InvalidInput`, so every caller names the file as for any read error).
pub const NOT_A_FILE: &str = "not a regular file (a FIFO, device or socket); expected a file";

/// Linux's `O_NONBLOCK` (the same on x86-64, aarch64 and armv7, the targets built here).
#[cfg(unix)]
const O_NONBLOCK: i32 = 0o4000;

/// The bytes of `path`, or [`BoundedReadError::TooLarge`] when it holds more than `limit`.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading waits for a writer: not when non-blocking. Regular files read
    // the same either way.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, O_NONBLOCK);
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(BoundedReadError::Io(io::Error::new(io::ErrorKind::InvalidInput, NOT_A_FILE)));
    }
    // Refused from its size before a byte is read (a 1 GB CSV costs nothing); the `take` below
    // still holds for a file that grows while it is read.
    if meta.len() > limit {
        return Err(BoundedReadError::TooLarge { limit });
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text (a byte-order mark kept; invalid UTF-8 an `InvalidData`
/// error).
pub fn read_bounded_text(path: &Path, limit: u64) -> Result<String, BoundedReadError> {
    let bytes = read_bounded(path, limit)?;
    String::from_utf8(bytes)
        .map_err(|e| BoundedReadError::Io(io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}"))))
}

/// Largest table a person or a pipeline writes as CSV (a cohort, a split, a patient list):
/// 64 MiB, some 500,000 slides (the study had 2,241).
pub const MAX_CSV_BYTES: u64 = 64 << 20;
/// Largest run-state JSON read back (a `done.json`, a training state).
pub const MAX_STATE_BYTES: u64 = 16 << 20;
/// Largest model bundle (ResNet50 in three forms is about 200 MB).
pub const MAX_BUNDLE_BYTES: u64 = 1 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_no_further() {
        let dir = crate::scratch::ScratchDir::new("bounded");
        let path = dir.join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"12345");
        assert!(matches!(read_bounded(&path, 4), Err(BoundedReadError::TooLarge { limit: 4 })));
        // Devices and FIFOs are refused at once: nothing read, nothing waited for.
        let not_a_file = |r: Result<Vec<u8>, BoundedReadError>| matches!(r, Err(BoundedReadError::Io(e)) if e.kind() == io::ErrorKind::InvalidInput && e.to_string() == NOT_A_FILE);
        assert!(not_a_file(read_bounded(Path::new("/dev/zero"), 1 << 20)));
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success(), "mkfifo");
        assert!(not_a_file(read_bounded(&fifo, 5)));
        assert!(matches!(read_bounded(&dir.join("none"), 5), Err(BoundedReadError::Io(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
