//! Key files: one ed25519 key (public or secret) as 64 hex digits, from `keygen`. The edge
//! reads trusted public keys and the trainer its signing secret through this one reader.

use super::{FormatError, parse_key_hex};
use crate::bounded::BoundedReadError;
use std::path::{Path, PathBuf};

/// Bytes read at most: a key file is 64 hex digits and a line end; anything much larger is
/// not a key file, and is not read into memory whole.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file {path}: cannot read it")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("key file {path}: larger than {MAX_KEY_FILE_BYTES} bytes; expected 64 hex digits")]
    TooLarge { path: PathBuf },
    #[error("key file {path}")]
    Parse { path: PathBuf, source: FormatError },
}

/// The key in the file at `path`.
pub fn read_key_file(path: &Path) -> Result<[u8; 32], KeyFileError> {
    let bytes = crate::bounded::read_bounded(path, MAX_KEY_FILE_BYTES).map_err(|e| match e {
        BoundedReadError::Io(source) => KeyFileError::Read { path: path.to_path_buf(), source },
        BoundedReadError::TooLarge { .. } => KeyFileError::TooLarge { path: path.to_path_buf() },
    })?;
    let text = String::from_utf8_lossy(&bytes);
    parse_key_hex(&text).map_err(|source| KeyFileError::Parse { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_malformed_truncated_oversized_and_missing_key_files() {
        let dir = crate::scratch::ScratchDir::new("keyfile");
        let key = "ab".repeat(32);
        let case = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            read_key_file(&p)
        };
        assert_eq!(case("good.public", format!("{key}\n").as_bytes()).unwrap(), [0xab; 32]);
        let e =
            case("truncated.public", &key.as_bytes()[..40]).map_err(|e| crate::errors::error_chain(&e)).unwrap_err();
        assert!(e.contains("truncated.public") && e.contains("40 characters"), "{e}");
        let e = case("malformed.public", key.replace('a', "z").as_bytes())
            .map_err(|e| crate::errors::error_chain(&e))
            .unwrap_err();
        assert!(e.contains("malformed.public") && e.contains("non-hex"), "{e}");
        let e = case("binary.public", &[0xff; 64]).map_err(|e| crate::errors::error_chain(&e)).unwrap_err();
        assert!(e.contains("binary.public"), "{e}");
        let e = case("huge.public", &vec![b'a'; 10 << 20]).unwrap_err();
        assert!(matches!(e, KeyFileError::TooLarge { .. }), "{e}");
        let e = read_key_file(&dir.join("missing.public")).map_err(|e| crate::errors::error_chain(&e)).unwrap_err();
        assert!(e.contains("missing.public") && e.contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
