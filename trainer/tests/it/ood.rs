//! `ood` end to end on the tiny model (its bundle carries familiarity statistics fitted on
//! rendered frames): test patches of synthetic slides against real H&E of another organ from
//! `../shared/data`, background tiles, and the test fields in other stains; a bundle without
//! statistics and an unreadable outside image are refused by name.

use crate::common;

use melanoscope_shared::Lesion;
use melanoscope_shared::formats::ModelFile;
use melanoscope_shared::image::Normalization;
use melanoscope_shared::stain::{StainMethod, fit_target};
use melanoscope_slides::manifest::ManifestWriter;
use melanoscope_slides::manifest::read_manifest;
use melanoscope_slides::slide::Magnification;
use melanoscope_slides::split::{Partition, PatientSplit};
use melanoscope_synth::frames::FrameOptics;
use melanoscope_synth::frames::lesion_centre;
use melanoscope_synth::scene::Scene;
use melanoscope_synth::slide::write_slide;
use melanoscope_tests::data_dir;
use melanoscope_tests::scenes::{FRAME_UM, MODEL_UM, frame};
use melanoscope_tests::tiny_model::fit_bundle;
use melanoscope_trainer::export::fields::read_fields;
use melanoscope_trainer::ood::{OodPlan, OutsideSet, run};
use melanoscope_trainer::train::task::{Task, task_samples};
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
    let bundle_bytes = fit_bundle(&mm, &nv, FRAME_UM, MODEL_UM);

    // Two test patients and two training patients (other sites), a slide each, patches around
    // their lesions.
    let manifest = dir.join("manifest.parquet");
    let mut writer = ManifestWriter::create(&manifest).unwrap();
    let mut assignments = BTreeMap::new();
    let patients =
        [(Lesion::MM, Partition::Test, 0), (Lesion::CN, Partition::Test, 0), (Lesion::MM, Partition::Train, 1)];
    for (i, (lesion, partition, site)) in patients.into_iter().enumerate() {
        let scene = Scene::new(lesion, 1600.0, 1200.0, 60 + i as u64, site);
        let path = dir.join(format!("s{i}.tif"));
        write_slide(&scene, MODEL_UM, 10, &path).unwrap();
        let (cx, cy) = lesion_centre(&scene).unwrap();
        let offsets = [(-200, -100), (0, 0), (150, 100), (-100, 150)];
        for row in common::patch_rows(&path, &format!("s{i}"), &format!("P{i}"), lesion, (cx, cy), &offsets) {
            writer.push(row).unwrap();
        }
        assignments.insert(format!("P{i}"), (partition, lesion));
    }
    writer.finish().unwrap();
    let split = dir.join("split.csv");
    PatientSplit { assignments }.save(&split).unwrap();
    // Its stain target fitted on the training patient's patches, as `export` fits it.
    let magnification = Magnification { name: "10X".into(), um_per_px: MODEL_UM };
    let rows = read_manifest(&manifest).unwrap();
    let split_table = PatientSplit::load(&split).unwrap();
    let train = task_samples(&rows, Task::MmVsNevi, &magnification.name, &split_table, Partition::Train);
    let train = read_fields(&train, 64, 256, Normalization::IMAGENET).unwrap();
    let mut file = ModelFile::decode(&bundle_bytes).unwrap();
    file.meta.stain = Some(fit_target(&train.rgb, StainMethod::Macenko).unwrap());
    std::fs::write(&bundle, file.encode().unwrap()).unwrap();

    let data = data_dir();
    let plan = OodPlan {
        bundle: bundle.clone(),
        manifest,
        split,
        magnification,
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
        stain_limits: melanoscope_shared::stain::StainLimits::default(),
        lab_style_fields: 6,
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
    // The familiarity score hardly tells PAS from H&E (magenta is close to eosin); the stain
    // check does, and the gate with it flags every PAS field (the demo's ResNet18: familiarity
    // AUROC 0.49, stain check 0.99).
    let pas = set("non-he-pas");
    assert!(pas.stain_auroc.unwrap() >= 0.95 && pas.gate_flagged.unwrap() >= 0.95, "{pas:?}");
    for s in ["non-he-ihc-dab", "non-he-trichrome", "ovary"] {
        assert!(set(s).stain_auroc.unwrap() >= 0.95 && set(s).gate_flagged.unwrap() >= 0.95, "{s}: {r:?}");
    }
    assert!(r.test_gate_pass.unwrap() <= r.test_pass && r.stain_limits.is_some(), "{r:?}");
    // Other labs' H&E: five styles (the test fields as read first), three ways each. The same
    // stains in other amounts pass the stain check (the gate passes what familiarity passes);
    // a faded slide's yellowed mountant turns its eosin past the limit.
    assert_eq!(r.lab_styles.len(), 15, "{:?}", r.lab_styles);
    for st in &r.lab_styles {
        assert_eq!(st.fields, 4, "{st:?}");
        match st.style.as_str() {
            "weak-haematoxylin" | "strong-eosin" => assert_eq!(st.gate_pass, Some(st.familiarity_pass), "{st:?}"),
            "faded" => assert_eq!(st.gate_pass, Some(0.0), "{st:?}"),
            _ => {}
        }
    }
    // Real H&E of another organ, normalised to the training stain: scored again each way.
    let methods: Vec<&str> = ovary.normalised_pass.iter().map(|m| m.method.as_str()).collect();
    assert_eq!(methods, ["reinhard", "macenko"], "{ovary:?}");
    assert!(set("glass").normalised_pass.is_empty(), "a set without tissue fields is not");
    let md = melanoscope_trainer::ood::to_markdown(&r);
    assert!(md.contains("| non-he-pas |") && md.contains("| faded | macenko |"), "{md}");
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
