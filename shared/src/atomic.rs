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

/// Whether `name` is a temporary file or folder this project writes (`.NAME.tmp-PID`,
/// `.NAME.partial-PID`) of a process that is no longer running: what a killed `tune`,
/// `export` or `case export` left behind.
pub fn is_stale_temp(name: &str) -> bool {
    if !name.starts_with('.') {
        return false;
    }
    let Some((_, pid)) = name.rsplit_once(".tmp-").or_else(|| name.rsplit_once(".partial-")) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes from `dir` the temporary files and folders of processes that died (see
/// [`is_stale_temp`]) and returns how many; run at the start of a command that writes there.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_stale_temp(&name) {
            continue;
        }
        let path = entry.path();
        let gone = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        match gone {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed what a killed run left");
                removed += 1;
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "a killed run's temporary file stays"),
        }
    }
    removed
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

    /// What a killed run left (its process gone) is removed; this process's own temporary
    /// files, and files that only look alike, stay.
    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = crate::scratch::ScratchDir::new("stale");
        // PIDs above the kernel's limit (4,194,304) never run.
        fs::write(dir.join(".model.mscm.tmp-999999999"), b"half a bundle").unwrap();
        fs::create_dir_all(dir.join(".export.partial-999999998/cases")).unwrap();
        let own = format!(".site.toml.tmp-{}", std::process::id());
        fs::write(dir.join(&own), b"mine").unwrap();
        for keep in ["notes.tmp-12", ".x.tmp-abc", "model.mscm"] {
            fs::write(dir.join(keep), b"keep").unwrap();
        }
        assert_eq!(remove_stale_temps(&dir), 2);
        let mut left: Vec<String> =
            fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        let mut expected = vec![own, "notes.tmp-12".into(), ".x.tmp-abc".into(), "model.mscm".into()];
        expected.sort();
        assert_eq!(left, expected);
        fs::remove_dir_all(&dir).unwrap();
    }
}
