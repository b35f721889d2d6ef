use super::*;
use crate::data::feed::Feed;
use melanoscope_shared::image::{TensorLayout, field_to_tensor, save_rgb};
use melanoscope_slides::cohort::load_cohort;
use melanoscope_slides::manifest::read_manifest;
use melanoscope_slides::patching::{PatchJob, run_patch_job};
use melanoscope_slides::slide::MagnificationPresets;
use melanoscope_synth::cohort::{SynthConfig, generate_cohort};
use std::path::Path;
use tch::Device;

fn cfg(workers: usize, augment: AugmentConfig) -> LoaderConfig {
    LoaderConfig {
        batch_size: 5,
        workers,
        prefetch: 2,
        seed: 9,
        shuffle: true,
        augment,
        normalization: Normalization::IMAGENET,
        size: 256,
        slide_cache: 4,
    }
}

/// Two synthetic slides (MM, IN) patched at 20X; the manifest's rows.
fn synthetic_rows(dir: &Path) -> Vec<ManifestRow> {
    let synth = SynthConfig {
        out_dir: dir.join("cohort"),
        patients: 2,
        slides_per_patient: 1,
        width_um: 700.0,
        height_um: 520.0,
        um_per_px: 0.5,
        sites: 1,
        seed: 4,
        layout: melanoscope_synth::cohort::TiffLayout::Aperio,
    };
    let (csv, _) = generate_cohort(&synth, |_| {}).unwrap();
    let job = PatchJob::new(dir.join("patches"), MagnificationPresets::default().parse_list("20X").unwrap());
    let report = run_patch_job(&job, &load_cohort(&csv).unwrap()).unwrap();
    read_manifest(&report.manifest).unwrap()
}

#[test]
fn batches_are_deterministic_whatever_the_workers_and_carry_the_right_pixels() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("loader");
    let rows = synthetic_rows(&dir);
    let samples = Arc::new(samples_from_manifest(&rows, &["MM", "IN"]));
    assert!(samples.len() >= 10, "{} samples", samples.len());
    assert!(samples.iter().any(|s| s.class == 0) && samples.iter().any(|s| s.class == 1));

    let run = |workers: usize, epoch: u64| -> Vec<Batch> {
        epoch_batches(samples.clone(), &cfg(workers, AugmentConfig::microscope()), epoch).collect()
    };
    let one = run(1, 0);
    assert_eq!(one, run(3, 0), "the worker count must not change the batches");
    assert_eq!(one.len(), samples.len().div_ceil(5));
    let mut seen: Vec<usize> = one.iter().flat_map(|b| b.samples.clone()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..samples.len()).collect::<Vec<_>>(), "every sample once per epoch");
    for b in &one {
        assert!(b.skipped.is_empty(), "{:?}", b.skipped);
        assert_eq!(b.images.len(), b.len() * 3 * 256 * 256);
        assert!(b.samples.iter().zip(&b.classes).all(|(i, c)| samples[*i].class as i64 == *c));
    }
    let other_epoch = run(2, 1);
    assert_ne!(one[0].samples, other_epoch[0].samples, "epochs are shuffled differently");

    // Without augmentation a sample's values, normalised where the batch lands, are exactly
    // the shared tensor of its patch.
    let plain: Vec<Batch> = epoch_batches(samples.clone(), &cfg(2, AugmentConfig::none()), 0).collect();
    let mut feed = Feed::new(plain.clone().into_iter(), 256, Device::Cpu, 1);
    let (x, y) = feed.next().unwrap().unwrap().to_device(Device::Cpu).unwrap();
    assert_eq!(Vec::<i64>::try_from(&y).unwrap(), plain[0].classes);
    let (i, s) = (plain[0].samples[0], &samples[plain[0].samples[0]]);
    let slide = Slide::open(&s.slide, None).unwrap();
    let patch = read_patch(&slide, s.um_per_px, s.x0, s.y0, 256).unwrap();
    let mut expect = vec![0f32; 3 * 256 * 256];
    field_to_tensor(&patch, FieldRect::square(0, 0, 256), &Normalization::IMAGENET, TensorLayout::Nchw, &mut expect)
        .unwrap();
    let first = Vec::<f32>::try_from(x.get(0).flatten(0, -1)).unwrap();
    assert_eq!(first, expect, "sample {i}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreadable_samples_are_skipped_and_named_and_patch_files_load() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("loader-files");
    let mut samples = Vec::new();
    for (k, colour) in [[200u8, 120, 170], [110, 60, 150], [220, 140, 190]].into_iter().enumerate() {
        let path = dir.join(format!("p{k}.png"));
        save_rgb(&path, &RgbImage::filled(256, 256, colour).unwrap()).unwrap();
        samples.push(Sample { slide: path, x0: 0, y0: 0, um_per_px: 0.25, patch_size: 256, class: k % 2 });
    }
    samples.push(Sample { slide: dir.join("gone.svs"), x0: 0, y0: 0, um_per_px: 0.25, patch_size: 256, class: 1 });
    let mut small = samples[0].clone();
    small.patch_size = 128;
    samples.push(small);
    let batches: Vec<Batch> =
        epoch_batches(Arc::new(samples), &LoaderConfig { batch_size: 8, ..cfg(2, AugmentConfig::none()) }, 0).collect();
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.len(), 3);
    assert_eq!(b.skipped.len(), 2, "{:?}", b.skipped);
    assert!(b.skipped.iter().any(|m| m.contains("gone.svs")), "{:?}", b.skipped);
    assert!(b.skipped.iter().any(|m| m.contains("128x128, the model takes 256")), "{:?}", b.skipped);
    // The red channel of the first file's first pixel, normalised.
    let k = b.samples.iter().position(|i| *i == 0).unwrap();
    assert_eq!(b.images[k * 3 * 256 * 256], 200);
    let (x, _) = Feed::new(batches.clone().into_iter(), 256, Device::Cpu, 1)
        .next()
        .unwrap()
        .unwrap()
        .to_device(Device::Cpu)
        .unwrap();
    let v = x.double_value(&[k as i64, 0, 0, 0]);
    assert!((v - (200.0 / 255.0 - 0.485) / 0.229).abs() < 1e-5, "{v}");
    std::fs::remove_dir_all(&dir).unwrap();
}
