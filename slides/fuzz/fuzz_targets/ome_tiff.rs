//! The OME-TIFF reader on arbitrary bytes: opening and reading a region never panic, a region
//! it returns has the size asked, and a spacing it reads is positive.
#![no_main]

#[path = "scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;
use melanoscope_slides::slide::{OmeTiff, ome_spacing};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(Some(s)) = ome_spacing(text)
    {
        assert!(s.x > 0.0 && s.y > 0.0);
    }
    let path = scratch::scratch_file("slide.ome.tif", data);
    if let Ok(t) = OmeTiff::open(&path) {
        for level in 0..t.level_sizes().len() + 1 {
            if let Ok(img) = t.read(level, 3, 5, 40, 30) {
                assert_eq!((img.width(), img.height()), (40, 30));
            }
        }
    }
});
