//! The direct TIFF tile reader on arbitrary bytes, as a one- or two-level pyramid of the sizes
//! the first bytes give: never panics, and a region it returns has the size asked.
#![no_main]

#[path = "scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;
use melanoscope_slides::slide::TiledTiff;

fuzz_target!(|data: &[u8]| {
    let Some((&[w, h], tiff)) = data.split_first_chunk::<2>() else { return };
    let (w, h) = (u64::from(w).max(1) * 16, u64::from(h).max(1) * 16);
    let path = scratch::scratch_file("slide.tif", tiff);
    for levels in [&[(w, h)][..], &[(w, h), (w / 2 + 1, h / 2 + 1)][..]] {
        if let Some(t) = TiledTiff::open(&path, levels) {
            for level in 0..levels.len() as u32 + 1 {
                if let Ok(img) = t.read(level, 3, 5, 40, 30) {
                    assert_eq!((img.width(), img.height()), (40, 30));
                }
            }
        }
    }
});
