//! `bench`: training and inference throughput on the device, with and without the data pipeline.

use super::args::loader_config;
use anyhow::{Result, bail};
use melanoscope_trainer::data::loader::LoaderConfig;
use melanoscope_trainer::model::Arch;
use melanoscope_trainer::train::mixed::SpeedConfig;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Comma-separated: resnet18, resnet50, vgg19.
    #[arg(long, value_delimiter = ',', default_value = "resnet50,vgg19")]
    pub archs: Vec<Arch>,
    /// Comma-separated: fp32, fp32-cl, fp16, fp16-cl.
    #[arg(long, value_delimiter = ',', default_value = "fp32,fp32-cl,fp16-cl")]
    pub speeds: Vec<SpeedConfig>,
    /// Speeds also measured with the pipeline feeding the network.
    #[arg(long, value_delimiter = ',', default_value = "fp16-cl")]
    pub pipeline_speeds: Vec<SpeedConfig>,
    /// Patch manifest for the pipeline measurements (mm-vs-nevi labels); without it only random data.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    #[arg(long, default_value = "40X")]
    pub magnification: String,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 8)]
    pub warmup: usize,
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    /// Loader threads; default: all cores but two.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Run on the CPU even when a GPU is present.
    #[arg(long)]
    pub cpu: bool,
    /// libtorch's CPU threads (default: one per core on the CPU, one on a GPU run).
    #[arg(long)]
    pub torch_threads: Option<i32>,
    /// Feed the pipeline measurements without augmentation.
    #[arg(long)]
    pub no_augment: bool,
}

pub fn bench(args: BenchArgs) -> Result<()> {
    let BenchArgs {
        archs,
        speeds,
        pipeline_speeds,
        manifest,
        magnification,
        batch_size,
        warmup,
        steps,
        size,
        workers,
        cpu,
        torch_threads,
        no_augment,
    } = args;
    use melanoscope_trainer::train::bench::{BenchConfig, run};
    use melanoscope_trainer::train::task::Task;
    let device = if cpu { tch::Device::Cpu } else { melanoscope_trainer::device::best_device() };
    melanoscope_trainer::device::share_cores_with_loader(device);
    if let Some(n) = torch_threads {
        tch::set_num_threads(n.max(1));
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pipeline = match manifest {
        Some(m) => {
            let rows = melanoscope_slides::manifest::read_manifest(&m)?;
            let task = Task::MmVsNevi;
            let samples = melanoscope_trainer::data::loader::samples_where(
                rows.iter()
                    .filter(|r| r.magnification.eq_ignore_ascii_case(&magnification) && r.patch_size == size as i32),
                |r| task.class_of(&r.label),
            );
            if samples.len() < batch_size {
                bail!(
                    "{}: {} {size}-px patches at {magnification}, fewer than one batch of {batch_size}",
                    m.display(),
                    samples.len()
                );
            }
            let workers = workers.unwrap_or(cores.saturating_sub(2).max(1));
            let loader = loader_config(batch_size, workers, 1, !no_augment, size as i32)?;
            Some((std::sync::Arc::new(samples), LoaderConfig { prefetch: workers.max(4), ..loader }))
        }
        None => None,
    };
    let cfg = BenchConfig {
        archs,
        speeds,
        pipeline_speeds,
        batch_size,
        warmup_steps: warmup,
        steps,
        size,
        classes: 2,
        device,
        pipeline,
    };
    let rows = run(&cfg, |r| eprintln!("{}", serde_json::to_string(r).unwrap_or_default()))?;
    let report = serde_json::json!({
        "device": format!("{device:?}"),
        "cuda_devices": tch::Cuda::device_count(),
        "cores": cores,
        "torch_threads": tch::get_num_threads(),
        "rows": rows,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
