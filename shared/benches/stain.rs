//! Stain normalisation of a 1920×1080 camera frame on one core (issue 34's cost goal: ≤ 5 ms,
//! or ≤ 10% of the frame budget), against one copy of the frame (the memory traffic of
//! touching it once) as baseline:
//! - Reinhard and Macenko fitted on every pixel and applied to every pixel (the trainer's way);
//! - the edge's way: the running tracker fits a 50,000-pixel sample of six 256×256 tissue
//!   fields and maps those fields only.

mod common;

use common::camera_frame;
use criterion::{Criterion, criterion_group, criterion_main};
use melanoscope_shared::image::FieldRect;
use melanoscope_shared::stain::{self, MacenkoParams, StainTracker, TrackerSettings};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let img = camera_frame(1920, 1080);
    let reinhard_target = stain::reinhard::fit(&img).unwrap();
    let p = MacenkoParams::default();
    let macenko_target = stain::macenko::fit(&img, &p).unwrap();
    c.bench_function("copy_1920x1080 (baseline)", |b| b.iter(|| black_box(black_box(&img).clone())));
    c.bench_function("reinhard_fit_and_apply_1920x1080", |b| {
        b.iter(|| stain::reinhard::normalise(black_box(&img), &reinhard_target).unwrap())
    });
    c.bench_function("macenko_fit_and_apply_1920x1080", |b| {
        b.iter(|| stain::macenko::normalise(black_box(&img), &macenko_target, &p).unwrap())
    });
    let source = stain::macenko::fit(&img, &p).unwrap();
    c.bench_function("macenko_apply_only_1920x1080", |b| {
        b.iter(|| stain::macenko::apply(black_box(&img), &source, &macenko_target).unwrap())
    });
    // Six fields of a 1080p frame at the model's scale (3 × 2 of 256 px).
    let fields: Vec<FieldRect> =
        (0..6).map(|i| FieldRect::square(100 + 300 * (i % 3), 100 + 300 * (i / 3), 256)).collect();
    let mut tracker = StainTracker::new(macenko_target, TrackerSettings::default());
    let mut work = img.clone();
    c.bench_function("edge_track_and_normalise_6_fields", |b| {
        b.iter(|| {
            work.as_raw_mut().copy_from_slice(img.as_raw());
            let reading = tracker.observe(black_box(&work), &fields);
            tracker.normalise(&mut work, &fields).unwrap();
            black_box(reading)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
