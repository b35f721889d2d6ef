//! Annotation files (QuPath GeoJSON, ASAP and Aperio XML: the first byte picks the file
//! name's extension) on arbitrary bytes, with their geometry checks: never panics, and every
//! region accepted lies on the slide.
#![no_main]

#[path = "scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;
use melanoscope_slides::annotations::{AnnotationPolicy, load_annotations};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else { return };
    let name = ["a.geojson", "a.json", "a.xml"][usize::from(pick % 3)];
    let path = scratch::scratch_file(name, text);
    if let Ok(ann) = load_annotations(&path, 100_000, 80_000, &AnnotationPolicy::default()) {
        for r in &ann.regions {
            for p in r.raw.shapes.iter().flat_map(|s| s.points()) {
                assert!(p.x.is_finite() && p.y.is_finite() && p.x <= 100_000.0 && p.y <= 80_000.0, "{p:?}");
            }
        }
    }
});
