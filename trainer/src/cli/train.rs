//! `train` and `evaluate`: one task on a patch manifest and patient split.

use super::args::{TaskData, TrainingOptions};
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct TrainCommandArgs {
    #[command(flatten)]
    pub data: TaskData,
    #[command(flatten)]
    pub training: TrainingOptions,
    /// Continue the run in --out after its last finished epoch.
    #[arg(long)]
    pub resume: bool,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn train(args: TrainCommandArgs) -> Result<()> {
    let TrainCommandArgs { data: TaskData { manifest, split, task, magnification, arch }, training, resume, out } =
        args;
    use melanoscope_slides::split::Partition;
    use melanoscope_trainer::train::fit::fit;
    use melanoscope_trainer::train::task::task_samples;
    let rows = melanoscope_slides::manifest::read_manifest(&manifest)?;
    let split = melanoscope_slides::split::PatientSplit::load(&split)?;
    let train = task_samples(&rows, task, &magnification, &split, Partition::Train);
    let val = task_samples(&rows, task, &magnification, &split, Partition::Validation);
    use melanoscope_trainer::train::run_info::{RunInfo, patch_size_of};
    use melanoscope_trainer::train::task::task_rows;
    let used = [Partition::Train, Partition::Validation]
        .into_iter()
        .flat_map(|p| task_rows(&rows, task, &magnification, &split, p));
    let size = patch_size_of(used).map_err(|e| anyhow::anyhow!("{}: {e}", manifest.display()))?;
    let note = if size == melanoscope_shared::FIELD_SIZE {
        String::new()
    } else {
        format!(" (not the study's {}; export uses {size})", melanoscope_shared::FIELD_SIZE)
    };
    eprintln!(
        "{}: {} on {} train / {} validation patches at {magnification}, {size}x{size} px{note}, classes {:?}",
        task.name(),
        arch,
        train.len(),
        val.len(),
        task.classes()
    );
    std::fs::create_dir_all(&out)?;
    RunInfo {
        arch: arch.to_string(),
        task: task.name().into(),
        magnification: magnification.clone(),
        patch_size: size,
        classes: task.classes().iter().map(|c| c.to_string()).collect(),
        manifest: std::path::absolute(&manifest)?,
    }
    .save(&out)?;
    let device = melanoscope_trainer::device::best_device();
    melanoscope_trainer::device::share_cores_with_loader(device);
    let cfg = training.fit_config(arch, task.classes().len(), i32::try_from(size)?, out.clone(), device)?;
    let state = fit(&cfg, std::sync::Arc::new(train), std::sync::Arc::new(val), resume)?;
    println!("{}", serde_json::to_string_pretty(&state)?);
    println!("checkpoints in {}", out.display());
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct EvaluateArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: TaskData,
    /// Slide/patient aggregation of patch probabilities: mean, or the mean of the top K.
    #[arg(long)]
    pub top_k: Option<u16>,
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn evaluate(args: EvaluateArgs) -> Result<()> {
    use melanoscope_shared::metrics::Aggregation;
    use melanoscope_trainer::train::checkpoint_eval::{EvaluatePlan, evaluate_checkpoint};
    let EvaluateArgs { checkpoint, data, top_k, resamples, batch_size, workers, out } = args;
    let TaskData { manifest, split, task, magnification, arch } = data;
    let plan = EvaluatePlan {
        checkpoint,
        arch,
        task,
        manifest,
        split,
        magnification,
        aggregation: top_k.map_or(Aggregation::Mean, Aggregation::TopK),
        resamples,
        batch_size,
        workers,
    };
    let done = evaluate_checkpoint(&plan)?;
    for (partition, unread) in done.unread.iter().filter(|(_, u)| u.count > 0) {
        eprintln!("warning: left out: {}", unread.describe(&format!("{partition:?} patches")));
    }
    let report = done.report;
    std::fs::create_dir_all(&out)?;
    let title = format!("{}, {arch}, {}", task.name(), plan.magnification);
    let md = report.markdown(&title);
    melanoscope_shared::atomic::write_atomic(
        &out.join(melanoscope_shared::run_files::EVAL_REPORT),
        &serde_json::to_vec_pretty(&report)?,
    )?;
    melanoscope_shared::atomic::write_atomic(&out.join("report.md"), md.as_bytes())?;
    melanoscope_shared::atomic::write_atomic(&out.join("report.csv"), report.csv().as_bytes())?;
    println!("{md}");
    println!("wrote {}/report.{{json,md,csv}}", out.display());
    Ok(())
}
