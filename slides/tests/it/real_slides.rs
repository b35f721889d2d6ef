//! Slide reading on the real slides of `../shared/data/slides`.

use melanoscope_slides::slide::{MagnificationPresets, Slide, SlideError, SpacingSource, openslide_version};
use melanoscope_tests::data_dir;

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
fn dicom_slides_open_with_the_openslide_4_that_setup_installs() {
    // scripts/setup.sh installs OpenSlide 4 (openslide-bin) and scripts/env.sh links it: a
    // trainer built against Debian's 3.4.1 would refuse every DICOM slide.
    let version = openslide_version();
    assert!(
        version.starts_with('4'),
        "the trainer links OpenSlide {version}; run scripts/setup.sh and build with scripts/env.sh sourced"
    );
    let presets = MagnificationPresets::default();
    let cmu = Slide::open(&data_dir().join("slides/cmu-1-small-region-dicom/level-0-frames-0-30.dcm"), None).unwrap();
    assert_eq!(cmu.spacing_source(), SpacingSource::Metadata);
    assert!(cmu.plan_level(0.5).is_ok() && matches!(cmu.plan_level(0.25), Err(SlideError::TooFine { .. })));
    let camelyon = Slide::open(&data_dir().join("slides/camelyon-lowres.dcm"), None).unwrap();
    for m in &presets.presets {
        assert!(matches!(camelyon.plan_level(m.um_per_px), Err(SlideError::TooFine { .. })), "{m}");
    }
    // No pixel spacing and no image type: OpenSlide 4 refuses it, and the message names it.
    let err = Slide::open(&data_dir().join("slides/prostate-no-spacing.dcm"), None).unwrap_err();
    assert!(
        matches!(err, SlideError::Unsupported { .. }) && err.to_string().contains("prostate-no-spacing.dcm"),
        "{err}"
    );
}

#[test]
fn the_dicom_conversion_of_the_svs_patches_like_the_svs() {
    use melanoscope_shared::image::TissueTest;
    use melanoscope_slides::patching::{PatchParams, build_tissue_mask, patch_slide};
    let svs = Slide::open(&data_dir().join("slides/CMU-1-Small-Region.svs"), None).unwrap();
    let dcm = Slide::open(&data_dir().join("slides/cmu-1-small-region-dicom/level-0-frames-0-30.dcm"), None).unwrap();
    assert_eq!((dcm.levels()[0].width, dcm.levels()[0].height), (svs.levels()[0].width, svs.levels()[0].height));
    assert!((dcm.native_um_per_px() - svs.native_um_per_px()).abs() < 0.002, "{dcm:?} vs {svs:?}");
    // Its frames are YCbCr JPEG labelled RGB: converted, so glass is white again.
    assert!(dcm.colour_correction().is_some() && svs.colour_correction().is_none());
    let glass = dcm.read_rgb(0, 2000, 2900, 4, 4).unwrap();
    assert!(glass.as_raw().iter().all(|v| *v > 230), "{:?}", &glass.as_raw()[..6]);
    let m = MagnificationPresets::default().parse("20X").unwrap();
    let params = PatchParams::study("20X", m.um_per_px);
    let patches = |slide: &Slide| {
        let mask = build_tissue_mask(slide, 8.0, &TissueTest::default()).unwrap();
        let mut out = Vec::new();
        patch_slide(slide, &mask, None, &params, |rec, img| {
            out.push(((rec.x0, rec.y0), img.clone()));
            Ok(())
        })
        .unwrap();
        out
    };
    let (from_svs, from_dcm) = (patches(&svs), patches(&dcm));
    assert!(from_svs.len() > 20, "{}", from_svs.len());
    // Re-encoded tiles move a few borderline patches across the 40% background rule at most.
    let diff = from_svs.len().abs_diff(from_dcm.len());
    assert!(diff * 10 <= from_svs.len(), "SVS {} patches, DICOM {}", from_svs.len(), from_dcm.len());
    // Where both kept a patch, the pixels are the same tissue (only re-compression noise).
    let mut compared = 0;
    for (at, a) in &from_svs {
        let Some((_, b)) = from_dcm.iter().find(|(p, _)| p == at) else { continue };
        let mad: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>()
            / a.as_raw().len() as f64;
        assert!(mad < 8.0, "patch at {at:?}: mean absolute difference {mad}");
        compared += 1;
    }
    assert!(compared * 10 >= from_svs.len() * 9, "only {compared} patches at the same places");
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
    use melanoscope_slides::patching::{PatchParams, build_tissue_mask, patch_slide, read_patch};
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
