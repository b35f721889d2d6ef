//! Per-frame preprocessing of the edge: a 2592×1944 camera frame at 0.5 µm/px resampled to
//! 1.0 µm/px, cut into 256×256 fields, background fractions and input tensors computed.
//! `make bench-preprocess` turns the mean into the share of one core left at 5 frames/s.

mod common;

use common::camera_frame;
use criterion::{Criterion, criterion_group, criterion_main};
use melanoscope_shared::image::PixelSpacing;
use melanoscope_shared::pipeline::{ExtractConfig, FieldExtractor};
use std::hint::black_box;

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
