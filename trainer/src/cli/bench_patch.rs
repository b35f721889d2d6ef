//! `bench-patch`: patch extraction timed on one slide (batched reads vs one read per patch).

use anyhow::Result;
use melanoscope_shared::Lesion;
use melanoscope_slides::slide::Magnification;
use melanoscope_synth::scene::Scene;
use melanoscope_synth::slide::{regions_geojson, write_slide};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BenchPatchArgs {
    #[arg(long)]
    pub slide: Option<PathBuf>,
    /// Folder for the generated slide (reused when it exists).
    #[arg(long, default_value = "out/bench")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 10.0)]
    pub width_mm: f32,
    #[arg(long, default_value_t = 7.5)]
    pub height_mm: f32,
    #[arg(long, default_value = "40X")]
    pub magnification: Magnification,
}

/// A synthetic 40X melanoma slide of the asked size with its outline beside it (so the
/// benchmark also times annotated patching), made once.
fn synthetic_slide(args: &BenchPatchArgs) -> Result<PathBuf> {
    let path = args.out.join(format!("bench-{}x{}mm-40x.tif", args.width_mm, args.height_mm));
    let outline = path.with_extension("geojson");
    if path.exists() && outline.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(&args.out)?;
    // Deterministic from its seed: the outline fits a slide rendered earlier.
    let scene = Scene::new(Lesion::MM, args.width_mm * 1000.0, args.height_mm * 1000.0, 7, 0);
    if !path.exists() {
        eprintln!("rendering {} ...", path.display());
        write_slide(&scene, 0.25, 40, &path)?;
    }
    let geo = regions_geojson(std::slice::from_ref(&scene.lesion_outline), 0.25, "MM");
    melanoscope_shared::atomic::write_atomic(&outline, &serde_json::to_vec(&geo)?)?;
    Ok(path)
}

pub fn run(args: BenchPatchArgs) -> Result<()> {
    let path = match &args.slide {
        Some(p) => p.clone(),
        None => synthetic_slide(&args)?,
    };
    let m = &args.magnification;
    let report = melanoscope_slides::patching::run_patch_bench(&path, &m.name, m.um_per_px)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
