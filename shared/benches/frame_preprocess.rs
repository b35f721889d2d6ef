//! Per-frame preprocessing of the edge: a 2592×1944 camera frame at 0.5 µm/px resampled to
//! 1.0 µm/px, cut into 256×256 fields, background fractions and input tensors computed.
//! `make bench-preprocess` turns the mean into the share of one core left at 5 frames/s.

use criterion::{Criterion, criterion_group, criterion_main};
use melanoscope_shared::image::{PixelSpacing, RgbImage};
use melanoscope_shared::pipeline::{ExtractConfig, FieldExtractor};
use melanoscope_shared::rng::SplitMix64;
use std::hint::black_box;

/// A frame that is two-thirds stained tissue (purple nuclei on pink stroma) and one-third glass,
/// so the tissue test, the 40% rule and the tensor writer all do real work.
fn camera_frame(w: u32, h: u32) -> RgbImage {
    let mut rng = SplitMix64::new(5);
    let mut img = RgbImage::filled(w, h, [236, 234, 240]).unwrap();
    for y in 0..h {
        for x in 0..(w * 2 / 3) {
            let noise = (rng.next_u64() % 24) as u8;
            let nucleus = ((x / 7) * 31 + (y / 7) * 17) % 11 == 0;
            let px =
                if nucleus { [90 + noise, 50 + noise, 140 + noise] } else { [210 + noise, 130 + noise, 180 + noise] };
            img.put(x, y, px);
        }
    }
    img
}

fn bench(c: &mut Criterion) {
    let frame = camera_frame(2592, 1944);
    let spacing = PixelSpacing::isotropic(0.5).unwrap();
    let mut extractor = FieldExtractor::new(ExtractConfig::study(1.0)).unwrap();
    let kept = extractor.process(&frame, spacing).unwrap().kept_count();
    assert!(kept > 0);
    c.bench_function("preprocess_2592x1944_0.5_to_1.0_um", |b| {
        b.iter(|| {
            let out = extractor.process(black_box(&frame), spacing).unwrap();
            black_box(out.tensors.len())
        })
    });
    // Baseline for the ratio: one copy of the raw frame (memory traffic of touching it once).
    c.bench_function("baseline_copy_2592x1944_frame", |b| b.iter(|| black_box(black_box(&frame).clone())));
}

criterion_group!(benches, bench);
criterion_main!(benches);
