//! Helpers for the end-to-end tests in `tests/`: where the real data lives, a tiny screening
//! model to build bundles from without libtorch, and the README's command tables.

pub mod readme;
pub mod scenes;
pub mod tiny_model;

use std::path::PathBuf;

/// `../shared/data` beside the project root. Panics with a clear message when it is missing:
/// tests that need real data must fail loudly, never skip.
pub fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(
        dir.join("README.md").exists(),
        "real test data missing: expected {} (the shared data folder beside the project root)",
        dir.display()
    );
    dir
}
