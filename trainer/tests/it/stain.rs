//! Stain normalisation (`shared::stain`) against a NumPy implementation of the same published
//! formulas (`trainer/tests/reference/stain.py`, run in the project venv) on real H&E from
//! `../shared/data`: ovarian carcinoma normalised to a tumour tile stained elsewhere.
//! Tolerances: stain vectors within 0.5°, statistics within 0.1% (f32 against f64, and the
//! percentile of f32 angles), images within one grey level on 99.9% of pixel values.

use melanoscope_shared::image::{RgbImage, load_rgb};
use melanoscope_shared::stain::{self, MacenkoParams};
use melanoscope_tests::data_dir;
use std::path::Path;
use std::process::Command;

fn raw(dir: &Path, name: &str, img: &RgbImage) -> String {
    let path = dir.join(name);
    std::fs::write(&path, img.as_raw()).unwrap();
    path.display().to_string()
}

/// Largest difference and the share of values differing by more than one level.
fn compare(ours: &RgbImage, theirs: &[u8]) -> (u8, f64) {
    assert_eq!(ours.as_raw().len(), theirs.len());
    let diffs: Vec<u8> = ours.as_raw().iter().zip(theirs).map(|(a, b)| a.abs_diff(*b)).collect();
    let over = diffs.iter().filter(|d| **d > 1).count() as f64 / diffs.len() as f64;
    (diffs.into_iter().max().unwrap_or(0), over)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-3)
}

#[test]
fn reinhard_and_macenko_match_the_numpy_reference_on_real_h_and_e() {
    let data = data_dir();
    // 640×480 crops: enough pixels for the percentiles, a few seconds in a debug build.
    let crop = |img: RgbImage| img.crop(0, 0, img.width().min(640), img.height().min(480)).unwrap();
    let source = crop(load_rgb(&data.join("images/hgsc_nest.jpg")).unwrap());
    let target = crop(load_rgb(&data.join("images/he-tumour-1000px.png")).unwrap());
    let dir = melanoscope_shared::scratch::ScratchDir::new("stain-reference");
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(python.exists(), "{} missing: run scripts/setup.sh", python.display());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/stain.py");
    let prefix = dir.join("numpy").display().to_string();
    let status = Command::new(&python)
        .arg(&script)
        .arg(raw(&dir, "source.rgb", &source))
        .args([source.width().to_string(), source.height().to_string()])
        .arg(raw(&dir, "target.rgb", &target))
        .args([target.width().to_string(), target.height().to_string()])
        .arg(&prefix)
        .status()
        .unwrap();
    assert!(status.success(), "{} failed", script.display());
    let fits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{prefix}.json")).unwrap()).unwrap();
    let num = |v: &serde_json::Value| v.as_f64().unwrap();

    // Reinhard: the statistics, then the normalised image.
    let (s, t) = (stain::reinhard::fit(&source).unwrap(), stain::reinhard::fit(&target).unwrap());
    for (ours, key) in [(&s, "source"), (&t, "target")] {
        let theirs = &fits["reinhard"][key];
        for c in 0..3 {
            assert!(close(f64::from(ours.mean[c]), num(&theirs[0][c]), 1e-3), "{key} mean {c}: {ours:?} {theirs}");
            assert!(close(f64::from(ours.std[c]), num(&theirs[1][c]), 1e-3), "{key} std {c}: {ours:?} {theirs}");
        }
    }
    let ours = stain::reinhard::apply(&source, &s, &t);
    let (max, over) = compare(&ours, &std::fs::read(format!("{prefix}-reinhard.rgb")).unwrap());
    eprintln!("Reinhard against NumPy: largest difference {max}, {over:.6} of values over one level");
    assert!(over < 1e-3 && max <= 3, "Reinhard: largest difference {max}, {over:.5} of values over one level");

    // Macenko: the stain vectors and maxima, then the normalised image.
    let p = MacenkoParams::default();
    let (s, t) = (stain::macenko::fit(&source, &p).unwrap(), stain::macenko::fit(&target, &p).unwrap());
    for (ours, key) in [(&s, "source"), (&t, "target")] {
        let theirs = &fits["macenko"][key];
        for k in 0..2 {
            let cos: f64 = (0..3).map(|c| f64::from(ours.stains[k][c]) * num(&theirs[0][k][c])).sum();
            let degrees = cos.clamp(-1.0, 1.0).acos().to_degrees();
            eprintln!(
                "Macenko {key} stain {k}: {degrees:.4}° from NumPy's; maximum {} vs {}",
                ours.max_concentrations[k], theirs[1][k]
            );
            assert!(degrees < 0.5, "{key} stain {k}: {degrees:.3}° apart: {ours:?} {theirs}");
            let max = f64::from(ours.max_concentrations[k]);
            assert!(close(max, num(&theirs[1][k]), 5e-3), "{key} maximum {k}: {ours:?} {theirs}");
        }
    }
    // Plausible H&E: haematoxylin absorbs red more than eosin, eosin absorbs green most.
    assert!(t.stains[0][0] > t.stains[1][0] && t.stains[1][1] > t.stains[1][0], "{t:?}");
    let ours = stain::macenko::apply(&source, &s, &t).unwrap();
    let (max, over) = compare(&ours, &std::fs::read(format!("{prefix}-macenko.rgb")).unwrap());
    eprintln!("Macenko against NumPy: largest difference {max}, {over:.6} of values over one level; {t:?}");
    assert!(over < 1e-3 && max <= 3, "Macenko: largest difference {max}, {over:.5} of values over one level");
    std::fs::remove_dir_all(&dir).unwrap();
}
