//! The export is real ONNX: onnxruntime (the PyPI wheel in the project venv that
//! `scripts/setup.sh` installs) opens it and reproduces the tch network's outputs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn an_exported_resnet_runs_in_onnxruntime_and_matches_tch() {
    let python = root().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run scripts/setup.sh (it installs onnxruntime)", python.display());
    let dir = melanoscope_shared::scratch::ScratchDir::new("ort");
    // A checkpoint of a randomly initialised ResNet18 stands in for a trained one.
    let ckpt = dir.join("r18.safetensors");
    {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _ = melanoscope_trainer::model::Network::new(&vs.root(), melanoscope_trainer::model::Arch::ResNet18, 2);
        vs.save(&ckpt).unwrap();
    }
    let onnx = dir.join("r18.onnx");
    let status = Command::new(env!("CARGO_BIN_EXE_melanoscope-train"))
        .args(["export", "--arch", "resnet18", "--size", "96", "--reference", "2", "--checkpoint"])
        .arg(&ckpt)
        .arg("--out")
        .arg(&onnx)
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(&python).arg(root().join("scripts/onnx_check.py")).arg(&onnx).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        report.contains("\"ok\": true")
            && report.contains("\"shape\": [\n      2,\n      512,\n      3,\n      3\n    ]"),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
