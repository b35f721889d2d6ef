//! Patching a whole cohort: slides in parallel (rayon), one progress bar, per-slide outputs
//! written atomically and a `done.json` marker last, so an interrupted run resumes where it
//! stopped. One bad slide is reported and the rest of the cohort completes. With annotations,
//! patches come only from the delineated regions, and may take their labels from them.

use super::outcome::{AnnotationSummary, MagnificationCounts, SlideOutcome, SlideStatus};
use super::shard_record::{PatchSettings, PatchShardRecord, ReportFile, SHARD_RECORD};
use super::{PatchParams, PatchRecord, build_tissue_mask, patch_slide, qc_thumbnail};
use crate::annotations::{
    AnnotationError, AnnotationPolicy, RegionRaster, RegionRole, SlideAnnotations, find_beside, load_annotations,
};
use crate::cohort::{Cohort, CohortSlide, Lesion, RejectedRow};
use crate::manifest::{ManifestError, ManifestRow, ManifestWriter, read_manifest};
use crate::shard::{Shard, ShardError};
use crate::slide::{Magnification, Slide, SlideError};
use indicatif::{ProgressBar, ProgressStyle};
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::folder_name::folder_name;
use melanoscope_shared::image::{TissueTest, save_rgb};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Image format for exported patch folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchImageFormat {
    Png,
    Jpeg,
}

/// What to do with a cohort.
#[derive(Debug, Clone)]
pub struct PatchJob {
    pub out_dir: PathBuf,
    pub magnifications: Vec<Magnification>,
    /// µm/px of the low-resolution tissue mask.
    pub mask_um_per_px: f64,
    /// Also write each kept patch as an image under `patches/<magnification>/<label>/`.
    pub export_images: Option<PatchImageFormat>,
    /// µm/px for every slide that lacks it (the cohort's own column wins).
    pub default_um_per_px: Option<f64>,
    pub threads: usize,
    pub show_progress: bool,
    /// `None`: tissue mask only. `Some`: regions from the cohort's `annotations` column or a file
    /// beside the slide (a slide with neither is patched by tissue mask alone).
    pub annotations: Option<AnnotationPolicy>,
    /// Wall time one slide may take; past it the slide fails, named, and the batch goes on
    /// (`None`: no limit).
    pub slide_time_limit: Option<std::time::Duration>,
    /// The share of the cohort this run patches ([`Shard::WHOLE`]: all of it). A shard writes
    /// its slides' folders and `shards/K-of-N/{manifest.parquet,report.json,shard.json}`.
    pub shard: Shard,
}

impl PatchJob {
    /// A job at `magnifications` into `out_dir` with the defaults: an 8 µm/px tissue mask, no
    /// image export, no µm/px override, two threads, no progress bar, tissue mask only.
    pub fn new(out_dir: PathBuf, magnifications: Vec<Magnification>) -> Self {
        Self {
            out_dir,
            magnifications,
            mask_um_per_px: 8.0,
            export_images: None,
            default_um_per_px: None,
            threads: 2,
            show_progress: false,
            annotations: None,
            slide_time_limit: None,
            shard: Shard::WHOLE,
        }
    }

    /// What decides the rows this job writes, as a shard records it for `merge`.
    fn settings(&self, cohort: &Cohort) -> Result<PatchSettings, JobError> {
        Ok(PatchSettings {
            cohort: cohort.source.clone(),
            cohort_sha256: crate::shard::file_sha256(&cohort.source)?,
            magnifications: self.magnifications.iter().map(|m| (m.name.clone(), m.um_per_px)).collect(),
            mask_um_per_px: self.mask_um_per_px,
            export_images: self.export_images.map(|f| format!("{f:?}").to_lowercase()),
            default_um_per_px: self.default_um_per_px,
            annotations: self.annotations.as_ref().map(AnnotationPolicy::fingerprint),
        })
    }
}

/// When a slide's work must stop.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    start: std::time::Instant,
    limit: Option<std::time::Duration>,
}

impl Deadline {
    fn passed(&self) -> bool {
        self.limit.is_some_and(|l| self.start.elapsed() > l)
    }

    /// An error naming the limit and where the work was, once it has passed.
    fn check(&self, stage: &str) -> Result<(), JobError> {
        match self.limit {
            Some(limit) if self.passed() => {
                Err(JobError::TimeLimit { limit_s: limit.as_secs_f64(), stage: stage.into() })
            }
            _ => Ok(()),
        }
    }
}

/// The run report (also written as `report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub slides: Vec<SlideOutcome>,
    pub total_patches: u64,
    pub failed: usize,
    pub manifest: PathBuf,
}

impl RunReport {
    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} slides: {} done, {} resumed, {} failed; {} patches in {}\n",
            self.slides.len(),
            self.slides.iter().filter(|o| o.status == SlideStatus::Done).count(),
            self.slides.iter().filter(|o| o.status == SlideStatus::Resumed).count(),
            self.failed,
            self.total_patches,
            self.manifest.display()
        );
        for o in self.slides.iter().filter(|o| o.error.is_some()) {
            s.push_str(&format!("  FAILED {}: {}\n", o.slide_id, o.error.as_deref().unwrap_or_default()));
        }
        let (outside, excluded): (usize, usize) = self
            .slides
            .iter()
            .flat_map(|o| o.magnifications.values())
            .fold((0, 0), |(a, b), c| (a + c.outside_regions, b + c.excluded));
        let annotated = self.slides.iter().filter(|o| o.annotations.is_some()).count();
        if annotated > 0 {
            s.push_str(&format!(
                "  {annotated} slide(s) patched inside annotations: {outside} cells outside the regions, {excluded} touching exclusions\n"
            ));
        }
        for o in &self.slides {
            for c in &o.label_conflicts {
                s.push_str(&format!("  label conflict on {}: {c}\n", o.slide_id));
            }
            for (m, c) in o.magnifications.iter().filter(|(_, c)| c.refused.is_some()) {
                s.push_str(&format!("  refused {} at {m}: {}\n", o.slide_id, c.refused.as_deref().unwrap_or_default()));
            }
            for (m, c) in o.magnifications.iter() {
                if let Some(why) = &c.no_patches {
                    s.push_str(&format!("  no patches from {} at {m}: {why}\n", o.slide_id));
                }
            }
        }
        s
    }
}

fn slide_dir(out: &Path, slide_id: &str) -> PathBuf {
    // Slide ids come from a CSV: a plain id is its own folder, any other a sanitised name with
    // a hash of the id (`A/1` and `A_1` are two folders; `../x` stays inside).
    out.join("slides").join(folder_name(slide_id))
}

/// Where `--export-images` writes a patch: under `out/patches/<magnification>/<label>/`, named
/// by the slide's folder name (never by the raw id, which may hold `../`) and its corner.
fn exported_patch(
    out: &Path,
    magnification: &str,
    label: &str,
    slide_id: &str,
    rec: &PatchRecord,
    ext: &str,
) -> PathBuf {
    let name = format!("{}_{}_{}.{ext}", folder_name(slide_id), rec.x0, rec.y0);
    out.join("patches").join(folder_name(magnification)).join(folder_name(label)).join(name)
}

/// Why a slide, or the whole job, failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Slide(#[from] SlideError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Annotation(#[from] AnnotationError),
    #[error("{path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}")]
    Image { path: PathBuf, source: melanoscope_shared::image::ImageError },
    #[error("{path}: encoding the report")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error(
        "empty tissue mask: no stained tissue found (the mask looks for H&E colours: an IHC, special-stain, unstained \
         or faded slide, or a scan of glass, finds none)"
    )]
    NoTissue,
    #[error(
        "took longer than the per-slide limit of {limit_s} s ({stage}); check the slide and its annotations, \
         or raise --slide-time-limit"
    )]
    TimeLimit { limit_s: f64, stage: String },
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error("starting the patching threads")]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JobError + '_ {
    move |source| JobError::Io { path: path.to_path_buf(), source }
}

/// The annotation file for `entry` under `job`, and the settings string recorded for resuming.
fn annotation_setup(job: &PatchJob, entry: &CohortSlide) -> (Option<PathBuf>, String) {
    let mags: Vec<&str> = job.magnifications.iter().map(|m| m.name.as_str()).collect();
    match &job.annotations {
        None => (None, "tissue-only".into()),
        Some(policy) => {
            let file = entry.annotations.clone().or_else(|| find_beside(&entry.slide));
            let what = file.as_ref().map_or("none found".into(), |f| f.display().to_string());
            (file, format!("annotations={what};{};mags={}", policy.fingerprint(), mags.join(",")))
        }
    }
}

/// Loads and rasterises the slide's regions for the smallest patch of the job.
fn load_regions(
    job: &PatchJob,
    slide: &Slide,
    file: &Path,
    policy: &AnnotationPolicy,
) -> Result<(SlideAnnotations, RegionRaster), AnnotationError> {
    let l0 = slide.levels()[0];
    let ann = load_annotations(file, l0.width, l0.height, policy)?;
    let native = slide.native_um_per_px();
    let finest = job.magnifications.iter().map(|m| m.um_per_px.max(native)).fold(f64::MAX, f64::min);
    let raster = RegionRaster::for_patches(&ann, f64::from(melanoscope_shared::FIELD_SIZE) * finest / native);
    tracing::debug!(file = %file.display(), regions = ann.regions.len(), raster_bytes = raster.bytes(), "regions rasterised");
    Ok((ann, raster))
}

fn process_slide(job: &PatchJob, entry: &CohortSlide) -> Result<SlideOutcome, JobError> {
    let dir = slide_dir(&job.out_dir, &entry.slide_id);
    let done = dir.join("done.json");
    let (ann_file, settings) = annotation_setup(job, entry);
    if let Ok(text) =
        melanoscope_shared::bounded::read_bounded_text(&done, melanoscope_shared::bounded::MAX_STATE_BYTES)
        && let Ok(mut previous) = serde_json::from_str::<SlideOutcome>(&text)
        && job.magnifications.iter().all(|m| previous.magnifications.contains_key(&m.name))
        && previous.settings == settings
    {
        previous.status = SlideStatus::Resumed;
        // Named as the cohort names it now, like its manifest rows (an earlier version may
        // have stored the path relative to the working folder).
        previous.slide.clone_from(&entry.slide);
        return Ok(previous);
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let deadline = Deadline { start: std::time::Instant::now(), limit: job.slide_time_limit };
    // The cohort's column overrides the slide's spacing; --um-per-px only fills in a missing one.
    let slide = Slide::open_with_fallback(&entry.slide, entry.um_per_px, job.default_um_per_px)?;
    let native = slide.native_um_per_px();
    let regions = match (&job.annotations, &ann_file) {
        (Some(policy), Some(file)) => Some(load_regions(job, &slide, file, policy)?),
        _ => None,
    };
    deadline.check("after reading the annotations")?;
    let tissue = TissueTest::default();
    let mask = build_tissue_mask(&slide, job.mask_um_per_px, &tissue)?;
    deadline.check("after the tissue mask")?;
    if mask.data.iter().all(|v| *v == 0) {
        return Err(JobError::NoTissue);
    }
    let ann = regions.as_ref().map(|(a, _)| a);
    let min_overlap = job.annotations.as_ref().map_or(0.5, |p| p.min_overlap);
    // A patch's label: its region's, when regions carry labels; the cohort's otherwise.
    let label_of = |region: Option<u32>| -> Lesion {
        region.and_then(|r| ann.and_then(|a| a.regions.get(r as usize))).and_then(|r| r.label).unwrap_or(entry.label)
    };
    let mut writer = ManifestWriter::create(&dir.join("patches.parquet"))?;
    let mut counts = BTreeMap::new();
    let mut all_records = Vec::new();
    for m in &job.magnifications {
        let params = PatchParams { min_region_overlap: min_overlap, ..PatchParams::study(&m.name, m.um_per_px) };
        if let Some(reason) = smaller_than_a_patch(&slide, m, params.patch_size) {
            counts.insert(m.name.clone(), MagnificationCounts { refused: Some(reason), ..Default::default() });
            continue;
        }
        let mut export_err = None;
        let result = patch_slide(&slide, &mask, regions.as_ref().map(|(_, r)| r), &params, |rec, img| {
            if deadline.passed() {
                let reason = format!("the per-slide time limit passed while patching at {}", m.name);
                return Err(SlideError::Stopped { path: entry.slide.clone(), reason });
            }
            if let Some(format) = job.export_images {
                let ext = if format == PatchImageFormat::Png { "png" } else { "jpg" };
                let path =
                    exported_patch(&job.out_dir, &m.name, label_of(rec.region).code(), &entry.slide_id, rec, ext);
                let folder = path.parent().unwrap_or(&job.out_dir).to_path_buf();
                if let Err(e) = std::fs::create_dir_all(&folder)
                    .map_err(io(&folder))
                    .and_then(|_| save_rgb(&path, img).map_err(|source| JobError::Image { path: path.clone(), source }))
                {
                    export_err.get_or_insert(e);
                }
            }
            Ok(())
        });
        if let Some(e) = export_err {
            return Err(e);
        }
        match result {
            Ok(p) => {
                for r in &p.records {
                    let region = r.region.and_then(|i| ann.and_then(|a| a.regions.get(i as usize)));
                    writer.push(ManifestRow {
                        slide: entry.slide.display().to_string(),
                        slide_id: entry.slide_id.clone(),
                        patient_id: entry.patient_id.clone(),
                        label: label_of(r.region).code().into(),
                        site: entry.site.clone(),
                        magnification: r.magnification.clone(),
                        requested_um_per_px: r.requested_um_per_px,
                        effective_um_per_px: r.effective_um_per_px,
                        level: r.level as i32,
                        x0: r.x0 as i64,
                        y0: r.y0 as i64,
                        size0: r.size0 as i64,
                        patch_size: params.patch_size as i32,
                        background_fraction: r.background,
                        slide_label: entry.label.code().into(),
                        region_id: region.map(|g| g.raw.index as i32),
                        region_name: region.and_then(|g| g.raw.name.clone()),
                        region_class: region.and_then(|g| g.raw.class_name.clone()),
                        region_overlap: r.region_overlap,
                    })?;
                }
                let mut c = MagnificationCounts {
                    kept: p.records.len(),
                    grid_cells: p.grid_cells,
                    skipped_by_mask: p.skipped_by_mask,
                    dropped_background: p.dropped_background,
                    outside_regions: p.outside_regions,
                    excluded: p.excluded,
                    refused: None,
                    no_patches: None,
                };
                c.no_patches = c.why_none();
                counts.insert(m.name.clone(), c);
                all_records.extend(p.records);
            }
            Err(SlideError::Stopped { .. }) => deadline.check(&format!("patching at {}", m.name))?,
            // A magnification finer than the scan is refused for this slide only.
            Err(e @ SlideError::TooFine { .. }) => {
                counts.insert(
                    m.name.clone(),
                    MagnificationCounts {
                        refused: Some(melanoscope_shared::errors::error_chain(&e)),
                        ..Default::default()
                    },
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    writer.finish()?;
    let qc = dir.join("qc.png");
    save_rgb(&qc, &qc_thumbnail(&mask, native, &all_records, ann))
        .map_err(|source| JobError::Image { path: qc.clone(), source })?;
    let (annotations, label_conflicts) = match ann {
        Some(a) => summarise_regions(a, &all_records, entry.label),
        None => (None, Vec::new()),
    };
    let outcome = SlideOutcome {
        slide_id: entry.slide_id.clone(),
        slide: entry.slide.clone(),
        status: SlideStatus::Done,
        error: None,
        native_um_per_px: Some(native),
        magnifications: counts,
        annotations,
        label_conflicts,
        settings,
        colour_correction: slide.colour_correction().map(String::from),
    };
    let json = serde_json::to_vec_pretty(&outcome).map_err(|source| JobError::Json { path: done.clone(), source })?;
    write_atomic(&done, &json).map_err(io(&done))?;
    Ok(outcome)
}

/// Why `slide` gives no patch at `m` because the whole image, resampled to `m`, is smaller
/// than one patch (`None`: it is large enough). Said in the report instead of a silent 0.
fn smaller_than_a_patch(slide: &Slide, m: &Magnification, patch: u32) -> Option<String> {
    let l0 = slide.levels()[0];
    let scale = slide.native_um_per_px() / m.um_per_px;
    let (w, h) = ((l0.width as f64 * scale).floor(), (l0.height as f64 * scale).floor());
    (w < f64::from(patch) || h < f64::from(patch)).then(|| {
        format!(
            "the image ({}x{} px at {:.3} µm/px) is {w}x{h} px at {} ({} µm/px), smaller than one {patch}x{patch} patch",
            l0.width,
            l0.height,
            slide.native_um_per_px(),
            m.name,
            m.um_per_px
        )
    })
}

/// Patches per region, and the regions whose label contradicts the cohort's slide label.
fn summarise_regions(
    ann: &SlideAnnotations,
    records: &[PatchRecord],
    slide_label: Lesion,
) -> (Option<AnnotationSummary>, Vec<String>) {
    let mut per_region = BTreeMap::new();
    for i in records.iter().filter_map(|r| r.region) {
        if let Some(region) = ann.regions.get(i as usize) {
            *per_region.entry(region.raw.index).or_insert(0) += 1;
        }
    }
    let conflicts = ann
        .regions
        .iter()
        .filter(|r| r.role == RegionRole::Include)
        .filter_map(|r| {
            let label = r.label.filter(|l| *l != slide_label)?;
            let n = per_region.get(&r.raw.index).copied().unwrap_or(0);
            Some(format!(
                "{} is {label} but the cohort labels the slide {slide_label} ({n} patches labelled {label})",
                r.raw.describe()
            ))
        })
        .collect();
    let summary = AnnotationSummary {
        file: ann.source.clone(),
        format: ann.format,
        included_regions: ann.included(),
        excluded_regions: ann.excluded(),
        ignored_objects: ann.ignored_objects,
        patches_per_region: per_region,
    };
    (Some(summary), conflicts)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), JobError> {
    let json =
        serde_json::to_vec_pretty(value).map_err(|source| JobError::Json { path: path.to_path_buf(), source })?;
    write_atomic(path, &json).map_err(io(path))
}

/// The id a rejected cohort row is reported (and sharded) under: its slide id, or its line.
fn rejected_id(r: &RejectedRow) -> String {
    if r.slide_id.is_empty() { format!("line-{}", r.line) } else { r.slide_id.clone() }
}

/// Patches every slide of `cohort` (of the job's shard), then merges the per-slide manifests
/// into `manifest.parquet`: in `out_dir`, or for a shard in its folder with its `shard.json`.
pub fn run_patch_job(job: &PatchJob, cohort: &Cohort) -> Result<RunReport, JobError> {
    std::fs::create_dir_all(&job.out_dir).map_err(io(&job.out_dir))?;
    let results_dir = if job.shard.is_whole() { job.out_dir.clone() } else { job.shard.folder(&job.out_dir) };
    std::fs::create_dir_all(&results_dir).map_err(io(&results_dir))?;
    // Checked before any slide is read: a shard that cannot record its settings is refused.
    let settings = (!job.shard.is_whole()).then(|| job.settings(cohort)).transpose()?;
    let slides: Vec<&CohortSlide> = cohort.slides.iter().filter(|e| job.shard.owns_id(&e.slide_id)).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(job.threads.max(1)).build()?;
    let bar = if job.show_progress { ProgressBar::new(slides.len() as u64) } else { ProgressBar::hidden() };
    if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} slides {msg}") {
        bar.set_style(style);
    }
    let outcomes: Vec<SlideOutcome> = pool.install(|| {
        slides
            .par_iter()
            .map(|entry| {
                // A panic on one slide's data (a decoder's bug) fails that slide, not the batch.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| process_slide(job, entry)));
                let failed = |why: String| {
                    tracing::warn!(slide = %entry.slide_id, error = %why, "slide failed");
                    SlideOutcome::failed(&entry.slide_id, entry.slide.clone(), why)
                };
                let outcome = match result {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(e)) => failed(melanoscope_shared::errors::error_chain(&e)),
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        failed(format!("{}: internal error while patching: {what}", entry.slide.display()))
                    }
                };
                bar.inc(1);
                outcome
            })
            .collect()
    });
    bar.finish_and_clear();
    // Rows of the cohort that could not be used fail as slides of their own, named by line.
    let mut outcomes = outcomes;
    for r in &cohort.rejected {
        let id = rejected_id(r);
        if job.shard.owns_id(&id) {
            outcomes.push(SlideOutcome::failed(&id, PathBuf::from(&r.slide), r.to_string()));
        }
    }
    let manifest = results_dir.join(melanoscope_shared::run_files::PATCH_MANIFEST);
    let mut writer = ManifestWriter::create(&manifest)?;
    // Each row names its slide by the cohort's (absolute) path: a slide resumed from an
    // earlier version's run may have stored the path relative to the working folder.
    let slide_of: std::collections::HashMap<&str, &Path> =
        cohort.slides.iter().map(|e| (e.slide_id.as_str(), e.slide.as_path())).collect();
    for o in outcomes.iter().filter(|o| o.error.is_none()) {
        let rows = read_manifest(&slide_dir(&job.out_dir, &o.slide_id).join("patches.parquet"))?;
        let slide = slide_of.get(o.slide_id.as_str()).map(|p| p.display().to_string());
        for mut r in rows.into_iter().filter(|r| job.magnifications.iter().any(|m| m.name == r.magnification)) {
            if let Some(s) = &slide {
                r.slide.clone_from(s);
            }
            writer.push(r)?;
        }
    }
    let total_patches = writer.finish()?;
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    let file = ReportFile { slides: outcomes, total_patches, failed };
    write_json(&results_dir.join(melanoscope_shared::run_files::PATCH_REPORT), &file)?;
    if let Some(settings) = settings {
        // Written last: its presence tells `merge` this shard finished.
        let order = cohort.slides.iter().map(|e| e.slide_id.clone()).chain(cohort.rejected.iter().map(rejected_id));
        let record = PatchShardRecord { shard: job.shard, settings, order: order.collect() };
        write_json(&results_dir.join(SHARD_RECORD), &record)?;
    }
    Ok(RunReport { slides: file.slides, total_patches, failed, manifest })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slide id holding `../` (from a cohort CSV) names no folder or exported patch outside
    /// `--out` (before, `--export-images` wrote `<out>/patches/20X/MM/../../../x_0_0.png`).
    #[test]
    fn hostile_slide_ids_stay_inside_the_output_folder() {
        let out = Path::new("/runs/p");
        let rec = PatchRecord {
            magnification: "20X".into(),
            requested_um_per_px: 0.5,
            effective_um_per_px: 0.5,
            level: 0,
            x0: 0,
            y0: 256,
            size0: 256,
            background: 0.1,
            region: None,
            region_overlap: None,
        };
        for id in ["../../../x", "/etc/cron.d/x", "a/../../b", ".."] {
            let dir = slide_dir(out, id);
            let png = exported_patch(out, "20X", "MM", id, &rec, "png");
            for p in [&dir, &png] {
                assert!(p.starts_with(out), "{id:?} -> {}", p.display());
                assert!(!p.components().any(|c| c == std::path::Component::ParentDir), "{id:?} -> {}", p.display());
            }
            assert_eq!(png.parent().unwrap(), out.join("patches/20X/MM"));
        }
        assert_ne!(slide_dir(out, "A/1"), slide_dir(out, "A_1"));
        assert_eq!(slide_dir(out, "S1"), out.join("slides/S1"), "plain ids keep their folders (resume)");
    }
}
