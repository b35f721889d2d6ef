//! The one way a file from outside is read whole: at most `limit` bytes are ever read (the
//! read stops at `limit + 1`), so a file that grows while it is read, a link to `/dev/zero` or
//! a damaged size field cannot make the reader hold more than that. Callers name the file and
//! say what the limit is for.

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

/// The bytes of `path`, or [`BoundedReadError::TooLarge`] when it holds more than `limit`.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge { limit });
    }
    Ok(bytes)
}

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
        // An endless file stops at the limit.
        assert!(matches!(read_bounded(Path::new("/dev/zero"), 1 << 20), Err(BoundedReadError::TooLarge { .. })));
        assert!(matches!(read_bounded(&dir.join("none"), 5), Err(BoundedReadError::Io(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
