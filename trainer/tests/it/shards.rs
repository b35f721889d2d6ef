//! Sharded patching and grids: N shards merged equal one unsharded run (same rows, order and
//! report), and merge refuses a missing, unfinished, overlapping or differently-set shard,
//! naming it, without writing anything.

use melanoscope_synth::cohort::{SynthConfig, TiffLayout, generate_cohort};
use melanoscope_trainer::cohort::load_cohort;
use melanoscope_trainer::experiment::grid::{
    ExperimentShardRecord, Outcome, RunResult, SHARD_RECORD, cell_name, write_tables,
};
use melanoscope_trainer::manifest::read_manifest;
use melanoscope_trainer::merge::MergeError;
use melanoscope_trainer::merge::experiments::merge_experiment_shards;
use melanoscope_trainer::merge::patches::merge_patch_shards;
use melanoscope_trainer::patching::{PatchJob, run_patch_job};
use melanoscope_trainer::shard::Shard;
use melanoscope_trainer::slide::MagnificationPresets;
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
    let dir = std::env::temp_dir().join(format!("msc-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
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

fn result(arch: &str, preset: &str, outcome: Outcome) -> RunResult {
    RunResult {
        arch: arch.into(),
        preset: preset.into(),
        train_patches: preset.len() * 7,
        test_patches: arch.len(),
        best_val_auc: Some(0.123_456_789_012_345_67),
        outcome,
    }
}

/// A grid's shard folders as `experiment --shard K/N` leaves them, with given outcomes.
fn grid_shards(out: &Path, count: u32, cells: &[RunResult]) {
    let names: Vec<String> = cells.iter().map(|r| cell_name(&r.arch, &r.preset)).collect();
    for index in 0..count {
        let shard = Shard { index, count };
        let mine: Vec<RunResult> =
            cells.iter().enumerate().filter(|(i, _)| shard.owns_cell(*i)).map(|(_, r)| r.clone()).collect();
        let folder = shard.folder(out);
        std::fs::create_dir_all(&folder).unwrap();
        write_tables(&folder, &mine).unwrap();
        let record = ExperimentShardRecord { shard, settings: serde_json::json!({"epochs": 3}), cells: names.clone() };
        std::fs::write(folder.join(SHARD_RECORD), serde_json::to_vec(&record).unwrap()).unwrap();
    }
}

#[test]
fn grid_shards_merge_into_the_unsharded_tables_and_a_failed_cell_is_named() {
    let dir = std::env::temp_dir().join(format!("msc-grid-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let skipped = |why: &str| Outcome::Skipped { reason: why.into() };
    let cells = vec![
        result("resnet50", "mm-vs-nevi@40X", skipped("no validation patches of class MM at 40X")),
        result("resnet50", "mm-vs-nevi@10X", skipped("no train patches")),
        result("resnet50", "nevi-3class@40X", skipped("x")),
        result("vgg19", "mm-vs-nevi@40X", skipped("y")),
        result("vgg19", "mm-vs-nevi@10X", skipped("z")),
    ];
    let whole = dir.join("whole");
    std::fs::create_dir_all(&whole).unwrap();
    write_tables(&whole, &cells).unwrap();
    let out = dir.join("sharded");
    grid_shards(&out, 2, &cells);
    let m = merge_experiment_shards(&out, false).unwrap();
    assert_eq!((m.shards, m.cells, m.failed), (2, 5, 0));
    for f in ["experiments.json", "experiments.csv", "experiments.md"] {
        assert_eq!(std::fs::read(whole.join(f)).unwrap(), std::fs::read(out.join(f)).unwrap(), "{f}");
    }

    // A cell that failed in its task stops the merge, named with its shard; --keep-failed
    // tables it as an unsharded run would.
    let mut failing = cells.clone();
    failing[3].outcome = Outcome::Failed { error: "CUDA out of memory".into() };
    let out = dir.join("failed");
    grid_shards(&out, 2, &failing);
    let e = merge_experiment_shards(&out, false).unwrap_err();
    assert!(matches!(e, MergeError::CellFailed { .. }), "{e}");
    let e = e.to_string();
    assert!(e.contains("vgg19 mm-vs-nevi@40X failed in shard 1/2") && e.contains("CUDA out of memory"), "{e}");
    assert!(!out.join("experiments.md").exists());
    let m = merge_experiment_shards(&out, true).unwrap();
    assert_eq!(m.failed, 1);
    assert!(std::fs::read_to_string(out.join("experiments.md")).unwrap().contains("FAILED: CUDA out of memory"));

    // A shard that stopped before its last cell: the cell is named with the task to rerun.
    let out = dir.join("lost");
    grid_shards(&out, 2, &cells);
    let p = out.join("shards/0-of-2/experiments.json");
    let mut v: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v.pop();
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = merge_experiment_shards(&out, false).unwrap_err().to_string();
    assert!(e.contains("vgg19 mm-vs-nevi@10X, which is shard 0/2's, is in no shard's output"), "{e}");

    // Different training settings, and a cell in the wrong shard.
    let out = dir.join("settings");
    grid_shards(&out, 2, &cells);
    let p = out.join("shards/1-of-2/shard.json");
    let t = std::fs::read_to_string(&p).unwrap().replace("\"epochs\":3", "\"epochs\":30");
    std::fs::write(&p, t).unwrap();
    let e = merge_experiment_shards(&out, false).unwrap_err().to_string();
    assert!(e.contains("different settings: epochs is 3 in one and 30 in the other"), "{e}");
    let out = dir.join("wrong");
    grid_shards(&out, 2, &cells);
    let p = out.join("shards/1-of-2/experiments.json");
    let mut v: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v.push(serde_json::to_value(&cells[0]).unwrap());
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = merge_experiment_shards(&out, false).unwrap_err().to_string();
    assert!(e.contains("resnet50 mm-vs-nevi@40X is in both shard 0/2 and shard 1/2"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
