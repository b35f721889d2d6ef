//! A lab's own patch folders through the command line, as a new user runs it: folders named
//! after their own classes, 224-px patches, glass among them, then split, train, evaluate and
//! export, each from a different working folder.

use melanoscope_shared::image::{load_rgb, save_rgb};
use melanoscope_tests::data_dir;
use std::path::{Path, PathBuf};
use std::process::Command;

fn train_cli(cwd: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_melanoscope-train")).current_dir(cwd).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn imported_224px_patches_split_train_evaluate_and_export_at_their_size() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("imported");
    for sub in ["lab/patches/nest", "lab/patches/stroma", "elsewhere"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    // 224-px crops of two real H&E images, one "patient" per crop row; glass crops too.
    for (image, class) in [("images/hgsc_nest.jpg", "nest"), ("images/hgsc_stromal_he.jpg", "stroma")] {
        let img = load_rgb(&data_dir().join(image)).unwrap();
        for p in 0..6u32 {
            for k in 0..2u32 {
                let crop = img.crop(k * 224, p * 224, 224, 224).unwrap();
                save_rgb(&dir.join(format!("lab/patches/{class}/{class}{p}_{k}.png")), &crop).unwrap();
            }
        }
        let glass = melanoscope_shared::image::RgbImage::filled(224, 224, [242, 242, 244]).unwrap();
        save_rgb(&dir.join(format!("lab/patches/{class}/{class}9_glass.png")), &glass).unwrap();
    }
    let lab = dir.join("lab");
    // Relative folder, the lab's class names.
    let (ok, text) = train_cli(
        &lab,
        &[
            "import-patches",
            "--folder",
            "patches",
            "--class-map",
            "nest=MM,stroma=IN",
            "--magnification",
            "40X",
            "--out",
            "manifest.parquet",
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("imported 24 patches") && text.contains("2 dropped"), "{text}");
    assert!(text.contains("patch size 224 px"), "{text}");
    let dropped = std::fs::read_to_string(lab.join("manifest.parquet.dropped.csv")).unwrap();
    assert!(dropped.contains("nest9_glass.png") && dropped.contains("stroma9_glass.png"), "{dropped}");

    let (ok, text) = train_cli(
        &lab,
        &["split", "--manifest", "manifest.parquet", "--out", "split.csv", "--fractions", "0.5,0.25,0.25"],
    );
    assert!(ok, "{text}");
    assert!(text.contains("24 patches of 12 patients"), "{text}");
    let split = std::fs::read_to_string(lab.join("split.csv")).unwrap();
    assert!(split.starts_with("patient_id,partition,stratum\n") && split.contains(",validation,"), "{split}");

    // From another folder: the manifest's paths still resolve.
    let abs = |p: &str| lab.join(p).display().to_string();
    let elsewhere: PathBuf = dir.join("elsewhere");
    let (ok, text) = train_cli(
        &elsewhere,
        &[
            "train",
            "--manifest",
            &abs("manifest.parquet"),
            "--split",
            &abs("split.csv"),
            "--arch",
            "resnet18",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--workers",
            "1",
            "--no-augment",
            "--speed",
            "fp32",
            "--out",
            "run",
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("224x224 px (not the study's 256; export uses 224)"), "{text}");
    // A line for the epoch, with its loss, validation AUC and time (it trained in silence).
    assert!(text.contains("epoch 1/1: train loss ") && text.contains(", validation AUC "), "{text}");
    let info = std::fs::read_to_string(elsewhere.join("run/run.json")).unwrap();
    assert!(info.contains("\"patch_size\": 224"), "{info}");
    let ckpt = elsewhere.join("run/best.safetensors").display().to_string();

    // Evaluated from two other folders: once whole, once with a patch gone (below).
    let evaluate = |cwd: &Path, out: &str| {
        let (manifest, split) = (abs("manifest.parquet"), abs("split.csv"));
        let args =
            ["evaluate", "--checkpoint", &ckpt, "--manifest", &manifest, "--split", &split, "--arch", "resnet18"];
        let rest = ["--resamples", "10", "--workers", "1", "--out", out];
        train_cli(cwd, &[&args[..], &rest[..]].concat())
    };
    let (ok, text) = evaluate(&dir, "eval");
    assert!(ok, "{text}");
    assert!(!text.contains("could not be read"), "{text}");

    // Export without --size takes the trained size; the features map of a 224 input is 7x7.
    let onnx = dir.join("m.onnx").display().to_string();
    let (ok, text) =
        train_cli(&dir, &["export", "--checkpoint", &ckpt, "--arch", "resnet18", "--reference", "1", "--out", &onnx]);
    assert!(ok, "{text}");
    assert!(text.contains("input size 224x224 px"), "{text}");
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let check = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/onnx_check.py"))
        .arg(&onnx)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(report.contains("512,\n      7,\n      7"), "{report}");

    // A patch of a validation or test patient goes missing: evaluate names it and its reason.
    let patient =
        split.lines().skip(1).find(|l| !l.contains(",train,")).and_then(|l| l.split(',').next()).unwrap().to_string();
    let class = if patient.starts_with("nest") { "nest" } else { "stroma" };
    let gone = format!("{patient}_0.png");
    std::fs::remove_file(lab.join(format!("patches/{class}/{gone}"))).unwrap();
    let (ok, text) = evaluate(&elsewhere, "eval2");
    let named =
        text.contains("1 Validation patches could not be read") || text.contains("1 Test patches could not be read");
    assert!(ok && named, "{text}");
    assert!(text.contains(&gone), "{gone}: {text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
