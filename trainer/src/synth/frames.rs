//! Sets of synthetic microscope camera frames for the demo (the renderer is
//! `melanoscope_shared::synth::frames`, which the edge's tests use too).

use crate::cohort::Lesion;
use melanoscope_shared::rng::SplitMix64;
pub use melanoscope_shared::synth::frames::{FrameOptics, frame_jpeg, lesion_centre, render_frame};
use melanoscope_shared::synth::scene::Scene;

/// Writes `per_class` JPEG frames of each lesion class centred on the lesion, plus `frames.csv`
/// (file, lesion, um_per_px, site). Deterministic from `seed`.
pub fn write_frame_set(
    out: &std::path::Path,
    per_class: usize,
    um_per_px: f64,
    size: (u32, u32),
    seed: u64,
) -> Result<Vec<std::path::PathBuf>, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut rng = SplitMix64::new(seed);
    let mut csv = String::from("file,lesion,um_per_px,site\n");
    let mut files = Vec::new();
    for lesion in Lesion::ALL {
        for i in 0..per_class {
            let site = (i % 3) as u64;
            let scene = Scene::new(lesion, 3000.0, 2000.0, rng.next_u64(), site);
            let centre = lesion_centre(&scene).ok_or("scene without a lesion")?;
            let optics = FrameOptics::for_site(site);
            let img = render_frame(&scene, centre, um_per_px, size.0, size.1, &optics)?;
            let name = format!("{lesion}-{i}.jpg");
            let path = out.join(&name);
            melanoscope_shared::atomic::write_atomic(&path, &frame_jpeg(&img, &optics)?).map_err(|e| e.to_string())?;
            csv.push_str(&format!("{name},{lesion},{um_per_px},site-{site}\n"));
            files.push(path);
        }
    }
    melanoscope_shared::atomic::write_atomic(&out.join("frames.csv"), csv.as_bytes()).map_err(|e| e.to_string())?;
    Ok(files)
}
