//! Sets of synthetic microscope camera frames for the demo, from the renderer in [`crate::frames`]
//! (which the edge's tests use too).

use crate::frames::{FrameOptics, frame_jpeg, lesion_centre, render_frame};
use crate::scene::Scene;
use crate::{Lesion, SynthError};
use melanoscope_shared::rng::SplitMix64;

/// Writes `per_class` JPEG frames of each lesion class centred on the lesion, plus `frames.csv`
/// (file, lesion, um_per_px, site). Deterministic from `seed`.
pub fn write_frame_set(
    out: &std::path::Path,
    per_class: usize,
    um_per_px: f64,
    size: (u32, u32),
    seed: u64,
    style: Option<crate::stains::LabStyle>,
) -> Result<Vec<std::path::PathBuf>, SynthError> {
    std::fs::create_dir_all(out).map_err(SynthError::io(out))?;
    let mut rng = SplitMix64::new(seed);
    let mut csv = String::from("file,lesion,um_per_px,site\n");
    let mut files = Vec::new();
    for lesion in Lesion::ALL {
        for i in 0..per_class {
            let site = (i % 3) as u64;
            let scene = Scene::new(lesion, 3000.0, 2000.0, rng.next_u64(), site);
            let centre = lesion_centre(&scene).ok_or_else(|| SynthError::Invalid("scene without a lesion".into()))?;
            let optics = FrameOptics::for_site(site);
            let img = render_frame(&scene, centre, um_per_px, size.0, size.1, &optics)?;
            // Another lab's stain is the slide's, seen through the same camera.
            let img = match style {
                Some(style) => crate::stains::restyle(&img, style),
                None => img,
            };
            let name = format!("{lesion}-{i}.jpg");
            let path = out.join(&name);
            melanoscope_shared::atomic::write_atomic(&path, &frame_jpeg(&img, &optics)?)
                .map_err(SynthError::io(&path))?;
            csv.push_str(&format!("{name},{lesion},{um_per_px},site-{site}\n"));
            files.push(path);
        }
    }
    let index = out.join("frames.csv");
    melanoscope_shared::atomic::write_atomic(&index, csv.as_bytes()).map_err(SynthError::io(&index))?;
    Ok(files)
}
