//! The synthetic cohort through the whole data pipeline: generate, patch, split, and score the
//! colour-only baseline on the test patients.

use melanoscope_slides::cohort::load_cohort;
use melanoscope_slides::manifest::read_manifest;
use melanoscope_slides::patching::{PatchJob, run_patch_job};
use melanoscope_slides::slide::MagnificationPresets;
use melanoscope_slides::split::split_patients;
use melanoscope_synth::cohort::{SynthConfig, generate_cohort};
use melanoscope_trainer::experiment::colour_baseline::colour_only_baseline;

#[test]
fn synthetic_cohort_patches_splits_and_scores() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("synth-pipeline");
    let cfg = SynthConfig {
        out_dir: dir.join("cohort"),
        patients: 8,
        slides_per_patient: 1,
        width_um: 600.0,
        height_um: 450.0,
        um_per_px: 0.5,
        sites: 2,
        seed: 3,
        layout: melanoscope_synth::cohort::TiffLayout::Aperio,
    };
    let (csv, _) = generate_cohort(&cfg, |_| {}).unwrap();
    let cohort = load_cohort(&csv).unwrap();
    let job = PatchJob::new(dir.join("patches"), MagnificationPresets::default().parse_list("20X,10X").unwrap());
    let report = run_patch_job(&job, &cohort).unwrap();
    assert_eq!(report.failed, 0, "{}", report.summary());
    // A 40X request on a 20X (0.5 µm/px) synthetic scan is not made here; 20X and 10X both cut.
    let rows = read_manifest(&report.manifest).unwrap();
    for m in ["20X", "10X"] {
        assert!(rows.iter().filter(|r| r.magnification == m).count() >= 8, "{m}");
    }
    let split = split_patients(&cohort.slides, [0.5, 0.0, 0.5], 1).unwrap();
    let baseline = colour_only_baseline(&rows, &split, "20X").unwrap();
    assert!(baseline.train_patches > 0 && baseline.test_patches > 0);
    assert!((0.0..=1.0).contains(&baseline.mm_vs_nevi_auc));
    println!("{baseline:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
