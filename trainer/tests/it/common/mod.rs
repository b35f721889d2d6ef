//! Manifest rows of synthetic slides for the trainer's integration tests.

use melanoscope_shared::Lesion;
use melanoscope_slides::manifest::ManifestRow;
use melanoscope_tests::tiny_model::SIDE;
use std::path::Path;

/// 10X (1 µm/px) patch rows of `slide`, one at each offset from `centre` (µm = px).
pub fn patch_rows(
    slide: &Path,
    id: &str,
    patient: &str,
    lesion: Lesion,
    centre: (f32, f32),
    offsets: &[(i64, i64)],
) -> Vec<ManifestRow> {
    offsets
        .iter()
        .map(|(dx, dy)| ManifestRow {
            slide: slide.display().to_string(),
            slide_id: id.into(),
            patient_id: patient.into(),
            label: lesion.code().into(),
            site: None,
            magnification: "10X".into(),
            requested_um_per_px: 1.0,
            effective_um_per_px: 1.0,
            level: 0,
            x0: centre.0 as i64 - SIDE as i64 / 2 + dx,
            y0: centre.1 as i64 - SIDE as i64 / 2 + dy,
            size0: SIDE as i64,
            patch_size: SIDE as i32,
            background_fraction: 0.0,
            slide_label: lesion.code().into(),
            region_id: Some(1),
            region_name: None,
            region_class: None,
            region_overlap: Some(1.0),
        })
        .collect()
}
