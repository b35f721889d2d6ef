//! `merge`: the outputs of N shards (`patch --shard K/N`; the trainer's `experiment --shard K/N`
//! through the same helpers) put back together into exactly what one unsharded run writes: the same rows in the same order, the
//! same report totals, the same tables. Every shard is checked before anything is written —
//! all present and finished, cut under the same settings, none overlapping — and the merged
//! files are written under temporary names and renamed, so a refused merge leaves no half.

pub mod patches;

use crate::shard::Shard;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error(
        "shard {shard} is missing or unfinished: {path} not found (it is written last); \
         run or resubmit task {} of the array (it resumes), then merge again",
        shard.index
    )]
    Missing { shard: Shard, path: PathBuf },
    #[error("shards {a} and {b} were written under different settings: {what}")]
    Settings { a: Shard, b: Shard, what: String },
    #[error("{what} is in both shard {a} and shard {b}")]
    Overlap { what: String, a: Shard, b: Shard },
    #[error("{what}, which is shard {shard}'s, is in no shard's output; rerun task {} and merge again", shard.index)]
    Lost { what: String, shard: Shard },
    #[error(
        "{cell} failed in shard {shard}: {error}; resubmit task {} (finished cells resume), \
         or merge with --keep-failed to table it as not run",
        shard.index
    )]
    CellFailed { cell: String, shard: Shard, error: String },
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error("{path}")]
    Json { path: PathBuf, source: serde_json::Error },
}

/// The largest shard record or report read (the report of a 100,000-slide shard is a few
/// tens of MiB); a larger file is refused, named, rather than read into memory.
const MAX_JSON_BYTES: u64 = 256 << 20;

/// Reads and decodes one shard file, bounded, naming it on any error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, MergeError> {
    use melanoscope_shared::bounded::{BoundedReadError, read_bounded};
    let bytes = read_bounded(path, MAX_JSON_BYTES).map_err(|e| match e {
        BoundedReadError::Io(source) => MergeError::Io { path: path.to_path_buf(), source },
        BoundedReadError::TooLarge { .. } => MergeError::Invalid {
            path: path.to_path_buf(),
            why: format!("larger than {} MiB; not a shard file", MAX_JSON_BYTES >> 20),
        },
    })?;
    serde_json::from_slice(&bytes).map_err(|source| MergeError::Json { path: path.to_path_buf(), source })
}

/// Every shard's record (`record`, written last) under `out`, with the shard and its folder;
/// a record must name the shard whose folder holds it.
pub fn read_records<R: serde::de::DeserializeOwned>(
    out: &Path,
    record: &str,
    shard_of: impl Fn(&R) -> Shard,
) -> Result<Vec<(Shard, PathBuf, R)>, MergeError> {
    let mut records = Vec::new();
    for (shard, folder) in all_shards(out, record)? {
        let path = folder.join(record);
        let r: R = read_json(&path)?;
        if shard_of(&r) != shard {
            return Err(MergeError::Invalid { path, why: format!("records shard {}, not {shard}", shard_of(&r)) });
        }
        records.push((shard, folder, r));
    }
    Ok(records)
}

/// Every shard `0..count` of the run under `out`, each with its folder; a missing shard is
/// named by the record (`record`, written last) it lacks.
fn all_shards(out: &Path, record: &str) -> Result<Vec<(Shard, PathBuf)>, MergeError> {
    let (count, found) = shard_folders(out)?;
    (0..count)
        .map(|index| {
            let shard = Shard { index, count };
            let folder = shard.folder(out);
            let path = folder.join(record);
            if !found.iter().any(|(s, _)| *s == shard) || !path.is_file() {
                return Err(MergeError::Missing { shard, path });
            }
            Ok((shard, folder))
        })
        .collect()
}

/// The first field in which two settings (as JSON objects) differ, said with both values.
pub fn first_difference(a: &serde_json::Value, b: &serde_json::Value) -> String {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter()
                .find(|k| a.get(*k) != b.get(*k))
                .map(|k| {
                    let show = |v: Option<&serde_json::Value>| v.map_or("absent".into(), |v| v.to_string());
                    format!("{k} is {} in one and {} in the other", show(a.get(k)), show(b.get(k)))
                })
                .unwrap_or_else(|| "they differ".into())
        }
        _ => format!("{a} against {b}"),
    }
}

/// The `K-of-N` shard folders under `out/shards`, in index order, with the count they agree
/// on; shards of two different counts are an error naming both.
fn shard_folders(out: &Path) -> Result<(u32, Vec<(Shard, PathBuf)>), MergeError> {
    let root = out.join("shards");
    let entries = std::fs::read_dir(&root).map_err(|source| MergeError::Io { path: root.clone(), source })?;
    let mut found: Vec<(Shard, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| MergeError::Io { path: root.clone(), source })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((k, n)) = name.split_once("-of-") else { continue };
        let (Ok(index), Ok(count)) = (k.parse::<u32>(), n.parse::<u32>()) else { continue };
        if count == 0 || index >= count {
            return Err(MergeError::Invalid { path: entry.path(), why: format!("shard {index} of {count}") });
        }
        found.push((Shard { index, count }, entry.path()));
    }
    found.sort_by_key(|(s, _)| (s.count, s.index));
    let Some(count) = found.first().map(|(s, _)| s.count) else {
        return Err(MergeError::Invalid { path: root, why: "no K-of-N shard folder".into() });
    };
    if let Some((other, path)) = found.iter().find(|(s, _)| s.count != count) {
        return Err(MergeError::Invalid {
            path: path.clone(),
            why: format!(
                "shards of two runs: {} folder(s) of {count} shards and this one of {}; remove the stale ones",
                found.iter().filter(|(s, _)| s.count == count).count(),
                other.count
            ),
        });
    }
    Ok((count, found))
}
