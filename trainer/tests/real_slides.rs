//! Slide reading on the real slides of `../shared/data/slides`.

use melanoscope_tests::data_dir;
use melanoscope_trainer::slide::{MagnificationPresets, Slide, SlideError, SpacingSource, openslide_version};

#[test]
fn aperio_svs_serves_20x_10x_4x_and_refuses_40x() {
    let path = data_dir().join("slides/CMU-1-Small-Region.svs");
    let slide = Slide::open(&path, None).unwrap();
    assert_eq!(slide.spacing_source(), SpacingSource::Metadata);
    assert!((slide.native_um_per_px() - 0.499).abs() < 0.001, "{slide:?}");
    assert_eq!((slide.levels()[0].width, slide.levels()[0].height), (2220, 2967));
    let presets = MagnificationPresets::default();
    for name in ["20X", "10X", "4X"] {
        let m = presets.parse(name).unwrap();
        let plan = slide.plan_level(m.um_per_px).unwrap();
        assert_eq!(plan.level, 0);
        assert!((plan.scale - m.um_per_px / 0.499).abs() < 0.01, "{name}: {plan:?}");
    }
    let err = slide.plan_level(0.25).unwrap_err();
    assert!(matches!(err, SlideError::TooFine { .. }));
    let msg = err.to_string();
    assert!(msg.contains("0.25") && msg.contains("0.499"), "{msg}");
}

#[test]
fn svs_regions_read_as_rgb_tissue() {
    let slide = Slide::open(&data_dir().join("slides/CMU-1-Small-Region.svs"), None).unwrap();
    let region = slide.read_rgb(0, 1000, 1000, 256, 256).unwrap();
    assert_eq!((region.width(), region.height()), (256, 256));
    let mean: f64 = region.as_raw().iter().map(|v| f64::from(*v)).sum::<f64>() / region.as_raw().len() as f64;
    assert!(mean > 60.0 && mean < 245.0, "mean {mean}: expected stained tissue, not black or empty");
    // Reading beyond the slide gives white (glass), not garbage.
    let outside = slide.read_rgb(0, 5000, 5000, 8, 8).unwrap();
    assert!(outside.as_raw().iter().all(|v| *v == 255));
}

#[test]
fn dicom_behaves_as_the_linked_openslide_allows() {
    let version = openslide_version();
    let presets = MagnificationPresets::default();
    let dicoms = [
        "slides/cmu-1-small-region-dicom/level-0-frames-0-30.dcm",
        "slides/camelyon-lowres.dcm",
        "slides/prostate-no-spacing.dcm",
    ];
    for rel in dicoms {
        let path = data_dir().join(rel);
        let opened = Slide::open(&path, None);
        if !version.starts_with('4') {
            let msg = opened.unwrap_err().to_string();
            assert!(msg.contains("need OpenSlide 4.x") && msg.contains(&version), "{rel}: {msg}");
            continue;
        }
        match rel {
            r if r.contains("cmu-1") => {
                let slide = opened.unwrap();
                assert!(slide.plan_level(0.5).is_ok() && slide.plan_level(0.25).is_err());
            }
            r if r.contains("camelyon") => {
                let slide = opened.unwrap();
                for m in &presets.presets {
                    assert!(matches!(slide.plan_level(m.um_per_px), Err(SlideError::TooFine { .. })), "{m}");
                }
            }
            _ => assert!(opened.is_err(), "a DICOM without pixel spacing must be refused"),
        }
    }
}

#[test]
fn plain_images_need_an_explicit_spacing() {
    let path = data_dir().join("images/he-tumour-1000px.png");
    let err = Slide::open(&path, None).unwrap_err();
    assert!(matches!(err, SlideError::PlainImageNeedsSpacing { .. }), "{err}");
    let slide = Slide::open(&path, Some(0.5)).unwrap();
    assert_eq!(slide.spacing_source(), SpacingSource::Override);
    assert_eq!(slide.plan_level(1.0).unwrap().scale, 2.0);
    let corner = slide.read_rgb(0, 900, 900, 200, 200).unwrap();
    assert_eq!(corner.get(150, 150), Some([255, 255, 255]), "past the edge is white, like OpenSlide");
    assert_ne!(corner.get(10, 10), Some([255, 255, 255]));
    assert!(matches!(Slide::open(&path, Some(f64::NAN)), Err(SlideError::BadSpacing { .. })));
    assert!(matches!(Slide::open(&data_dir().join("nope.svs"), None), Err(SlideError::Missing { .. })));
}

#[test]
fn svs_patches_at_20x_10x_4x_keep_only_tissue_and_batched_reads_match_naive() {
    use melanoscope_shared::image::TissueTest;
    use melanoscope_trainer::patching::{PatchParams, build_tissue_mask, patch_slide, read_patch};
    let slide = Slide::open(&data_dir().join("slides/CMU-1-Small-Region.svs"), None).unwrap();
    let mask = build_tissue_mask(&slide, 8.0, &TissueTest::default()).unwrap();
    // 2220x2967 at 0.499 µm/px -> about 138x185 mask pixels at 8 µm/px.
    assert!(
        (mask.width as i64 - 138).abs() <= 1 && (mask.height as i64 - 185).abs() <= 1,
        "{}x{}",
        mask.width,
        mask.height
    );
    let tissue = mask.data.iter().filter(|v| **v > 0).count() as f64 / mask.data.len() as f64;
    assert!(tissue > 0.2 && tissue < 0.95, "mask tissue fraction {tissue}");
    let presets = MagnificationPresets::default();
    let mut kept_by_mag = Vec::new();
    for name in ["20X", "10X", "4X"] {
        let m = presets.parse(name).unwrap();
        let params = PatchParams::study(name, m.um_per_px);
        let mut pixels = 0usize;
        let mut first = None;
        let batched = patch_slide(&slide, &mask, None, &params, |rec, img| {
            assert_eq!((img.width(), img.height()), (256, 256));
            pixels += 1;
            first.get_or_insert_with(|| (rec.clone(), img.clone()));
            Ok(())
        })
        .unwrap();
        // Re-reading a patch from its manifest coordinates gives the same pixels.
        if let Some((rec, img)) = first {
            let again = read_patch(&slide, rec.requested_um_per_px, rec.x0, rec.y0, 256).unwrap();
            assert_eq!(again, img, "{name}: {rec:?}");
        }
        assert_eq!(pixels, batched.records.len());
        assert!(batched.records.iter().all(|r| r.background <= 0.40 && r.effective_um_per_px == m.um_per_px));
        let naive =
            patch_slide(&slide, &mask, None, &PatchParams { patches_per_read: 1, ..params }, |_, _| Ok(())).unwrap();
        assert_eq!(naive.records, batched.records, "{name}: batched reads must cut the same patches");
        assert!(naive.region_reads >= batched.region_reads);
        kept_by_mag.push((name, batched.records.len(), batched.grid_cells));
    }
    // 20X: 8x11 = 88 grid cells of 256 px; 10X: 4x5 = 20; 4X: 1x2 = 2.
    assert_eq!(kept_by_mag.iter().map(|k| k.2).collect::<Vec<_>>(), vec![88, 20, 2], "{kept_by_mag:?}");
    assert!(kept_by_mag[0].1 > 20, "{kept_by_mag:?}");
    println!("kept patches (magnification, kept, grid cells): {kept_by_mag:?}");
}
