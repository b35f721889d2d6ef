//! Patching a whole cohort: slides in parallel (rayon), one progress bar, per-slide outputs
//! written atomically and a `done.json` marker last, so an interrupted run resumes where it
//! stopped. One bad slide is reported and the rest of the cohort completes.

use super::{PatchParams, build_tissue_mask, patch_slide, qc_thumbnail};
use crate::cohort::{Cohort, CohortSlide};
use crate::manifest::{ManifestError, ManifestRow, ManifestWriter, read_manifest};
use crate::slide::{Magnification, Slide, SlideError};
use indicatif::{ProgressBar, ProgressStyle};
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::image::{TissueTest, save_rgb};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
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
}

/// Counts for one slide at one magnification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MagnificationCounts {
    pub kept: usize,
    pub grid_cells: usize,
    pub skipped_by_mask: usize,
    pub dropped_background: usize,
    pub refused: Option<String>,
}

/// How one slide went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlideOutcome {
    pub slide_id: String,
    pub slide: PathBuf,
    /// "done", "resumed" (already done by an earlier run) or "failed".
    pub status: String,
    pub error: Option<String>,
    pub native_um_per_px: Option<f64>,
    pub magnifications: BTreeMap<String, MagnificationCounts>,
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
            self.slides.iter().filter(|o| o.status == "done").count(),
            self.slides.iter().filter(|o| o.status == "resumed").count(),
            self.failed,
            self.total_patches,
            self.manifest.display()
        );
        for o in self.slides.iter().filter(|o| o.error.is_some()) {
            s.push_str(&format!("  FAILED {}: {}\n", o.slide_id, o.error.as_deref().unwrap_or_default()));
        }
        for o in &self.slides {
            for (m, c) in o.magnifications.iter().filter(|(_, c)| c.refused.is_some()) {
                s.push_str(&format!("  refused {} at {m}: {}\n", o.slide_id, c.refused.as_deref().unwrap_or_default()));
            }
        }
        s
    }
}

fn slide_dir(out: &Path, slide_id: &str) -> PathBuf {
    // Slide ids come from a CSV: keep them to safe file-name characters.
    let safe: String =
        slide_id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    out.join("slides").join(safe)
}

#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error(transparent)]
    Slide(#[from] SlideError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Other(String),
}

fn process_slide(job: &PatchJob, entry: &CohortSlide) -> Result<SlideOutcome, JobError> {
    let dir = slide_dir(&job.out_dir, &entry.slide_id);
    let done = dir.join("done.json");
    if let Ok(text) = std::fs::read_to_string(&done)
        && let Ok(mut previous) = serde_json::from_str::<SlideOutcome>(&text)
        && job.magnifications.iter().all(|m| previous.magnifications.contains_key(&m.name))
    {
        previous.status = "resumed".into();
        return Ok(previous);
    }
    std::fs::create_dir_all(&dir).map_err(|e| JobError::Other(format!("{}: {e}", dir.display())))?;
    let slide = Slide::open(&entry.slide, entry.um_per_px.or(job.default_um_per_px))?;
    let native = slide.native_um_per_px();
    let tissue = TissueTest::default();
    let mask = build_tissue_mask(&slide, job.mask_um_per_px, &tissue)?;
    if mask.data.iter().all(|v| *v == 0) {
        return Err(JobError::Other("empty tissue mask: no stained tissue found".into()));
    }
    let mut writer = ManifestWriter::create(&dir.join("patches.parquet"))?;
    let mut counts = BTreeMap::new();
    let mut all_records = Vec::new();
    for m in &job.magnifications {
        let params = PatchParams::study(&m.name, m.um_per_px);
        let mut export_err = None;
        let result = patch_slide(&slide, &mask, &params, |rec, img| {
            if let Some(format) = job.export_images {
                let ext = if format == PatchImageFormat::Png { "png" } else { "jpg" };
                let folder = job.out_dir.join("patches").join(&m.name).join(entry.label.code());
                let name = format!("{}_{}_{}.{ext}", entry.slide_id, rec.x0, rec.y0);
                if let Err(e) = std::fs::create_dir_all(&folder)
                    .map_err(|e| e.to_string())
                    .and_then(|_| save_rgb(&folder.join(name), img).map_err(|e| e.to_string()))
                {
                    export_err.get_or_insert(e);
                }
            }
            Ok(())
        });
        if let Some(e) = export_err {
            return Err(JobError::Other(format!("exporting patch images: {e}")));
        }
        match result {
            Ok(p) => {
                for r in &p.records {
                    writer.push(ManifestRow {
                        slide: entry.slide.display().to_string(),
                        slide_id: entry.slide_id.clone(),
                        patient_id: entry.patient_id.clone(),
                        label: entry.label.code().into(),
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
                    })?;
                }
                counts.insert(
                    m.name.clone(),
                    MagnificationCounts {
                        kept: p.records.len(),
                        grid_cells: p.grid_cells,
                        skipped_by_mask: p.skipped_by_mask,
                        dropped_background: p.dropped_background,
                        refused: None,
                    },
                );
                all_records.extend(p.records);
            }
            // A magnification finer than the scan is refused for this slide only.
            Err(e @ SlideError::TooFine { .. }) => {
                counts
                    .insert(m.name.clone(), MagnificationCounts { refused: Some(e.to_string()), ..Default::default() });
            }
            Err(e) => return Err(e.into()),
        }
    }
    writer.finish()?;
    save_rgb(&dir.join("qc.png"), &qc_thumbnail(&mask, native, &all_records))
        .map_err(|e| JobError::Other(e.to_string()))?;
    let outcome = SlideOutcome {
        slide_id: entry.slide_id.clone(),
        slide: entry.slide.clone(),
        status: "done".into(),
        error: None,
        native_um_per_px: Some(native),
        magnifications: counts,
    };
    let json = serde_json::to_vec_pretty(&outcome).map_err(|e| JobError::Other(e.to_string()))?;
    write_atomic(&done, &json).map_err(|e| JobError::Other(e.to_string()))?;
    Ok(outcome)
}

/// Patches every slide of `cohort`, then merges the per-slide manifests into `manifest.parquet`.
pub fn run_patch_job(job: &PatchJob, cohort: &Cohort) -> Result<RunReport, String> {
    std::fs::create_dir_all(&job.out_dir).map_err(|e| format!("{}: {e}", job.out_dir.display()))?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(job.threads.max(1)).build().map_err(|e| e.to_string())?;
    let bar = if job.show_progress { ProgressBar::new(cohort.slides.len() as u64) } else { ProgressBar::hidden() };
    if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} slides {msg}") {
        bar.set_style(style);
    }
    let outcomes: Vec<SlideOutcome> = pool.install(|| {
        cohort
            .slides
            .par_iter()
            .map(|entry| {
                let outcome = process_slide(job, entry).unwrap_or_else(|e| {
                    tracing::warn!(slide = %entry.slide_id, error = %e, "slide failed");
                    SlideOutcome {
                        slide_id: entry.slide_id.clone(),
                        slide: entry.slide.clone(),
                        status: "failed".into(),
                        error: Some(e.to_string()),
                        native_um_per_px: None,
                        magnifications: BTreeMap::new(),
                    }
                });
                bar.inc(1);
                outcome
            })
            .collect()
    });
    bar.finish_and_clear();
    let manifest = job.out_dir.join("manifest.parquet");
    let mut writer = ManifestWriter::create(&manifest).map_err(|e| e.to_string())?;
    for o in outcomes.iter().filter(|o| o.error.is_none()) {
        let rows =
            read_manifest(&slide_dir(&job.out_dir, &o.slide_id).join("patches.parquet")).map_err(|e| e.to_string())?;
        for r in rows.into_iter().filter(|r| job.magnifications.iter().any(|m| m.name == r.magnification)) {
            writer.push(r).map_err(|e| e.to_string())?;
        }
    }
    let total_patches = writer.finish().map_err(|e| e.to_string())?;
    let report = RunReport {
        failed: outcomes.iter().filter(|o| o.error.is_some()).count(),
        slides: outcomes,
        total_patches,
        manifest,
    };
    #[derive(Serialize)]
    struct Json<'a> {
        slides: &'a [SlideOutcome],
        total_patches: u64,
        failed: usize,
    }
    let json = serde_json::to_vec_pretty(&Json { slides: &report.slides, total_patches, failed: report.failed })
        .map_err(|e| e.to_string())?;
    write_atomic(&job.out_dir.join("report.json"), &json).map_err(|e| e.to_string())?;
    Ok(report)
}
