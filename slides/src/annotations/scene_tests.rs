//! The synthetic scenes' delineations pass the trainer's annotation checks.

use crate::annotations::{AnnotationPolicy, load_annotations};
use melanoscope_shared::Lesion;
use melanoscope_synth::scene::*;

fn ring(cx: f32, cy: f32, r: f32) -> Polygon {
    (0..16).map(|i| i as f32 / 16.0 * std::f32::consts::TAU).map(|t| (cx + r * t.cos(), cy + r * t.sin())).collect()
}

/// The outline must pass the annotation checks (simple polygon, inside the slide).
fn assert_valid(outline: &Polygon, w_um: f32, h_um: f32, what: &str) {
    let path = std::env::temp_dir().join(format!("msc-delineate-{}-{what}.geojson", std::process::id()));
    let geo = melanoscope_synth::slide::regions_geojson(std::slice::from_ref(outline), 1.0, "MM");
    std::fs::write(&path, serde_json::to_vec(&geo).unwrap()).unwrap();
    let loaded = load_annotations(&path, w_um as u64, h_um as u64, &AnnotationPolicy::default());
    std::fs::remove_file(&path).unwrap();
    assert!(loaded.is_ok(), "{what}: {}", loaded.unwrap_err());
}

#[test]
fn delineation_encloses_every_region_and_bridges_gaps_as_one_simple_polygon() {
    // Two nests 800 µm apart: columns between them hold no point and must be bridged.
    let nests = vec![ring(100.0, 100.0, 20.0), ring(900.0, 300.0, 25.0)];
    let outline = delineate(&nests);
    for p in nests.iter().flatten() {
        assert!(point_in_polygon(&outline, p.0, p.1), "{p:?} outside");
    }
    assert!(!point_in_polygon(&outline, 500.0, 900.0));
    assert_valid(&outline, 2000.0, 2000.0, "gap");
    for (i, lesion) in Lesion::ALL.into_iter().enumerate() {
        let scene = Scene::new(lesion, 2400.0, 1600.0, 11 + i as u64, 0);
        assert!(scene.lesion_outline.len() >= 8, "{lesion}");
        let inside =
            scene.lesion_regions.iter().flatten().filter(|p| point_in_polygon(&scene.lesion_outline, p.0, p.1));
        let total = scene.lesion_regions.iter().map(Vec::len).sum::<usize>();
        // Vertices on the clamped slide edge may fall on the outline itself.
        assert!(inside.count() as f32 >= 0.98 * total as f32, "{lesion}");
        assert_valid(&scene.lesion_outline, 2400.0, 1600.0, lesion.code());
    }
}
