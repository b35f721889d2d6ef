//! The one scratch folder of a test: `<temp>/msc-<name>-<pid>`, emptied of what an earlier run
//! left, created, and removed when the test is done with it (also when it fails). Tests of
//! every crate use it (`test-util` feature); nothing outside tests does.

use std::path::{Path, PathBuf};

/// A fresh folder for one test, removed on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// `<temp>/msc-<name>-<pid>`, empty. Panics when it cannot be made (a test set-up fault).
    #[allow(clippy::panic, reason = "test support: a test without its folder cannot run")]
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("msc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        if let Err(e) = std::fs::create_dir_all(&path) {
            panic!("scratch folder {}: {e}", path.display());
        }
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::ops::Deref for ScratchDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for ScratchDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
