//! `merge patches`: the shards of a `patch --shard` run put back together.

use crate::merge::patches::merge_patch_shards;
use anyhow::{Context, Result};
use std::path::Path;

/// Merges the patch shards under `out` and says what came of it.
pub fn merge_patches(out: &Path) -> Result<()> {
    let m = merge_patch_shards(out).with_context(|| format!("merging the shards under {}", out.display()))?;
    println!(
        "merged {} shards: {} slides ({} failed), {} patches in {}; report {}",
        m.shards,
        m.slides,
        m.failed,
        m.total_patches,
        m.manifest.display(),
        m.report.display()
    );
    Ok(())
}
