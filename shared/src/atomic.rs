//! Atomic file replacement: write a temporary file beside the target, flush it to disk, rename.
//! A crash or power cut leaves either the old file or the new one, never half of one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary name used while `path` is being written.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` atomically. Errors name the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io::Error::new(e.kind(), format!("writing {}: {e}", path.display())));
    }
    // Persist the rename itself; a failure here only weakens durability, so it is not fatal.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = crate::scratch::ScratchDir::new("atomic");
        let p = dir.join("a.bin");
        write_atomic(&p, b"first version").unwrap();
        write_atomic(&p, b"v2").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"v2");
        assert!(!temp_path(&p).exists());
        let err = write_atomic(&dir.join("missing/x.bin"), b"x").unwrap_err();
        assert!(err.to_string().contains("missing/x.bin"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
