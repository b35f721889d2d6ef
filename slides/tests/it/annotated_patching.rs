//! Patching inside delineated regions on synthetic slides: every kept patch lies over the
//! planted lesion by at least the set fraction, while tissue-only patching of the same slide also
//! takes normal skin; labels can come from regions; a slide with another slide's annotation file
//! is reported while the rest of the cohort completes.

use melanoscope_shared::image::load_rgb;
use melanoscope_slides::annotations::{AnnotationPolicy, RegionLabelMap};
use melanoscope_slides::cohort::{Lesion, load_cohort};
use melanoscope_slides::manifest::{ManifestRow, read_manifest};
use melanoscope_slides::patching::{PatchJob, SlideStatus, run_patch_job};
use melanoscope_slides::slide::MagnificationPresets;
use melanoscope_synth::scene::{Scene, point_in_polygon};
use melanoscope_synth::slide::{regions_geojson, write_slide};
use std::path::Path;

const UM_PER_PX: f64 = 0.5;
const MIN_OVERLAP: f32 = 0.5;

/// Fraction of a patch inside `outline` (µm), from a 40×40 grid of sample points: independent
/// of the raster the patcher uses.
fn truth_overlap(outline: &[(f32, f32)], r: &ManifestRow) -> f32 {
    let n = 40;
    let step = r.size0 as f64 / f64::from(n);
    let mut inside = 0;
    for j in 0..n {
        for i in 0..n {
            let x = (r.x0 as f64 + (f64::from(i) + 0.5) * step) * UM_PER_PX;
            let y = (r.y0 as f64 + (f64::from(j) + 0.5) * step) * UM_PER_PX;
            inside += u32::from(point_in_polygon(outline, x as f32, y as f32));
        }
    }
    inside as f32 / (n * n) as f32
}

fn job(out: &Path, annotations: Option<AnnotationPolicy>) -> PatchJob {
    PatchJob { annotations, ..PatchJob::new(out.into(), MagnificationPresets::default().parse_list("20X").unwrap()) }
}

#[test]
fn patches_come_from_the_delineated_lesion_and_bad_files_are_reported() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("annotated");
    std::fs::create_dir_all(dir.join("slides")).unwrap();
    let mut scenes = Vec::new();
    for (i, label) in [Lesion::MM, Lesion::CN].into_iter().enumerate() {
        let scene = Scene::new(label, 900.0, 640.0, 40 + i as u64, 0);
        let slide = dir.join(format!("slides/S{i}.tif"));
        write_slide(&scene, UM_PER_PX, 20, &slide).unwrap();
        let geo = regions_geojson(std::slice::from_ref(&scene.lesion_outline), UM_PER_PX, label.code());
        // S0's outline is named in the cohort; S1's is found beside the slide.
        let name = if i == 0 { "S0-outline.geojson" } else { "S1.geojson" };
        std::fs::write(dir.join("slides").join(name), serde_json::to_vec(&geo).unwrap()).unwrap();
        scenes.push(scene);
    }
    // S2 reuses S0's pixels with an annotation file drawn on a slide four times its size.
    std::fs::copy(dir.join("slides/S0.tif"), dir.join("slides/S2.tif")).unwrap();
    let big: Vec<(f32, f32)> = scenes[0].lesion_outline.iter().map(|(x, y)| (x * 4.0, y * 4.0)).collect();
    let geo = regions_geojson(&[big], UM_PER_PX, "MM");
    std::fs::write(dir.join("slides/S2.geojson"), serde_json::to_vec(&geo).unwrap()).unwrap();
    std::fs::write(
        dir.join("cohort.csv"),
        "slide,slide_id,patient_id,label,annotations\n\
         slides/S0.tif,S0,P0,MM,slides/S0-outline.geojson\n\
         slides/S1.tif,S1,P1,CN,\n\
         slides/S2.tif,S2,P2,MM,\n",
    )
    .unwrap();
    let cohort = load_cohort(&dir.join("cohort.csv")).unwrap();

    let tissue_job = job(&dir.join("tissue"), None);
    let tissue = run_patch_job(&tissue_job, &cohort).unwrap();
    assert_eq!(tissue.failed, 0, "{}", tissue.summary());
    let annotated_job = job(&dir.join("annotated"), Some(AnnotationPolicy::default()));
    let annotated = run_patch_job(&annotated_job, &cohort).unwrap();
    println!("{}", annotated.summary());

    // The slide with another slide's annotations is reported by name; the rest complete.
    assert_eq!(annotated.failed, 1);
    let s2 = annotated.slides.iter().find(|o| o.slide_id == "S2").unwrap();
    let err = s2.error.as_deref().unwrap();
    assert!(err.contains("S2.geojson") && err.contains("another slide"), "{err}");

    let tissue_rows = read_manifest(&tissue.manifest).unwrap();
    let rows = read_manifest(&annotated.manifest).unwrap();
    for (i, scene) in scenes.iter().enumerate() {
        let id = format!("S{i}");
        let mine: Vec<&ManifestRow> = rows.iter().filter(|r| r.slide_id == id).collect();
        let all: Vec<&ManifestRow> = tissue_rows.iter().filter(|r| r.slide_id == id).collect();
        assert!(mine.len() >= 3, "{id}: {} patches inside the lesion", mine.len());
        for r in &mine {
            let truth = truth_overlap(&scene.lesion_outline, r);
            // The raster samples 16×16 points per patch; allow its quantisation.
            assert!(truth >= MIN_OVERLAP - 0.04, "{id}: patch at ({}, {}) overlaps the lesion by {truth}", r.x0, r.y0);
            let recorded = r.region_overlap.unwrap();
            assert!(
                recorded >= MIN_OVERLAP && (recorded - truth).abs() < 0.08,
                "{id}: recorded {recorded}, truth {truth}"
            );
            assert_eq!((r.region_id, r.region_class.as_deref()), (Some(1), Some(scene.lesion.code())));
            assert_eq!(r.label, r.slide_label);
            // The same grid: every annotated patch is one the tissue-only run also kept.
            assert!(all.iter().any(|t| (t.x0, t.y0) == (r.x0, r.y0)), "{id}: ({}, {})", r.x0, r.y0);
        }
        // Tissue-only patching also takes normal skin, far from the lesion.
        let normal = all.iter().filter(|r| truth_overlap(&scene.lesion_outline, r) == 0.0).count();
        assert!(normal >= 2, "{id}: tissue-only patching took {normal} patches of normal skin");
        assert!(all.len() > mine.len());
        let outcome = annotated.slides.iter().find(|o| o.slide_id == id).unwrap();
        let counts = &outcome.magnifications["20X"];
        assert!(counts.outside_regions > 0 && counts.kept == mine.len(), "{counts:?}");
        let ann = outcome.annotations.as_ref().unwrap();
        assert_eq!((ann.included_regions, ann.patches_per_region.get(&1)), (1, Some(&mine.len())));
        // The QC thumbnail draws the delineation (yellow) over the mask and patches.
        let qc = load_rgb(&annotated_job.out_dir.join(format!("slides/{id}/qc.png"))).unwrap();
        assert!(qc.as_raw().chunks_exact(3).filter(|p| p == &[250, 210, 0]).count() > 20, "{id}: no outline in QC");
    }
    let report = std::fs::read_to_string(annotated_job.out_dir.join("report.json")).unwrap();
    assert!(report.contains("\"outside_regions\"") && report.contains("\"QuPathGeoJson\""));

    // Resuming skips what is done under the same settings and redoes slides whose settings changed.
    let again = run_patch_job(&annotated_job, &cohort).unwrap();
    assert_eq!(again.slides.iter().filter(|o| o.status == SlideStatus::Resumed).count(), 2);
    let tissue_in_annotated_dir = run_patch_job(&job(&annotated_job.out_dir, None), &cohort).unwrap();
    assert_eq!(tissue_in_annotated_dir.slides.iter().filter(|o| o.status == SlideStatus::Resumed).count(), 0);
    assert_eq!(tissue_in_annotated_dir.total_patches, tissue.total_patches);

    // Labels from regions: the CN slide's region maps to IN; the conflict with the cohort is reported.
    let policy = AnnotationPolicy {
        region_labels: Some(RegionLabelMap::parse_spec("MM=MM,CN=IN").unwrap()),
        ..Default::default()
    };
    let labelled = run_patch_job(&job(&dir.join("labelled"), Some(policy)), &cohort).unwrap();
    let s1 = labelled.slides.iter().find(|o| o.slide_id == "S1").unwrap();
    assert_eq!(s1.label_conflicts.len(), 1, "{:?}", s1.label_conflicts);
    assert!(s1.label_conflicts[0].contains("is IN but the cohort labels the slide CN"), "{:?}", s1.label_conflicts);
    assert!(labelled.summary().contains("label conflict on S1"));
    let rows = read_manifest(&labelled.manifest).unwrap();
    assert!(rows.iter().filter(|r| r.slide_id == "S1").all(|r| r.label == "IN" && r.slide_label == "CN"));
    assert!(rows.iter().filter(|r| r.slide_id == "S0").all(|r| r.label == "MM" && r.slide_label == "MM"));
    std::fs::remove_dir_all(&dir).unwrap();
}
