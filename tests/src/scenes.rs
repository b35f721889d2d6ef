//! Camera frames of synthetic lesions, scratch folders, and a tiny bundle fitted on them: what
//! the end-to-end tests screen and tune with.

use crate::tiny_model::fit_bundle;
use melanoscope_shared::Lesion;
use melanoscope_shared::image::RgbImage;
use melanoscope_synth::frames::{FrameOptics, lesion_centre, render_frame};
use melanoscope_synth::scene::Scene;
use std::path::{Path, PathBuf};

/// µm per pixel of the test frames and of the tiny model.
pub const FRAME_UM: f64 = 1.0;
pub const MODEL_UM: f64 = 1.0;
pub const W: u32 = 576;
pub const H: u32 = 320;

/// A `W` x `H` camera frame centred on the lesion of a scene of `lesion`.
pub fn frame(lesion: Lesion, seed: u64, optics: &FrameOptics) -> RgbImage {
    let scene = Scene::new(lesion, 2400.0, 1600.0, seed, seed % 3);
    let centre = lesion_centre(&scene).expect("scene has a lesion");
    render_frame(&scene, centre, FRAME_UM, W, H, optics).expect("renders")
}

/// A focused objective with a little vignetting and colour cast.
pub fn sharp() -> FrameOptics {
    FrameOptics { vignetting: 0.1, blur_px: 0.4, colour_cast: [1.0, 0.98, 1.0], jpeg_quality: 90 }
}

/// Writes `tiny.mscm` in `dir`: the tiny model fitted on frames of other seeds than the tests
/// screen.
pub fn write_bundle(dir: &Path) -> PathBuf {
    let mm: Vec<RgbImage> = [11, 12, 16, 17].map(|s| frame(Lesion::MM, s, &sharp())).to_vec();
    let nv: Vec<RgbImage> = [(Lesion::IN, 13), (Lesion::CN, 14), (Lesion::JN, 15), (Lesion::IN, 18), (Lesion::CN, 19)]
        .map(|(l, s)| frame(l, s, &sharp()))
        .to_vec();
    let path = dir.join("tiny.mscm");
    std::fs::write(&path, fit_bundle(&mm, &nv, FRAME_UM, MODEL_UM)).expect("bundle written");
    path
}
