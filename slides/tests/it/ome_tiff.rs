//! OME-TIFF slides: pyramids in SubIFDs and in top-level IFDs, stripped single images, µm/px
//! from the OME-XML in its units; the same pixels as the Aperio-layout copy of the scene that
//! OpenSlide reads; patched like any slide; damaged files refused by name.

use melanoscope_shared::Lesion;
use melanoscope_shared::image::RgbImage;
use melanoscope_shared::scratch::ScratchDir;
use melanoscope_slides::slide::{MagnificationPresets, Slide, SlideError, SpacingSource};
use melanoscope_synth::scene::Scene;
use melanoscope_synth::slide::{write_slide, write_slide_as};
use melanoscope_synth::tiff::{StrippedOme, TiffLayout, write_stripped_ome};

/// A `w`x`h` px melanoma region at 0.25 µm/px, as a camera's ROI export holds it.
fn melanoma_roi(w: u32, h: u32) -> RgbImage {
    let scene = Scene::new(Lesion::MM, 300.0, 200.0, 4, 0);
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            pixels.extend_from_slice(&scene.color((x as f32 + 0.5) * 0.25, (y as f32 + 0.5) * 0.25, 0.25));
        }
    }
    RgbImage::from_raw(w, h, pixels).unwrap()
}

#[test]
fn ome_pyramids_read_like_the_aperio_copy_of_the_same_scene() {
    let dir = ScratchDir::new("ome-pyramids");
    // 4,400 x 3,000 px at 0.25 µm/px: a two-level pyramid (4x), ragged edge tiles.
    let scene = Scene::new(Lesion::JN, 1100.0, 750.0, 9, 1);
    write_slide(&scene, 0.25, 40, &dir.join("aperio.tif")).unwrap();
    let reference = Slide::open(&dir.join("aperio.tif"), None).unwrap();
    for (layout, name) in [(TiffLayout::OmeSubIfds, "subifds.ome.tif"), (TiffLayout::OmeTopLevel, "toplevel.ome.tif")] {
        let path = dir.join(name);
        write_slide_as(&scene, 0.25, 40, &path, layout).unwrap();
        let slide = Slide::open(&path, None).unwrap();
        assert_eq!(slide.vendor(), "ome-tiff");
        assert_eq!(slide.spacing_source(), SpacingSource::Metadata);
        assert!((slide.native_um_per_px() - 0.25).abs() < 1e-9, "{slide:?}");
        assert_eq!(slide.levels().len(), reference.levels().len(), "{name}: {slide:?}");
        assert!(slide.levels().len() >= 2, "{name}: a pyramid expected: {slide:?}");
        for (level, l) in slide.levels().iter().enumerate() {
            let r = reference.levels()[level];
            assert_eq!((l.width, l.height), (r.width, r.height), "{name} level {level}");
            let ds = l.downsample;
            for (x, y, w, h) in
                [(0u64, 0u64, 256u32, 256u32), (300, 200, 300, 280), (l.width - 60, l.height - 40, 90, 70)]
            {
                let (x0, y0) = ((x as f64 * ds) as u64, (y as f64 * ds) as u64);
                let a = reference.read_rgb(level as u32, x0, y0, w, h).unwrap();
                let b = slide.read_rgb(level as u32, x0, y0, w, h).unwrap();
                assert!(a == b, "{name} level {level} at ({x}, {y}): pixels differ from OpenSlide's");
            }
        }
        // 10X and 4X read from the reduced level, as for any pyramid.
        let plan = slide.plan_level(MagnificationPresets::default().parse("4X").unwrap().um_per_px).unwrap();
        assert_eq!(plan.level, 1, "{name}: {plan:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stripped_ome_tiff_in_nanometres_is_read_whole_and_patched() {
    use melanoscope_shared::image::TissueTest;
    use melanoscope_slides::patching::{PatchParams, build_tissue_mask, patch_slide};
    let dir = ScratchDir::new("ome-stripped");
    let (w, h) = (1200u32, 800u32);
    let img = melanoma_roi(w, h);
    let path = dir.join("roi.ome.tiff");
    write_stripped_ome(&img, 0.25, "nm", &path).unwrap();
    let slide = Slide::open(&path, None).unwrap();
    assert!((slide.native_um_per_px() - 0.25).abs() < 1e-9, "250 nm is 0.25 µm: {slide:?}");
    assert_eq!(slide.levels().len(), 1);
    assert_eq!(slide.read_rgb(0, 0, 0, w, h).unwrap(), img);
    let outside = slide.read_rgb(0, u64::from(w) - 4, 0, 8, 2).unwrap();
    assert_eq!(outside.get(6, 0), Some([255, 255, 255]));
    let mask = build_tissue_mask(&slide, 8.0, &TissueTest::default()).unwrap();
    let params = PatchParams::study("40X", 0.25);
    let mut n = 0;
    patch_slide(&slide, &mask, None, &params, |_, _| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert!(n >= 4, "{n} patches from a tissue-filled 1200x800 ROI");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ome_tiffs_without_spacing_or_damaged_are_refused_by_name() {
    let dir = ScratchDir::new("ome-bad");
    let img = RgbImage::filled(300, 300, [200, 120, 170]).unwrap();
    let path = dir.join("roi.ome.tif");
    write_stripped_ome(&img, 0.5, "µm", &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    // No PhysicalSizeX/Y: refused unless the cohort gives µm/px.
    // Same length, so every offset stays right.
    let mut renamed = bytes.clone();
    for at in 0..renamed.len().saturating_sub(12) {
        if &renamed[at..at + 12] == b"PhysicalSize" {
            renamed[at + 11] = b'F';
        }
    }
    let no_size = dir.join("nosize.ome.tif");
    std::fs::write(&no_size, &renamed).unwrap();
    let err = Slide::open(&no_size, None).unwrap_err();
    let text = melanoscope_shared::errors::error_chain(&err);
    assert!(matches!(err, SlideError::NoSpacing { .. }) && text.contains("PhysicalSizeX"), "{text}");
    let slide = Slide::open(&no_size, Some(0.5)).unwrap();
    assert_eq!(slide.spacing_source(), SpacingSource::Override);
    // `patch --um-per-px` is a fallback: it fills in the missing spacing, and never replaces the
    // OME-XML's own (it did: a 0.5 µm/px slide patched as 0.25).
    let filled = Slide::open_with_fallback(&no_size, None, Some(0.25)).unwrap();
    assert!((filled.native_um_per_px() - 0.25).abs() < 1e-12);
    let kept = Slide::open_with_fallback(&path, None, Some(0.25)).unwrap();
    assert_eq!(kept.spacing_source(), SpacingSource::Metadata);
    assert!((kept.native_um_per_px() - 0.5).abs() < 1e-12, "{kept:?}");
    let cohort = Slide::open_with_fallback(&path, Some(0.3), Some(0.25)).unwrap();
    assert!((cohort.native_um_per_px() - 0.3).abs() < 1e-12, "the cohort's column still overrides");
    // A header claiming a strip two billion pixels wide: refused when opened, nothing reserved.
    let mut wide = bytes.clone();
    let ifd = u32::from_le_bytes(wide[4..8].try_into().unwrap()) as usize;
    let entries = u16::from_le_bytes(wide[ifd..ifd + 2].try_into().unwrap()) as usize;
    for e in 0..entries {
        let at = ifd + 2 + 12 * e;
        if u16::from_le_bytes(wide[at..at + 2].try_into().unwrap()) == 256 {
            wide[at + 8..at + 12].copy_from_slice(&2_000_000_000u32.to_le_bytes());
        }
    }
    let wide_path = dir.join("wide.ome.tif");
    std::fs::write(&wide_path, &wide).unwrap();
    let e = melanoscope_shared::errors::error_chain(&Slide::open(&wide_path, None).unwrap_err());
    assert!(e.contains("wide.ome.tif") && e.contains("decode to"), "{e}");
    // Truncated inside the pixels: opening may pass, reading names the file and the chunk.
    let cut = dir.join("cut.ome.tif");
    for len in [bytes.len() / 3, 120, 16] {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        match Slide::open(&cut, None) {
            Ok(s) => {
                let e = s.read_rgb(0, 0, 0, 300, 300).unwrap_err().to_string();
                assert!(e.contains("cut.ome.tif") && e.contains("chunk"), "{len}: {e}");
            }
            Err(e) => assert!(e.to_string().contains("cut.ome.tif"), "{len}: {e}"),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A stripped RGB OME-TIFF of `w`x`h` px in strips of `rows` rows, compressed with
/// `compression` (1 none, 5 LZW), whose every strip points at the one copy of `strip`.
fn crafted_ome(path: &std::path::Path, w: u32, h: u32, rows: u32, compression: u16, strip: &[u8]) {
    let layout = StrippedOme { width: w, height: h, rows_per_strip: rows, compression, um_per_px: 0.25, unit: "µm" };
    let strips = vec![(0, strip.len() as u32); h.div_ceil(rows) as usize];
    std::fs::write(path, layout.bytes(strip, &strips)).unwrap();
}

/// A header claiming an 8,000,000² px image (2 × 2 m at 0.25 µm/px), its 800,000 strips all
/// pointing at one byte, in a cohort between two good slides: the tissue mask it would need
/// (187 GB; the batch aborted allocating it) is refused by size, that slide fails by name and
/// the good slides are patched.
#[test]
fn a_header_bomb_fails_alone_in_its_batch() {
    use melanoscope_slides::cohort::load_cohort;
    use melanoscope_slides::patching::{PatchJob, SlideStatus, run_patch_job};
    let dir = ScratchDir::new("ome-header-bomb");
    let img = melanoma_roi(1200, 800);
    write_stripped_ome(&img, 0.25, "µm", &dir.join("good-a.ome.tif")).unwrap();
    write_stripped_ome(&img, 0.25, "µm", &dir.join("good-b.ome.tif")).unwrap();
    crafted_ome(&dir.join("bomb.ome.tif"), 8_000_000, 8_000_000, 10, 1, &[200]);
    std::fs::write(
        dir.join("cohort.csv"),
        "slide,slide_id,patient_id,label\ngood-a.ome.tif,A,P1,MM\nbomb.ome.tif,BOMB,P2,IN\ngood-b.ome.tif,B,P3,MM\n",
    )
    .unwrap();
    let cohort = load_cohort(&dir.join("cohort.csv")).unwrap();
    let job = PatchJob::new(dir.join("out"), MagnificationPresets::default().parse_list("40X").unwrap());
    let report = run_patch_job(&job, &cohort).unwrap();
    let by_id = |id: &str| report.slides.iter().find(|o| o.slide_id == id).unwrap();
    let bomb = by_id("BOMB");
    assert_eq!(bomb.status, SlideStatus::Failed);
    let why = bomb.error.as_deref().unwrap_or_default();
    assert!(why.contains("bomb.ome.tif") && why.contains("larger than any glass slide"), "{why}");
    for good in ["A", "B"] {
        assert_eq!(by_id(good).status, SlideStatus::Done, "{:?}", by_id(good));
        assert!(by_id(good).magnifications["40X"].kept >= 4);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// LZW strips that inflate far beyond their size (a few KB each to megabytes: a decompression
/// bomb) are decoded only up to the strip's pixels; and a file of strips near the chunk limit
/// keeps at most the cache's byte budget (64 such strips were 16 GiB). The pixels read are the
/// bomb's first bytes, and reading the whole level works strip by strip.
#[test]
fn lzw_bombs_and_huge_strips_stay_within_their_budgets() {
    let dir = ScratchDir::new("ome-lzw-bomb");
    // 4 MiB of one grey value, LZW-compressed to a few KB; the strip holds 64x16 px (3 KiB).
    let lzw =
        |bytes: &[u8]| weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8).encode(bytes).unwrap();
    let bomb = lzw(&vec![170u8; 4 << 20]);
    assert!(bomb.len() < 64 << 10, "{} bytes compressed", bomb.len());
    let path = dir.join("lzw-bomb.ome.tif");
    crafted_ome(&path, 64, 64, 16, 5, &bomb);
    let slide = Slide::open(&path, None).unwrap();
    let img = slide.read_rgb(0, 0, 0, 64, 64).unwrap();
    assert!(img.as_raw().iter().all(|&v| v == 170), "the strips' pixels are the bomb's first bytes");
    // Strips of 20 MiB decoded each (an uncompressed strip pointing at one short run of bytes
    // is refused as short; so: 20 MiB LZW strips of a few KB), 40 of them: read through, the
    // cache holding at most its budget.
    let strip = lzw(&vec![90u8; 20 << 20]);
    let path = dir.join("huge-strips.ome.tif");
    let width = (20 << 20) / 3 / 64; // 64 rows per strip, 20 MiB decoded
    crafted_ome(&path, width, 64 * 40, 64, 5, &strip);
    let slide = Slide::open(&path, None).unwrap();
    for s in 0..40u64 {
        let px = slide.read_rgb(0, 0, s * 64, 16, 1).unwrap();
        assert_eq!(px.get(0, 0), Some([90, 90, 90]), "strip {s}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
