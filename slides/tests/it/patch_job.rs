//! Patching a small cohort of real slides end to end: bad slides are reported, the rest
//! complete, the manifest holds every kept patch, and a second run resumes.

use melanoscope_slides::cohort::load_cohort;
use melanoscope_slides::manifest::read_manifest;
use melanoscope_slides::patching::{PatchImageFormat, PatchJob, SlideStatus, run_patch_job};
use melanoscope_slides::slide::MagnificationPresets;
use melanoscope_tests::data_dir;

#[test]
fn cohort_run_reports_bad_slides_completes_the_rest_and_resumes() {
    let data = data_dir();
    let dir = melanoscope_shared::scratch::ScratchDir::new("patch-job");
    // A truncated copy of the SVS: a corrupt slide in the middle of the cohort.
    let svs = data.join("slides/CMU-1-Small-Region.svs");
    let bytes = std::fs::read(&svs).unwrap();
    std::fs::write(dir.join("truncated.svs"), &bytes[..bytes.len() / 3]).unwrap();
    let csv = format!(
        "slide,slide_id,patient_id,label,site,um_per_px\n\
         {svs},cmu,P1,MM,pittsburgh,\n\
         truncated.svs,broken,P2,IN,,\n\
         {dcm},camelyon,P3,CN,,\n\
         {png},tumour-png,P4,JN,,0.25\n\
         missing.svs,gone,P5,MM,,\n\
         ,,P6,BCC,,-2\n\
         {small},small-jpg,P7,IN,,0.25\n",
        small = data.join("images/he-small-500x300.jpg").display(),
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
    // OpenSlide 4 opens the DICOM; at 29 µm/px every magnification is refused, by name.
    assert_eq!(by_id("camelyon").status, SlideStatus::Done);
    assert!(by_id("camelyon").magnifications.values().all(|c| c.refused.as_deref().unwrap().contains("28.9")));
    assert_eq!(by_id("tumour-png").status, SlideStatus::Done);
    assert!(by_id("tumour-png").magnifications["40X"].kept >= 4, "{:?}", by_id("tumour-png"));
    // A missing slide file and a bad row fail as slides of their own; every problem is named.
    assert_eq!(by_id("gone").status, SlideStatus::Failed);
    assert!(by_id("gone").error.as_deref().unwrap().contains("missing.svs does not exist"));
    let bad_row = by_id("line-7").error.clone().unwrap();
    for needle in ["cohort line 7", "slide is empty", "slide_id is empty", "unknown label \"BCC\"", "um_per_px \"-2\""]
    {
        assert!(bad_row.contains(needle), "{needle}: {bad_row}");
    }
    // 500x300 px at 0.25 µm/px is 125x75 px at 10X: refused as smaller than a patch, not 0 silently.
    let small = by_id("small-jpg");
    assert_eq!(small.magnifications["40X"].refused, None);
    for m in ["10X", "4X"] {
        let why = small.magnifications[m].refused.as_deref().unwrap_or_default();
        assert!(why.contains("smaller than one 256x256 patch") && why.contains("500x300"), "{m}: {why}");
    }
    assert_eq!(report.failed, 3);
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
    assert!(report_json.contains("\"failed\": 3"));

    // A slide done by an earlier version, whose patches name the slide relative to the folder
    // that run was started in: resumed, and the merged manifest names the file that exists.
    {
        use melanoscope_slides::manifest::{ManifestRow, ManifestWriter};
        let per_slide = job.out_dir.join("slides/cmu/patches.parquet");
        let old: Vec<ManifestRow> = read_manifest(&per_slide).unwrap();
        let mut w = ManifestWriter::create(&per_slide).unwrap();
        for r in old {
            w.push(ManifestRow { slide: "some/run/folder/CMU-1-Small-Region.svs".into(), ..r }).unwrap();
        }
        w.finish().unwrap();
    }
    // Second run: finished slides are not redone, failed ones are retried (and fail again).
    let again = run_patch_job(&job, &cohort).unwrap();
    let merged = read_manifest(&again.manifest).unwrap();
    assert!(merged.iter().filter(|r| r.slide_id == "cmu").all(|r| std::path::Path::new(&r.slide) == svs.as_path()));
    assert_eq!(again.slides.iter().filter(|o| o.status == SlideStatus::Resumed).count(), 4);
    assert_eq!(again.total_patches, report.total_patches);

    // A per-slide time limit that every slide passes: each fails, naming the limit and the
    // stage it was at, and the batch still finishes with its report.
    let limited = PatchJob {
        slide_time_limit: Some(std::time::Duration::ZERO),
        ..PatchJob::new(dir.join("out-limited"), MagnificationPresets::default().parse_list("20X").unwrap())
    };
    let report = run_patch_job(&limited, &cohort).unwrap();
    assert_eq!(report.failed, report.slides.len());
    for id in ["cmu", "tumour-png"] {
        let e = report.slides.iter().find(|o| o.slide_id == id).unwrap().error.clone().unwrap();
        assert!(e.contains("per-slide limit of 0 s") && e.contains("--slide-time-limit"), "{id}: {e}");
    }
    assert!(limited.out_dir.join("report.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The command's exit status tells a script how the batch went: 0 all patched, 3 some failed,
/// 4 every slide failed.
#[test]
fn patch_exit_status_says_whether_some_or_all_slides_failed() {
    let data = data_dir();
    let dir = melanoscope_shared::scratch::ScratchDir::new("patch-exit");
    let png = data.join("images/he-tumour-1000px.png");
    let run = |rows: &str, name: &str| {
        let csv = dir.join(format!("{name}.csv"));
        std::fs::write(&csv, format!("slide,slide_id,patient_id,label,um_per_px\n{rows}")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_melanoscope-slides"))
            .args(["patch", "--magnifications", "20X", "--threads", "1", "--cohort"])
            .arg(&csv)
            .arg("--out")
            .arg(dir.join(name))
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let good = format!("{},ok,P1,MM,0.25\n", png.display());
    let (code, text) = run(&good, "all-good");
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(&format!("{good}nope.svs,gone,P2,IN,\n"), "some-bad");
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("FAILED gone") && text.contains("1 of 2 slides failed"), "{text}");
    let (code, text) = run("nope.svs,gone,P2,IN,\nnope2.svs,gone2,P3,XX,\n", "all-bad");
    assert_eq!(code, Some(4), "{text}");
    assert!(text.contains("every slide failed"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A slide of unstained (grey) tissue and a slide smaller than a patch: both finish with no
/// patch, and the summary and the report say why (before: a count of 0 and nothing else).
#[test]
fn zero_patches_are_explained_in_the_summary_and_the_report() {
    use melanoscope_shared::image::{RgbImage, save_rgb};
    let dir = melanoscope_shared::scratch::ScratchDir::new("patch-none");
    let mut grey = RgbImage::filled(1200, 800, [236, 236, 238]).unwrap();
    for y in 100..700 {
        for x in 100..1100 {
            // Cells of an unstained section: contrast, no H&E colour.
            let v = if (x / 9 + y / 7) % 5 == 0 { 120 } else { 170 };
            grey.put(x, y, [v, v, v + 4]);
        }
    }
    save_rgb(&dir.join("unstained.png"), &grey).unwrap();
    // The same with a speck of stain: the mask finds tissue, every patch is refused.
    let mut speck = grey.clone();
    for y in 300..330 {
        for x in 300..330 {
            speck.put(x, y, [190, 90, 170]);
        }
    }
    save_rgb(&dir.join("speck.png"), &speck).unwrap();
    save_rgb(&dir.join("tiny.png"), &RgbImage::filled(100, 80, [200, 100, 170]).unwrap()).unwrap();
    let csv = "slide,slide_id,patient_id,label,um_per_px\nunstained.png,U1,P1,MM,0.5\ntiny.png,T1,P2,IN,0.5\n\
               speck.png,S1,P3,CN,0.5\n";
    std::fs::write(dir.join("cohort.csv"), csv).unwrap();
    let cohort = load_cohort(&dir.join("cohort.csv")).unwrap();
    let job = PatchJob::new(dir.join("out"), MagnificationPresets::default().parse_list("20X").unwrap());
    let report = run_patch_job(&job, &cohort).unwrap();
    let summary = report.summary();
    assert!(summary.contains("FAILED U1: empty tissue mask") && summary.contains("IHC"), "{summary}");
    assert!(summary.contains("no patches from S1 at 20X: the tissue mask ruled out all 12 cells"), "{summary}");
    assert!(
        summary.contains("T1") && (summary.contains("smaller than one patch") || summary.contains("refused T1")),
        "{summary}"
    );
    let json = std::fs::read_to_string(dir.join("out/report.json")).unwrap();
    assert!(json.contains("\"no_patches\"") && json.contains("the tissue mask ruled out all"), "{json}");
}
