//! A synthetic cohort: patients owning one or more slides across the four lesion classes and
//! several sites (stain/scan variation), with ground-truth lesion masks, deterministic from a seed.

use super::scene::Scene;
use super::slide::{rasterize, regions_geojson, write_slide_as};
pub use super::tiff::TiffLayout;
use crate::{Lesion, SynthError};
use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::image::{RgbImage, save_rgb};
use melanoscope_shared::rng::SplitMix64;
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub out_dir: PathBuf,
    pub patients: usize,
    pub slides_per_patient: usize,
    pub width_um: f32,
    pub height_um: f32,
    /// Level-0 µm/px (0.25 = a 40X scan).
    pub um_per_px: f64,
    pub sites: usize,
    pub seed: u64,
    /// How the slides' TIFF files are laid out (Aperio-style, or OME-TIFF).
    pub layout: TiffLayout,
}

/// Ground-truth masks are written at this downsample of level 0.
pub const MASK_DOWNSAMPLE: u32 = 16;

/// One generated slide.
#[derive(Debug, Clone)]
pub struct SynthSlide {
    pub slide: PathBuf,
    pub slide_id: String,
    pub patient_id: String,
    pub label: Lesion,
    pub site: String,
    pub width: u32,
    pub height: u32,
}

/// Generates the cohort; returns the path of its `cohort.csv` and the slides.
pub fn generate_cohort(
    cfg: &SynthConfig,
    mut progress: impl FnMut(&SynthSlide),
) -> Result<(PathBuf, Vec<SynthSlide>), SynthError> {
    if cfg.patients == 0 || cfg.slides_per_patient == 0 || cfg.sites == 0 {
        return Err(SynthError::Invalid("patients, slides per patient and sites must be at least 1".into()));
    }
    if !(cfg.um_per_px.is_finite() && cfg.um_per_px > 0.0) {
        return Err(SynthError::Invalid(format!("µm/px {} is not a positive number", cfg.um_per_px)));
    }
    let slides_dir = cfg.out_dir.join("slides");
    std::fs::create_dir_all(&slides_dir).map_err(SynthError::io(&slides_dir))?;
    let mut rng = SplitMix64::new(cfg.seed);
    let mut slides = Vec::new();
    let mut csv = String::from("slide,slide_id,patient_id,label,site\n");
    for p in 0..cfg.patients {
        let label = Lesion::ALL[p % Lesion::ALL.len()];
        let site = (p % cfg.sites) as u64;
        let patient_id = format!("SYN-P{p:03}");
        for s in 0..cfg.slides_per_patient {
            let slide_id = format!("SYN-P{p:03}-S{s}");
            let scene = Scene::new(label, cfg.width_um, cfg.height_um, rng.next_u64(), site);
            let path = slides_dir.join(format!("{slide_id}.tif"));
            let app_mag = (10.0 / cfg.um_per_px).round() as u32;
            let (width, height) = write_slide_as(&scene, cfg.um_per_px, app_mag, &path, cfg.layout)?;
            write_truth(&scene, &slides_dir, &slide_id, label, cfg.um_per_px, width, height)?;
            let entry = SynthSlide {
                slide: path,
                slide_id: slide_id.clone(),
                patient_id: patient_id.clone(),
                label,
                site: format!("site-{site}"),
                width,
                height,
            };
            csv.push_str(&format!("slides/{slide_id}.tif,{slide_id},{patient_id},{label},{}\n", entry.site));
            progress(&entry);
            slides.push(entry);
        }
    }
    let cohort = cfg.out_dir.join("cohort.csv");
    write_atomic(&cohort, csv.as_bytes()).map_err(SynthError::io(&cohort))?;
    Ok((cohort, slides))
}

/// The lesion's fine truth as a PNG mask (white = nests, sheet and pagetoid cells, at 1/16 of
/// level 0), and its delineation (the outline a pathologist draws around the whole lesion) as
/// QuPath GeoJSON beside the slide, where patching finds it.
fn write_truth(
    scene: &Scene,
    dir: &Path,
    slide_id: &str,
    label: Lesion,
    um_per_px: f64,
    width: u32,
    height: u32,
) -> Result<(), SynthError> {
    let (mw, mh) = (width / MASK_DOWNSAMPLE, height / MASK_DOWNSAMPLE);
    let mask = rasterize(&scene.lesion_regions, mw, mh, um_per_px * f64::from(MASK_DOWNSAMPLE));
    let rgb: Vec<u8> = mask.iter().flat_map(|v| [*v, *v, *v]).collect();
    let img = RgbImage::from_raw(mw, mh, rgb)?;
    save_rgb(&dir.join(format!("{slide_id}.mask.png")), &img)?;
    let json = regions_geojson(std::slice::from_ref(&scene.lesion_outline), um_per_px, label.code());
    let path = dir.join(format!("{slide_id}.geojson"));
    let text = serde_json::to_vec_pretty(&json).map_err(|source| SynthError::Json { path: path.clone(), source })?;
    write_atomic(&path, &text).map_err(SynthError::io(&path))
}
