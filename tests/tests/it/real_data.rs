//! The shared preprocessing on real H&E data from `../shared/data`.

use melanoscope_edge::fields::field_report;
use melanoscope_shared::image::{FieldRect, TissueTest, background_fraction, load_rgb};
use melanoscope_tests::data_dir;

/// A tile is called tissue when at least this fraction of its pixels are tissue.
const TILE_TISSUE_FRACTION: f32 = 0.10;

#[test]
fn tissue_test_sorts_labelled_tcga_tiles() {
    let dir = data_dir().join("tiles");
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let (mut agree, mut total) = (0, 0);
    let mut misses = Vec::new();
    for path in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "png")) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let background_label = name.starts_with("no-tissue") || name.starts_with("almost-white");
        let img = load_rgb(path).unwrap();
        let side = img.width().min(img.height());
        let bg = background_fraction(&img, FieldRect::square(0, 0, side), &TissueTest::default()).unwrap();
        let called_tissue = 1.0 - bg >= TILE_TISSUE_FRACTION;
        total += 1;
        if called_tissue != background_label {
            agree += 1;
        } else {
            misses.push(format!("{name}: tissue fraction {:.3}", 1.0 - bg));
        }
    }
    assert_eq!(total, 25, "expected the 25 labelled tiles in {}", dir.display());
    let agreement = agree as f64 / total as f64;
    println!("tissue test agreement on labelled tiles: {agree}/{total} = {agreement:.3}; misses: {misses:?}");
    assert!(agreement >= 0.9, "agreement {agreement:.3} below 0.90; misses: {misses:?}");
}

#[test]
fn green_ink_is_not_tissue() {
    let img = load_rgb(&data_dir().join("tiles/no-tissue-green-pen.png")).unwrap();
    let bg = background_fraction(&img, FieldRect::square(0, 0, 512), &TissueTest::default()).unwrap();
    assert!(bg > 0.95, "green marker counted as tissue: background {bg}");
}

#[test]
fn real_photomicrograph_gives_kept_fields() {
    // A 1000 px H&E tile taken as a 0.5 µm/px frame: 500x500 at 1 µm/px, one centred field.
    let img = load_rgb(&data_dir().join("images/he-tumour-1000px.png")).unwrap();
    let (report, qc) = field_report(&img, 0.5, 1.0).unwrap();
    assert_eq!((report.resampled_width, report.resampled_height), (500, 500));
    assert_eq!(report.fields.len(), 1);
    assert_eq!(report.kept, 1, "{:?}", report.fields);
    assert_eq!(qc.width(), 500);
    // The same frame cannot serve a 40X model.
    assert!(field_report(&img, 0.5, 0.25).is_err());
}
