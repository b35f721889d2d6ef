use super::*;
use melanoscope_shared::image::gaussian_blur;

/// A patch with structure: purple nuclei on pink stroma, a white (glass) corner.
fn patch() -> RgbImage {
    let mut img = RgbImage::filled(64, 48, [230, 150, 190]).unwrap();
    for y in 0..48u32 {
        for x in 0..64u32 {
            if (x / 6 + y / 6) % 3 == 0 {
                img.put(x, y, [90, 50, 140]);
            }
            if x > 52 && y < 10 {
                img.put(x, y, [244, 242, 246]);
            }
        }
    }
    img
}

fn histogram(img: &RgbImage) -> Vec<u32> {
    let mut h = vec![0u32; 3 * 256];
    for (i, v) in img.as_raw().iter().enumerate() {
        h[(i % 3) * 256 + *v as usize] += 1;
    }
    h
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.as_raw().len() as f64
}

#[test]
fn the_same_seed_gives_the_same_patch_and_other_seeds_differ() {
    let p = patch();
    let cfg = AugmentConfig::microscope();
    let a = augment(&p, &cfg, 42).unwrap();
    assert_eq!(a, augment(&p, &cfg, 42).unwrap());
    let differing = (0..8).filter(|s| augment(&p, &cfg, 100 + s).unwrap() != a).count();
    assert_eq!(differing, 8);
    assert_eq!(augment(&p, &AugmentConfig::none(), 42).unwrap(), p, "none() leaves the patch alone");
}

#[test]
fn the_eight_orientations_are_distinct_and_keep_every_pixel() {
    let p = patch();
    let all: Vec<RgbImage> = (0..8).map(|k| dihedral(&p, k).unwrap()).collect();
    for (k, img) in all.iter().enumerate() {
        assert_eq!(histogram(img), histogram(&p), "orientation {k}");
        for (j, other) in all.iter().enumerate().take(k) {
            assert_ne!(other, img, "orientations {j} and {k} coincide");
        }
    }
    assert_eq!(dihedral(&p, 0).unwrap(), p);
    assert_eq!((all[1].width(), all[1].height()), (48, 64));
    // A quarter turn clockwise moves the top-left pixel to the top-right.
    assert_eq!(all[1].get(47, 0), p.get(0, 0));
    // Four quarter turns are the identity; a flip twice too.
    let mut q = p.clone();
    for _ in 0..4 {
        q = dihedral(&q, 1).unwrap();
    }
    assert_eq!(q, p);
    assert_eq!(dihedral(&dihedral(&p, 4).unwrap(), 4).unwrap(), p);
}

#[test]
fn stain_jitter_is_the_identity_at_zero_and_moves_haematoxylin() {
    let p = patch();
    let mut same = p.clone();
    hed_jitter(&mut same, [(1.0, 0.0); 3]);
    // The optical-density round trip is exact up to 8-bit rounding.
    assert!(p.as_raw().iter().zip(same.as_raw()).all(|(a, b)| a.abs_diff(*b) <= 1));
    // More haematoxylin darkens the nuclei far more than the stroma.
    let mut more_h = p.clone();
    hed_jitter(&mut more_h, [(1.3, 0.0), (1.0, 0.0), (1.0, 0.0)]);
    let nucleus = (p.get(0, 0).unwrap(), more_h.get(0, 0).unwrap());
    let stroma = (p.get(6, 0).unwrap(), more_h.get(6, 0).unwrap());
    let drop = |(a, b): ([u8; 3], [u8; 3])| a.iter().zip(b).map(|(x, y)| i32::from(*x) - i32::from(y)).sum::<i32>();
    assert!(drop(nucleus) > 20 && drop(nucleus) > 2 * drop(stroma), "{nucleus:?} {stroma:?}");
}

/// The textbook per-pixel HSV round trip (branches, one pixel at a time): the oracle for the
/// vectorised form.
fn hsv_reference(px: [u8; 3], hue_deg: f32, sat: f32, val: f32) -> [u8; 3] {
    let [r, g, b] = px.map(|v| f32::from(v) / 255.0);
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let c = max - min;
    let mut h = if c == 0.0 {
        0.0
    } else if max == r {
        ((g - b) / c).rem_euclid(6.0)
    } else if max == g {
        (b - r) / c + 2.0
    } else {
        (r - g) / c + 4.0
    };
    h = (h + hue_deg / 60.0).rem_euclid(6.0);
    let s = if max == 0.0 { 0.0 } else { (c / max * sat).clamp(0.0, 1.0) };
    let v = (max * val).clamp(0.0, 1.0);
    let chroma = v * s;
    let x = chroma * (1.0 - (h % 2.0 - 1.0).abs());
    let (r1, g1, b1) = match h as u32 {
        0 => (chroma, x, 0.0),
        1 => (x, chroma, 0.0),
        2 => (0.0, chroma, x),
        3 => (0.0, x, chroma),
        4 => (x, 0.0, chroma),
        _ => (chroma, 0.0, x),
    };
    let m = v - chroma;
    [r1, g1, b1].map(|t| ((t + m) * 255.0).round().clamp(0.0, 255.0) as u8)
}

#[test]
fn hsv_jitter_matches_the_per_pixel_formula() {
    // Every hue sector, greys, black and white, in a width that leaves a partial block.
    let mut rng = SplitMix64::new(3);
    let mut img = RgbImage::filled(37, 29, [0; 3]).unwrap();
    for y in 0..29 {
        for x in 0..37 {
            let px = if (x + y) % 11 == 0 { [(x * 7) as u8; 3] } else { std::array::from_fn(|_| rng.below(256) as u8) };
            img.put(x, y, px);
        }
    }
    img.put(0, 0, [255; 3]);
    for (dh, s, v) in [(0.0, 1.0, 1.0), (6.0, 1.1, 0.9), (-6.0, 0.9, 1.1), (200.0, 1.0, 1.0), (-200.0, 0.5, 1.2)] {
        let mut out = img.clone();
        hsv_jitter(&mut out, dh, s, v);
        for (a, b) in img.as_raw().chunks_exact(3).zip(out.as_raw().chunks_exact(3)) {
            let expect = hsv_reference([a[0], a[1], a[2]], dh, s, v);
            assert!(
                expect.iter().zip(b).all(|(e, g)| e.abs_diff(*g) <= 1),
                "{a:?} ({dh}, {s}, {v}): {b:?} vs {expect:?}"
            );
        }
    }
}

#[test]
fn hsv_jitter_round_trips_and_rotates_hue() {
    let p = patch();
    let mut same = p.clone();
    hsv_jitter(&mut same, 0.0, 1.0, 1.0);
    assert!(p.as_raw().iter().zip(same.as_raw()).all(|(a, b)| a.abs_diff(*b) <= 1));
    let mut grey = p.clone();
    hsv_jitter(&mut grey, 0.0, 0.0, 1.0);
    assert!(grey.as_raw().chunks_exact(3).all(|c| c[0] == c[1] && c[1] == c[2]), "zero saturation is grey");
    let mut shifted = p.clone();
    hsv_jitter(&mut shifted, 120.0, 1.0, 1.0);
    // Purple (hue ~267°) turns to ~27°: red now dominates blue.
    let [r, _, b] = shifted.get(0, 0).unwrap();
    assert!(r > b, "{:?}", shifted.get(0, 0));
}

#[test]
fn blur_jpeg_and_vignetting_do_what_a_camera_does() {
    let p = patch();
    let blurred = gaussian_blur(&p, 1.5).unwrap();
    // Gradient energy (a blurred step keeps its total variation but spreads it thin).
    let edges = |img: &RgbImage| -> f64 {
        (0..img.height())
            .flat_map(|y| (1..img.width()).map(move |x| (x, y)))
            .map(|(x, y)| f64::from(img.get(x, y).unwrap()[0].abs_diff(img.get(x - 1, y).unwrap()[0])).powi(2))
            .sum()
    };
    assert!(edges(&blurred) < 0.5 * edges(&p), "{} vs {}", edges(&blurred), edges(&p));
    assert_eq!(gaussian_blur(&RgbImage::filled(9, 9, [7, 8, 9]).unwrap(), 1.0).unwrap().get(4, 4), Some([7, 8, 9]));
    // JPEG re-compression: close to the original, not equal to it.
    let jpeg_only = AugmentConfig { jpeg_probability: 1.0, jpeg_quality: (70, 70), ..AugmentConfig::none() };
    let j = augment(&p, &jpeg_only, 1).unwrap();
    let d = mean_abs_diff(&p, &j);
    assert!(d > 0.1 && d < 8.0, "mean abs difference {d}");
    let camera = CameraOptics { vignetting: 0.3, ..CameraOptics::NONE };
    let v = camera.apply(&RgbImage::filled(100, 100, [200; 3]).unwrap()).unwrap();
    assert_eq!(v.get(50, 50), Some([200; 3]));
    assert!(v.get(0, 0).unwrap()[0] < 150 && v.get(0, 0).unwrap()[0] > 130, "{:?}", v.get(0, 0));
}
