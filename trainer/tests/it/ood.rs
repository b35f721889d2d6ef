//! `ood` end to end on the tiny model (its bundle carries familiarity statistics fitted on
//! rendered frames): test patches of synthetic slides against real H&E of another organ from
//! `../shared/data`, background tiles, and the test fields in other stains; a bundle without
//! statistics and an unreadable outside image are refused by name.

use crate::common;

use melanoscope_shared::Lesion;
use melanoscope_shared::formats::ModelFile;
use melanoscope_slides::manifest::ManifestWriter;
use melanoscope_slides::slide::Magnification;
use melanoscope_slides::split::{Partition, PatientSplit};
use melanoscope_synth::frames::FrameOptics;
use melanoscope_synth::frames::lesion_centre;
use melanoscope_synth::scene::Scene;
use melanoscope_synth::slide::write_slide;
use melanoscope_tests::data_dir;
use melanoscope_tests::scenes::{FRAME_UM, MODEL_UM, frame};
use melanoscope_tests::tiny_model::fit_bundle;
use melanoscope_trainer::ood::{OodPlan, OutsideSet, run};
use std::collections::BTreeMap;

#[test]
fn the_familiarity_score_separates_other_organs_stains_and_glass_from_test_patches() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("ood");
    // Fitted on views as a slide scanner gives them (no camera's colour cast or vignetting):
    // the test patches below are read from slides.
    let clean = FrameOptics { vignetting: 0.0, blur_px: 0.0, colour_cast: [1.0; 3], jpeg_quality: 95 };
    let mm: Vec<_> = [11, 12, 16, 17].map(|s| frame(Lesion::MM, s, &clean)).to_vec();
    let nv: Vec<_> = [(Lesion::IN, 13), (Lesion::CN, 14), (Lesion::JN, 15), (Lesion::IN, 18), (Lesion::CN, 19)]
        .map(|(l, s)| frame(l, s, &clean))
        .to_vec();
    let bundle = dir.join("tiny.mscm");
    std::fs::write(&bundle, fit_bundle(&mm, &nv, FRAME_UM, MODEL_UM)).unwrap();

    // Two test patients, a slide each, patches around their lesions.
    let manifest = dir.join("manifest.parquet");
    let mut writer = ManifestWriter::create(&manifest).unwrap();
    let mut assignments = BTreeMap::new();
    for (i, lesion) in [Lesion::MM, Lesion::CN].into_iter().enumerate() {
        let scene = Scene::new(lesion, 1600.0, 1200.0, 60 + i as u64, 0);
        let path = dir.join(format!("s{i}.tif"));
        write_slide(&scene, MODEL_UM, 10, &path).unwrap();
        let (cx, cy) = lesion_centre(&scene).unwrap();
        let offsets = [(-200, -100), (0, 0), (150, 100), (-100, 150)];
        for row in common::patch_rows(&path, &format!("s{i}"), &format!("P{i}"), lesion, (cx, cy), &offsets) {
            writer.push(row).unwrap();
        }
        assignments.insert(format!("P{i}"), (Partition::Test, lesion));
    }
    writer.finish().unwrap();
    let split = dir.join("split.csv");
    PatientSplit { assignments }.save(&split).unwrap();

    let data = data_dir();
    let plan = OodPlan {
        bundle: bundle.clone(),
        manifest,
        split,
        magnification: Magnification { name: "10X".into(), um_per_px: MODEL_UM },
        fields: 64,
        outside: vec![
            OutsideSet { name: "ovary".into(), paths: vec![data.join("images/hgsc_nest.jpg")], um_per_px: None },
            // The same image said to be at half the model's µm/px: resampled (halved) first.
            OutsideSet {
                name: "ovary-finer".into(),
                paths: vec![data.join("images/hgsc_nest.jpg")],
                um_per_px: Some(MODEL_UM / 2.0),
            },
            OutsideSet {
                name: "glass".into(),
                paths: vec![data.join("tiles/no-tissue.png"), data.join("tiles/almost-white-1.png")],
                um_per_px: None,
            },
        ],
        per_image: 8,
        restained: true,
        cameras: 0,
    };
    let r = run(&plan).unwrap();
    assert!((6..=8).contains(&r.test_fields), "up to 8 patches, spread: {r:?}");
    assert!(r.test_pass >= 0.5, "the test patches are mostly familiar: {r:?}");
    let set = |name: &str| r.sets.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("{name}: {r:?}"));
    let ovary = set("ovary");
    assert!(ovary.tissue_fields_only && ovary.fields >= 4, "{ovary:?}");
    // Three features (nuclear darkness, brightness, hue) tell the ovarian carcinoma's nests
    // from skin but not all of its stroma: above the test patches, not cleanly apart.
    assert!(ovary.auroc > 0.5 && ovary.median_score > r.test_median_score, "another organ's H&E: {r:?}");
    let glass = set("glass");
    assert!(!glass.tissue_fields_only && glass.auroc >= 0.95, "glass is scored unfiltered: {glass:?}");
    // The tiny model sees hue: DAB brown and aniline blue are far from eosin.
    assert!(set("non-he-ihc-dab").auroc >= 0.95 && set("non-he-trichrome").auroc >= 0.95, "{r:?}");
    assert_eq!(r.sets.len(), 6);
    // Scored at the model's scale, not its own pixel size: other fields, other scores.
    let finer = set("ovary-finer");
    assert!(finer.median_score != ovary.median_score, "resampled before scoring: {finer:?} vs {ovary:?}");

    // An outside image that does not read is named.
    let missing = OodPlan {
        outside: vec![OutsideSet { name: "gone".into(), paths: vec![dir.join("nowhere.png")], um_per_px: None }],
        restained: false,
        ..plan.clone()
    };
    let e = run(&missing).unwrap_err().to_string();
    assert!(e.contains("outside set gone") && e.contains("nowhere.png"), "{e}");
    // A signed bundle is measured without trusted keys (nothing is screened); one changed after
    // signing is refused.
    let mut file = ModelFile::decode(&std::fs::read(&bundle).unwrap()).unwrap();
    file.sign(&[7; 32]).unwrap();
    std::fs::write(dir.join("signed.mscm"), file.encode().unwrap()).unwrap();
    let quick = OodPlan { outside: Vec::new(), restained: false, ..plan.clone() };
    assert!(run(&OodPlan { bundle: dir.join("signed.mscm"), ..quick.clone() }).is_ok());
    file.meta.familiarity.as_mut().unwrap().threshold *= 10.0;
    std::fs::write(dir.join("forged.mscm"), file.encode().unwrap()).unwrap();
    let e = run(&OodPlan { bundle: dir.join("forged.mscm"), ..quick }).unwrap_err().to_string();
    assert!(e.contains("forged.mscm") && e.contains("does not match the contents"), "{e}");
    // A bundle without statistics is refused, naming the export option.
    let mut file = ModelFile::decode(&std::fs::read(&bundle).unwrap()).unwrap();
    file.meta.familiarity = None;
    std::fs::write(dir.join("old.mscm"), file.encode().unwrap()).unwrap();
    let e = run(&OodPlan { bundle: dir.join("old.mscm"), ..plan }).unwrap_err().to_string();
    assert!(e.contains("old.mscm") && e.contains("--familiarity-fields"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
