//! A case export on arbitrary bytes, two ways: (1) the bytes as `manifest.json`: `verify_export`
//! never panics; (2) the bytes (split at the first two zero bytes) as a case's `case.json`,
//! `records.log` and field image, listed with their right sizes and hashes (what a forged
//! export that passes the checksums holds): `review` never panics, and no page it writes holds
//! a script.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_edge::cases::fleet::{Manifest, ManifestCase, ManifestFile, review, verify_export};
use melanoscope_shared::formats::{hex, sha256};
use std::path::PathBuf;

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("msc-fuzz-export-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let root = scratch();
    let _ = std::fs::remove_dir_all(&root);
    let raw = root.join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    std::fs::write(raw.join("manifest.json"), data).unwrap();
    let _ = verify_export(&raw);

    let mut parts = data.splitn(3, |b| *b == 0);
    let (case, records, png) = (parts.next().unwrap_or(&[]), parts.next().unwrap_or(&[]), parts.next().unwrap_or(&[]));
    let export = root.join("export");
    let folder = export.join("cases/F1");
    std::fs::create_dir_all(folder.join("fields")).unwrap();
    let mut files = Vec::new();
    for (rel, bytes) in [("case.json", case), ("records.log", records), ("fields/a.png", png)] {
        std::fs::write(folder.join(rel), bytes).unwrap();
        files.push(ManifestFile {
            path: format!("cases/F1/{rel}"),
            bytes: bytes.len() as u64,
            sha256: hex(&sha256(bytes)),
        });
    }
    let manifest = Manifest {
        format: "melanoscope-case-export".into(),
        version: 1,
        device: "<script>x</script>".into(),
        exported_unix_ms: 0,
        since_unix_ms: 0,
        cases: vec![ManifestCase { id: "F1".into(), status: "closed".into(), verdict: None, opened_unix_ms: 0 }],
        files,
    };
    std::fs::write(export.join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    let out = root.join("review");
    if let Ok(summary) = review(&[export], &out) {
        let index = std::fs::read_to_string(&summary.index).unwrap();
        assert!(!index.contains("<script"), "{index}");
        for entry in std::fs::read_dir(&out).unwrap().flatten() {
            let page = entry.path().join("F1/index.html");
            if let Ok(html) = std::fs::read_to_string(&page) {
                assert!(!html.contains("<script"), "{html}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
});
