//! The frame threshold: camera-sized windows cut from validation slides around validation
//! patches, fielded and aggregated as the edge does, run on the edge's engine; the threshold
//! chosen on them separates the classes; a slide that cannot be read is skipped by name.

use crate::common;

use melanoscope_shared::Lesion;
use melanoscope_shared::formats::DecisionThresholds;
use melanoscope_shared::image::Normalization;
use melanoscope_shared::metrics::Aggregation;
use melanoscope_shared::metrics::ThresholdRule;
use melanoscope_slides::manifest::ManifestRow;
use melanoscope_slides::split::{Partition, PatientSplit};
use melanoscope_synth::frames::lesion_centre;
use melanoscope_synth::scene::Scene;
use melanoscope_synth::slide::write_slide;
use melanoscope_tests::tiny_model::{SIDE, tiny_onnx};
use melanoscope_trainer::export::frames::{FrameModel, FramePlan, choose_frame_threshold, validation_frames};
use melanoscope_trainer::train::task::Task;
use std::collections::BTreeMap;
use std::path::Path;

const UM: f64 = 1.0;

/// Three 10X patch rows of `slide` around its lesion centre (µm = px at 1 µm/px).
fn rows(slide: &Path, id: &str, patient: &str, lesion: Lesion, centre: (f32, f32)) -> Vec<ManifestRow> {
    common::patch_rows(slide, id, patient, lesion, centre, &[(-150, -60), (0, 0), (120, 80)])
}

#[test]
fn validation_frames_are_screened_as_the_edge_screens_and_choose_a_separating_threshold() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("frame-threshold");
    let mut manifest = Vec::new();
    let mut assignments = BTreeMap::new();
    for (i, lesion) in [Lesion::MM, Lesion::CN, Lesion::MM, Lesion::JN].into_iter().enumerate() {
        let scene = Scene::new(lesion, 2000.0, 1400.0, 40 + i as u64, i as u64 % 3);
        let path = dir.join(format!("s{i}.tif"));
        write_slide(&scene, UM, 10, &path).unwrap();
        let patient = format!("P{i}");
        manifest.extend(rows(&path, &format!("s{i}"), &patient, lesion, lesion_centre(&scene).unwrap()));
        assignments.insert(patient, (Partition::Validation, lesion));
    }
    // A validation slide whose file went missing, and a training patient that must not be used.
    manifest.extend(rows(&dir.join("gone.tif"), "gone", "P9", Lesion::IN, (500.0, 500.0)));
    assignments.insert("P9".into(), (Partition::Validation, Lesion::IN));
    manifest.extend(rows(&dir.join("s0.tif"), "train", "P8", Lesion::CN, (500.0, 500.0)));
    assignments.insert("P8".into(), (Partition::Train, Lesion::CN));
    let split = PatientSplit { assignments };

    let norm = Normalization::IMAGENET;
    // Logit(MM) - logit(nevus) grows with nuclear density: melanoma sheets are denser.
    let onnx = tiny_onnx(&norm, 30.0, 0.05);
    let model = FrameModel { onnx: &onnx, side: SIDE as u32, um_per_px: UM, normalization: norm, positive_class: 1 };
    let plan =
        FramePlan { width: 640, height: 480, um_per_px: UM, per_slide: 2, aggregation: Aggregation::Mean, cameras: 0 };
    let report = validation_frames(&manifest, &split, Task::MmVsNevi, "10X", &model, &plan).unwrap();

    assert_eq!(report.frames.len(), 8, "two windows of each readable validation slide: {report:?}");
    assert!(report.frames.iter().all(|f| f.slide_id != "train"), "training patients stay out");
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].0, "gone");
    assert!(report.skipped[0].1.contains("gone.tif"), "{:?}", report.skipped);
    // A 640x480 window at the model's µm/px holds a 2x1 grid of 256 px fields (centred).
    assert!(report.frames.iter().all(|f| (1..=2).contains(&f.tissue_fields)), "{report:?}");
    let (mm, nevus): (Vec<_>, Vec<_>) = report.frames.iter().partition(|f| f.positive);
    let lowest_mm = mm.iter().map(|f| f.probability).fold(1.0, f64::min);
    let highest_nevus = nevus.iter().map(|f| f.probability).fold(0.0, f64::max);
    assert!(lowest_mm > highest_nevus, "melanoma frames {mm:?} vs nevus frames {nevus:?}");

    let patch =
        DecisionThresholds { positive_class: 1, threshold: 0.2, uncertain_band: 0.1, rule: ThresholdRule::Youden };
    let (decision, choice) = choose_frame_threshold(&report.frames, patch, 0.1, &plan).unwrap();
    assert!(decision.threshold > highest_nevus && decision.threshold < lowest_mm, "{decision:?}");
    assert_eq!((choice.frames, choice.positive_frames, choice.auc), (8, 4, 1.0));
    assert_eq!((choice.frame_width, choice.frame_height), (640, 480));

    // Through simulated cameras (blur, vignetting, colour cast, JPEG) the frames change but
    // the classes stay apart for this density model.
    let cameras = FramePlan { cameras: 3, ..plan };
    let seen = validation_frames(&manifest, &split, Task::MmVsNevi, "10X", &model, &cameras).unwrap();
    assert_eq!(seen.frames.len(), 8);
    assert!(
        seen.frames.iter().zip(&report.frames).any(|(a, b)| (a.probability - b.probability).abs() > 1e-4),
        "the simulated camera changes what the model sees"
    );
    let (_, choice) = choose_frame_threshold(&seen.frames, patch, 0.1, &cameras).unwrap();
    assert!(choice.auc > 0.9, "{choice:?}");
    // A camera coarser than the model cannot give its fields.
    let coarse = FramePlan { um_per_px: 4.0, ..plan };
    let e = validation_frames(&manifest, &split, Task::MmVsNevi, "10X", &model, &coarse).unwrap_err();
    assert!(e.to_string().contains("coarser than the model's"), "{e}");
    // A frame larger than any camera's (its windows are held whole in memory) or degenerate.
    for bad in [FramePlan { width: 100_000, height: 100_000, ..plan }, FramePlan { width: 0, ..plan }] {
        let e = validation_frames(&manifest, &split, Task::MmVsNevi, "10X", &model, &bad).unwrap_err();
        assert!(e.to_string().contains("expected 16 to 16384 px a side"), "{e}");
    }
    // Imported patches (each "slide" a 256 px patch image): no window fits in real pixels, so
    // no frame is made of padding and the patch threshold is kept, with why. Before, frames
    // padded with glass chose a threshold of 0.045 that went into the bundle.
    let patches: Vec<ManifestRow> = manifest
        .iter()
        .filter(|r| r.slide_id.starts_with('s'))
        .enumerate()
        .map(|(i, r)| {
            let file = dir.join(format!("patch-{i}.png"));
            let slide = melanoscope_slides::slide::Slide::open(Path::new(&r.slide), None).unwrap();
            let img = slide.read_rgb(0, r.x0 as u64, r.y0 as u64, r.size0 as u32, r.size0 as u32).unwrap();
            melanoscope_shared::image::save_rgb(&file, &img).unwrap();
            ManifestRow { slide: file.display().to_string(), x0: 0, y0: 0, ..r.clone() }
        })
        .collect();
    let e = validation_frames(&patches, &split, Task::MmVsNevi, "10X", &model, &plan).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("real pixels") && text.contains("patch threshold stays"), "{text}");
    assert!(text.contains("12 slide(s) smaller"), "every patch file was measured: {text}");
    // No validation slide at another magnification.
    let e = validation_frames(&manifest, &split, Task::MmVsNevi, "40X", &model, &plan).unwrap_err();
    assert!(e.to_string().contains("no validation slide"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
