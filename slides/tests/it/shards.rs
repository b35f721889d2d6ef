//! Sharded patching: N shards merged equal one unsharded run (same rows, order and report),
//! and merge refuses a missing, unfinished, overlapping or differently-set shard,
//! naming it, without writing anything.

use melanoscope_slides::cohort::load_cohort;
use melanoscope_slides::manifest::read_manifest;
use melanoscope_slides::merge::patches::merge_patch_shards;
use melanoscope_slides::patching::{PatchJob, run_patch_job};
use melanoscope_slides::shard::Shard;
use melanoscope_slides::slide::MagnificationPresets;
use melanoscope_synth::cohort::{SynthConfig, TiffLayout, generate_cohort};
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn patch_shards_merge_into_the_unsharded_run_and_bad_shards_are_refused_by_name() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("shards");
    let cfg = SynthConfig {
        out_dir: dir.join("cohort"),
        patients: 6,
        slides_per_patient: 1,
        width_um: 700.0,
        height_um: 500.0,
        um_per_px: 0.5,
        sites: 2,
        seed: 11,
        layout: TiffLayout::Aperio,
    };
    let (csv, _) = generate_cohort(&cfg, |_| {}).unwrap();
    // Two rows that cannot be used: each is reported once, by the shard its id hashes to.
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("missing.svs,GONE-1,P99,MM\nmissing2.svs,,P98,IN\n");
    std::fs::write(&csv, text).unwrap();
    let cohort = load_cohort(&csv).unwrap();
    assert_eq!(cohort.rejected.len(), 2);
    let mags = MagnificationPresets::default().parse_list("20X,10X").unwrap();
    let whole = run_patch_job(&PatchJob::new(dir.join("whole"), mags.clone()), &cohort).unwrap();
    assert!(whole.total_patches > 20, "{}", whole.summary());

    let out = dir.join("sharded");
    let mut per_shard = Vec::new();
    for index in 0..3 {
        let job = PatchJob { shard: Shard { index, count: 3 }, ..PatchJob::new(out.clone(), mags.clone()) };
        let r = run_patch_job(&job, &cohort).unwrap();
        per_shard.push(r.slides.len());
        assert!(out.join(format!("shards/{index}-of-3/shard.json")).is_file());
    }
    assert_eq!(per_shard.iter().sum::<usize>(), whole.slides.len(), "{per_shard:?}");
    assert!(!out.join("manifest.parquet").exists(), "a shard writes only its own folder");

    // Refusals first, on copies, each leaving no merged file behind.
    let refused = |name: &str, damage: &dyn Fn(&Path)| -> String {
        let copy = dir.join(name);
        copy_dir(&out, &copy);
        damage(&copy);
        let e = merge_patch_shards(&copy).unwrap_err();
        assert!(!copy.join("manifest.parquet").exists() && !copy.join("report.json").exists(), "{name}: {e}");
        e.to_string()
    };
    let e = refused("missing", &|d| std::fs::remove_file(d.join("shards/1-of-3/shard.json")).unwrap());
    assert!(e.contains("shard 1/3 is missing or unfinished") && e.contains("task 1"), "{e}");
    let e = refused("settings", &|d| {
        let p = d.join("shards/2-of-3/shard.json");
        let t = std::fs::read_to_string(&p).unwrap().replacen("\"10X\"", "\"4X\"", 1);
        std::fs::write(p, t).unwrap();
    });
    assert!(
        e.contains("shards 0/3 and 2/3 were written under different settings") && e.contains("magnifications"),
        "{e}"
    );
    let e = refused("mixed", &|d| copy_dir(&d.join("shards/0-of-3"), &d.join("shards/0-of-2")));
    assert!(e.contains("shards of two runs"), "{e}");
    let e = refused("overlap", &|d| {
        // Shard 0's report claims a slide of shard 1 as well.
        let one: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("shards/1-of-3/report.json")).unwrap()).unwrap();
        let p = d.join("shards/0-of-3/report.json");
        let mut zero: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        zero["slides"].as_array_mut().unwrap().push(one["slides"][0].clone());
        std::fs::write(p, serde_json::to_vec(&zero).unwrap()).unwrap();
    });
    assert!(e.contains("is in both shard") || e.contains("belongs to shard 1/3"), "{e}");
    let e = refused("cut", &|d| std::fs::write(d.join("shards/0-of-3/report.json"), "{\"slides\": [").unwrap());
    assert!(e.contains("0-of-3/report.json"), "{e}");
    let e = refused("lost", &|d| {
        // Shard 2's report loses a slide (its rows stay, and its total).
        let p = d.join("shards/2-of-3/report.json");
        let mut two: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        two["slides"].as_array_mut().unwrap().remove(0);
        std::fs::write(p, serde_json::to_vec(&two).unwrap()).unwrap();
    });
    assert!(e.contains("which is shard 2/3's, is in no shard's output") && e.contains("rerun task 2"), "{e}");

    let merged = merge_patch_shards(&out).unwrap();
    assert_eq!((merged.shards, merged.total_patches), (3, whole.total_patches));
    assert_eq!(read_manifest(&merged.manifest).unwrap(), read_manifest(&whole.manifest).unwrap());
    assert_eq!(
        std::fs::read_to_string(out.join("report.json")).unwrap(),
        std::fs::read_to_string(dir.join("whole/report.json")).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
