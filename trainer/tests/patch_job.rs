//! Patching a small cohort of real slides end to end: bad slides are reported, the rest
//! complete, the manifest holds every kept patch, and a second run resumes.

use melanoscope_tests::data_dir;
use melanoscope_trainer::cohort::load_cohort;
use melanoscope_trainer::manifest::read_manifest;
use melanoscope_trainer::patching::{PatchImageFormat, PatchJob, SlideStatus, run_patch_job};
use melanoscope_trainer::slide::MagnificationPresets;

#[test]
fn cohort_run_reports_bad_slides_completes_the_rest_and_resumes() {
    let data = data_dir();
    let dir = std::env::temp_dir().join(format!("msc-patch-job-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A truncated copy of the SVS: a corrupt slide in the middle of the cohort.
    let svs = data.join("slides/CMU-1-Small-Region.svs");
    let bytes = std::fs::read(&svs).unwrap();
    std::fs::write(dir.join("truncated.svs"), &bytes[..bytes.len() / 3]).unwrap();
    let csv = format!(
        "slide,slide_id,patient_id,label,site,um_per_px\n\
         {svs},cmu,P1,MM,pittsburgh,\n\
         truncated.svs,broken,P2,IN,,\n\
         {dcm},camelyon,P3,CN,,\n\
         {png},tumour-png,P4,JN,,0.25\n",
        svs = svs.display(),
        dcm = data.join("slides/camelyon-lowres.dcm").display(),
        png = data.join("images/he-tumour-1000px.png").display(),
    );
    std::fs::write(dir.join("cohort.csv"), csv).unwrap();
    let cohort = load_cohort(&dir.join("cohort.csv")).unwrap();
    let job = PatchJob {
        export_images: Some(PatchImageFormat::Png),
        ..PatchJob::new(dir.join("out"), MagnificationPresets::default().parse_list("all").unwrap())
    };
    let report = run_patch_job(&job, &cohort).unwrap();
    println!("{}", report.summary());
    let by_id = |id: &str| report.slides.iter().find(|o| o.slide_id == id).unwrap();
    assert_eq!(by_id("cmu").status, SlideStatus::Done);
    assert!(by_id("cmu").magnifications["40X"].refused.as_deref().unwrap().contains("0.499"));
    assert!(by_id("cmu").magnifications["20X"].kept > 20);
    assert_eq!(by_id("broken").status, SlideStatus::Failed);
    assert!(by_id("broken").error.as_deref().unwrap().contains("truncated.svs"), "{:?}", by_id("broken").error);
    assert_eq!(by_id("camelyon").status, SlideStatus::Failed);
    assert_eq!(by_id("tumour-png").status, SlideStatus::Done);
    assert!(by_id("tumour-png").magnifications["40X"].kept >= 4, "{:?}", by_id("tumour-png"));
    assert_eq!(report.failed, 2);
    let rows = read_manifest(&report.manifest).unwrap();
    assert_eq!(rows.len() as u64, report.total_patches);
    let kept: usize = report.slides.iter().flat_map(|o| o.magnifications.values()).map(|c| c.kept).sum();
    assert_eq!(rows.len(), kept);
    assert!(rows.iter().all(|r| r.background_fraction <= 0.40));
    assert!(rows.iter().any(|r| r.slide_id == "cmu" && r.label == "MM" && r.site.as_deref() == Some("pittsburgh")));
    assert!(job.out_dir.join("slides/cmu/qc.png").exists());
    let exported = std::fs::read_dir(job.out_dir.join("patches/20X/MM")).unwrap().count();
    assert_eq!(exported, by_id("cmu").magnifications["20X"].kept);
    let report_json = std::fs::read_to_string(job.out_dir.join("report.json")).unwrap();
    assert!(report_json.contains("\"failed\": 2"));

    // Second run: finished slides are not redone, failed ones are retried (and fail again).
    let again = run_patch_job(&job, &cohort).unwrap();
    assert_eq!(again.slides.iter().filter(|o| o.status == SlideStatus::Resumed).count(), 2);
    assert_eq!(again.total_patches, report.total_patches);

    // A per-slide time limit that every slide passes: each fails, naming the limit and the
    // stage it was at, and the batch still finishes with its report.
    let limited = PatchJob {
        slide_time_limit: Some(std::time::Duration::ZERO),
        ..PatchJob::new(dir.join("out-limited"), MagnificationPresets::default().parse_list("20X").unwrap())
    };
    let report = run_patch_job(&limited, &cohort).unwrap();
    assert_eq!(report.failed, 4);
    for id in ["cmu", "tumour-png"] {
        let e = report.slides.iter().find(|o| o.slide_id == id).unwrap().error.clone().unwrap();
        assert!(e.contains("per-slide limit of 0 s") && e.contains("--slide-time-limit"), "{id}: {e}");
    }
    assert!(limited.out_dir.join("report.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
