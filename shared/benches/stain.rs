//! Stain normalisation of a 1920×1080 camera frame on one core (issue 34's cost goal: ≤ 5 ms,
//! or ≤ 10% of the frame budget): Reinhard and Macenko, each fitted to the frame and applied
//! to it, against one copy of the frame (the memory traffic of touching it once) as baseline.

mod common;

use common::camera_frame;
use criterion::{Criterion, criterion_group, criterion_main};
use melanoscope_shared::stain::{self, MacenkoParams};
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
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
