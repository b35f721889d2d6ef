//! Merging the shards of an `experiment` grid into `experiments.{md,csv,json}`.

use crate::experiment::grid::{ExperimentShardRecord, Outcome, RunResult, SHARD_RECORD, cell_name, write_tables};
use melanoscope_slides::merge::{MergeError, first_difference, read_json, read_records};
use melanoscope_slides::shard::Shard;
use std::path::{Path, PathBuf};

/// What a merge wrote.
#[derive(Debug, Clone)]
pub struct ExperimentMerge {
    pub shards: u32,
    pub cells: usize,
    /// Cells tabled as not run because they failed (only with `keep_failed`).
    pub failed: usize,
    pub tables: PathBuf,
}

/// Checks every shard under `out/shards` and writes `out/experiments.{md,csv,json}` as one
/// unsharded `experiment --out out` run writes them. A failed cell stops the merge, named,
/// unless `keep_failed`, which tables it under "Not run" as an unsharded run would.
pub fn merge_experiment_shards(out: &Path, keep_failed: bool) -> Result<ExperimentMerge, MergeError> {
    let records = read_records(out, SHARD_RECORD, |r: &ExperimentShardRecord| r.shard)?;
    let (first_shard, _, first) = &records[0];
    for (shard, _, r) in &records[1..] {
        if r.settings != first.settings {
            let what = first_difference(&first.settings, &r.settings);
            return Err(MergeError::Settings { a: *first_shard, b: *shard, what });
        }
        if r.cells != first.cells {
            let what = format!("the grid's cells ({} against {})", first.cells.join(", "), r.cells.join(", "));
            return Err(MergeError::Settings { a: *first_shard, b: *shard, what });
        }
    }
    let cells = &first.cells;
    let mut slots: Vec<Option<(Shard, RunResult)>> = vec![None; cells.len()];
    for (shard, folder, _) in &records {
        let path = folder.join("experiments.json");
        let results: Vec<RunResult> = read_json(&path)?;
        for r in results {
            let name = cell_name(&r.arch, &r.preset);
            let Some(i) = cells.iter().position(|c| *c == name) else {
                return Err(MergeError::Invalid { path, why: format!("{name} is not a cell of the grid") });
            };
            if let Some((other, _)) = &slots[i] {
                return Err(MergeError::Overlap { what: name, a: *other, b: *shard });
            }
            if !shard.owns_cell(i) {
                let why = format!("{name} is cell {i}, shard {}/{}'s", i % shard.count as usize, shard.count);
                return Err(MergeError::Invalid { path, why });
            }
            slots[i] = Some((*shard, r));
        }
    }
    let mut results = Vec::with_capacity(cells.len());
    let mut failed = 0;
    for (i, (name, slot)) in cells.iter().zip(slots).enumerate() {
        let Some((shard, r)) = slot else {
            let shard = Shard { index: (i % first_shard.count as usize) as u32, count: first_shard.count };
            return Err(MergeError::Lost { what: name.clone(), shard });
        };
        if let Outcome::Failed { error } = &r.outcome {
            if !keep_failed {
                return Err(MergeError::CellFailed { cell: name.clone(), shard, error: error.clone() });
            }
            failed += 1;
        }
        results.push(r);
    }
    write_tables(out, &results).map_err(|e| MergeError::Invalid {
        path: out.to_path_buf(),
        why: melanoscope_shared::errors::error_chain(&e),
    })?;
    Ok(ExperimentMerge { shards: first_shard.count, cells: results.len(), failed, tables: out.join("experiments.md") })
}
