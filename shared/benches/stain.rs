//! Stain normalisation of a 1920×1080 camera frame on one core (issue 34's cost goal: ≤ 5 ms,
//! or ≤ 10% of the frame budget): Reinhard and Macenko, each fitted to the frame and applied
//! to it, against one copy of the frame (the memory traffic of touching it once) as baseline.

use criterion::{Criterion, criterion_group, criterion_main};
use melanoscope_shared::image::RgbImage;
use melanoscope_shared::rng::SplitMix64;
use melanoscope_shared::stain::{self, MacenkoParams};
use std::hint::black_box;

/// Two-thirds H&E-like tissue (nuclei on stroma, with noise), one-third glass.
fn frame(w: u32, h: u32) -> RgbImage {
    let mut rng = SplitMix64::new(34);
    let mut img = RgbImage::filled(w, h, [236, 234, 240]).unwrap();
    for y in 0..h {
        for x in 0..(w * 2 / 3) {
            let noise = (rng.next_u64() % 40) as u8;
            let nucleus = ((x / 7) * 31 + (y / 7) * 17) % 11 == 0;
            let px = if nucleus {
                [70 + noise, 40 + noise, 130 + noise]
            } else {
                [200 + noise / 2, 110 + noise, 170 + noise / 2]
            };
            img.put(x, y, px);
        }
    }
    img
}

fn bench(c: &mut Criterion) {
    let img = frame(1920, 1080);
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
