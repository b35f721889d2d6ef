//! The synthetic slides and cohorts (`melanoscope-synth`) are what the trainer reads: OpenSlide
//! opens them with their µm/px and exact pixels, and the cohort loader accepts their CSV.

use melanoscope_shared::Lesion;
use melanoscope_shared::image::RgbImage;
use melanoscope_slides::cohort::load_cohort;
use melanoscope_slides::slide::Slide;
use melanoscope_synth::cohort::{SynthConfig, generate_cohort};
use melanoscope_synth::tiff::{TILE, TiffPyramidWriter};

#[test]
fn small_cohort_opens_in_openslide_with_truth_and_is_deterministic() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("synth");
    let cfg = SynthConfig {
        out_dir: dir.join("a"),
        patients: 4,
        slides_per_patient: 1,
        width_um: 700.0,
        height_um: 520.0,
        um_per_px: 0.5,
        sites: 2,
        seed: 9,
        layout: melanoscope_synth::cohort::TiffLayout::Aperio,
    };
    let (csv, slides) = generate_cohort(&cfg, |_| {}).unwrap();
    let cohort = load_cohort(&csv).unwrap();
    assert_eq!(cohort.slides.len(), 4);
    assert_eq!(cohort.slides.iter().map(|s| s.label).collect::<Vec<_>>(), Lesion::ALL.to_vec());
    for s in &slides {
        let slide = Slide::open(&s.slide, None).unwrap();
        assert_eq!(slide.spacing().x, 0.5);
        assert_eq!((slide.levels()[0].width, slide.levels()[0].height), (1400, 1040));
        let geo = std::fs::read_to_string(dir.join(format!("a/slides/{}.geojson", s.slide_id))).unwrap();
        assert!(geo.contains(&format!("\"name\": \"{}\"", s.label.code())));
        assert!(dir.join(format!("a/slides/{}.mask.png", s.slide_id)).exists());
    }
    let again = SynthConfig { out_dir: dir.join("b"), ..cfg };
    generate_cohort(&again, |_| {}).unwrap();
    for s in &slides {
        let name = format!("slides/{}.tif", s.slide_id);
        assert_eq!(
            std::fs::read(dir.join("a").join(&name)).unwrap(),
            std::fs::read(dir.join("b").join(&name)).unwrap()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn openslide_reads_back_the_exact_pixels_and_mpp() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("tiff");
    let path = dir.join("synthetic.tif");
    let (w, h) = (700u32, 528u32); // divisible by 4, so level 1 has an exact downsample
    let pixel = |x: u32, y: u32| [(x % 251) as u8, (y % 241) as u8, ((x + y) % 200) as u8];
    let mut writer = TiffPyramidWriter::create(&path, (w, h), 0.25, 40).unwrap();
    let levels = [(w, h, 1u32), (w / 4, h / 4, 4)].map(|(lw, lh, ds)| (writer.add_level(lw, lh), lw, lh, ds));
    // Level 1 first: tiles may arrive in any order.
    for (level, lw, lh, ds) in levels.into_iter().rev() {
        for r in (0..lh.div_ceil(TILE)).rev() {
            let rows = TILE.min(lh - r * TILE);
            let mut img = RgbImage::filled(lw, rows, [0; 3]).unwrap();
            for y in 0..rows {
                for x in 0..lw {
                    img.put(x, y, pixel(x * ds, (r * TILE + y) * ds));
                }
            }
            writer.write_tile_row(level, r, &img).unwrap();
        }
    }
    writer.finish().unwrap();
    let slide = Slide::open(&path, None).unwrap();
    assert_eq!(slide.spacing().x, 0.25);
    assert_eq!(slide.levels().len(), 2);
    assert_eq!((slide.levels()[1].width, slide.levels()[1].height), (175, 132));
    let region = slide.read_rgb(0, 250, 300, 300, 200).unwrap();
    for (x, y) in [(0, 0), (299, 199), (5, 150), (260, 10)] {
        assert_eq!(region.get(x, y), Some(pixel(250 + x, 300 + y)), "at {x},{y}");
    }
    let small = slide.read_rgb(1, 400, 400, 10, 10).unwrap();
    assert_eq!(small.get(0, 0), Some(pixel(400, 400)));
    std::fs::remove_dir_all(&dir).unwrap();
}
