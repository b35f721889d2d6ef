//! Sharded experiment grids: N shards merged equal the unsharded tables, and merge refuses a
//! missing, failed or differently-set shard, naming it, without writing anything.

use melanoscope_slides::merge::MergeError;
use melanoscope_slides::shard::Shard;
use melanoscope_trainer::experiment::grid::{
    ExperimentShardRecord, Outcome, RunResult, SHARD_RECORD, cell_name, write_tables,
};
use melanoscope_trainer::merge::experiments::merge_experiment_shards;
use std::path::Path;

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
    let dir = melanoscope_shared::scratch::ScratchDir::new("grid-shards");
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
