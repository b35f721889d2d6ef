//! Merging the shards of a `patch` run into `manifest.parquet` and `report.json`.

use super::{MergeError, first_difference, read_json, read_records};
use crate::manifest::{ManifestRow, ManifestWriter, read_manifest};
use crate::patching::outcome::SlideOutcome;
use crate::patching::shard_record::{PatchShardRecord, ReportFile, SHARD_RECORD};
use crate::shard::Shard;
use melanoscope_shared::atomic::write_atomic;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a merge wrote.
#[derive(Debug, Clone)]
pub struct PatchMerge {
    pub shards: u32,
    pub slides: usize,
    pub failed: usize,
    pub total_patches: u64,
    pub manifest: PathBuf,
    pub report: PathBuf,
}

/// Checks every shard under `out/shards` and writes `out/manifest.parquet` and
/// `out/report.json` as one unsharded `patch --out out` run writes them.
pub fn merge_patch_shards(out: &Path) -> Result<PatchMerge, MergeError> {
    let records = read_records(out, SHARD_RECORD, |r: &PatchShardRecord| r.shard)?;
    let (first_shard, _, first) = &records[0];
    for (shard, _, r) in &records[1..] {
        if r.settings != first.settings {
            let json = |s| serde_json::to_value(s).unwrap_or_default();
            let what = first_difference(&json(&first.settings), &json(&r.settings));
            return Err(MergeError::Settings { a: *first_shard, b: *shard, what });
        }
        if r.order != first.order {
            let what = "the cohort's slides (the same cohort file changed between the tasks)".into();
            return Err(MergeError::Settings { a: *first_shard, b: *shard, what });
        }
    }
    let order = &first.order;
    let position: HashMap<&str, usize> = order.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let mut outcomes: Vec<Option<(Shard, SlideOutcome)>> = vec![None; order.len()];
    let mut rows_of: HashMap<String, Vec<ManifestRow>> = HashMap::new();
    for (shard, folder, _) in &records {
        let report_path = folder.join(melanoscope_shared::run_files::PATCH_REPORT);
        let report: ReportFile = read_json(&report_path)?;
        for o in report.slides {
            let Some(&i) = position.get(o.slide_id.as_str()) else {
                let why = format!("slide {:?} is not in the cohort the shards were cut from", o.slide_id);
                return Err(MergeError::Invalid { path: report_path, why });
            };
            if let Some((other, _)) = &outcomes[i] {
                return Err(MergeError::Overlap { what: format!("slide {:?}", o.slide_id), a: *other, b: *shard });
            }
            let owner = shard.owner_of_id(&o.slide_id);
            if owner != shard.index {
                let why = format!("slide {:?} belongs to shard {owner}/{}, not this one", o.slide_id, shard.count);
                return Err(MergeError::Invalid { path: report_path, why });
            }
            outcomes[i] = Some((*shard, o));
        }
        let manifest = folder.join(melanoscope_shared::run_files::PATCH_MANIFEST);
        let rows = read_manifest(&manifest)?;
        if rows.len() as u64 != report.total_patches {
            let why = format!("{} rows, but the shard's report counts {}", rows.len(), report.total_patches);
            return Err(MergeError::Invalid { path: manifest, why });
        }
        for r in rows {
            rows_of.entry(r.slide_id.clone()).or_default().push(r);
        }
    }
    let mut merged = Vec::with_capacity(order.len());
    for (id, o) in order.iter().zip(outcomes) {
        match o {
            Some((_, o)) => merged.push(o),
            None => {
                let shard = Shard { index: first_shard.owner_of_id(id), count: first_shard.count };
                return Err(MergeError::Lost { what: format!("slide {id:?}"), shard });
            }
        }
    }
    // Rows only for slides that were patched; any other row means a shard's files disagree.
    let patched: std::collections::HashSet<&str> =
        merged.iter().filter(|o| o.error.is_none()).map(|o| o.slide_id.as_str()).collect();
    if let Some(id) = rows_of.keys().find(|id| !patched.contains(id.as_str())) {
        let why = format!("manifest rows for slide {id:?}, which no shard reports as patched");
        return Err(MergeError::Invalid { path: out.join("shards"), why });
    }
    let report_path = out.join(melanoscope_shared::run_files::PATCH_REPORT);
    let failed = merged.iter().filter(|o| o.error.is_some()).count();
    let manifest = out.join(melanoscope_shared::run_files::PATCH_MANIFEST);
    let mut writer = ManifestWriter::create(&manifest)?;
    let mut total_patches = 0u64;
    for o in merged.iter().filter(|o| o.error.is_none()) {
        for r in rows_of.remove(&o.slide_id).unwrap_or_default() {
            writer.push(r)?;
            total_patches += 1;
        }
    }
    // The report is made ready first; the manifest's rename and then the report's are the
    // only steps that change what `out` holds.
    let staged = out.join(".report.json.merging");
    let report = ReportFile { slides: merged, total_patches, failed };
    let json =
        serde_json::to_vec_pretty(&report).map_err(|source| MergeError::Json { path: staged.clone(), source })?;
    write_atomic(&staged, &json).map_err(|source| MergeError::Io { path: staged.clone(), source })?;
    writer.finish()?;
    std::fs::rename(&staged, &report_path).map_err(|source| MergeError::Io { path: report_path.clone(), source })?;
    Ok(PatchMerge {
        shards: first_shard.count,
        slides: report.slides.len(),
        failed,
        total_patches,
        manifest,
        report: report_path,
    })
}
