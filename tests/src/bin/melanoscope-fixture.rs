//! Writes a tiny screening bundle and replay frames into a folder, for tests that run the
//! packaged binary (under qemu) where no trainer is at hand: `melanoscope-fixture OUT_DIR`.

use melanoscope_shared::Lesion;
use melanoscope_shared::image::{RgbImage, encode_jpeg};
use melanoscope_synth::frames::{FrameOptics, lesion_centre, render_frame};
use melanoscope_synth::scene::Scene;
use melanoscope_tests::tiny_model::fit_bundle;
use std::path::PathBuf;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn frame(lesion: Lesion, seed: u64) -> Result<RgbImage> {
    let scene = Scene::new(lesion, 2400.0, 1600.0, seed, 0);
    let centre = lesion_centre(&scene).ok_or("no lesion")?;
    let optics = FrameOptics { vignetting: 0.1, blur_px: 0.4, colour_cast: [1.0; 3], jpeg_quality: 90 };
    Ok(render_frame(&scene, centre, 1.0, 576, 320, &optics)?)
}

fn main() -> Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).ok_or("usage: melanoscope-fixture OUT_DIR")?);
    std::fs::create_dir_all(out.join("frames"))?;
    let mm = [frame(Lesion::MM, 11)?, frame(Lesion::MM, 12)?];
    let nv = [frame(Lesion::IN, 13)?, frame(Lesion::CN, 14)?];
    std::fs::write(out.join("tiny.mscm"), fit_bundle(&mm, &nv, 1.0, 1.0))?;
    for (name, img) in [("mm.jpg", frame(Lesion::MM, 21)?), ("nevus.jpg", frame(Lesion::CN, 22)?)] {
        let jpeg = encode_jpeg(&img, 90)?;
        std::fs::write(out.join("frames").join(name), jpeg)?;
    }
    println!("wrote {}/tiny.mscm and frames/", out.display());
    Ok(())
}
