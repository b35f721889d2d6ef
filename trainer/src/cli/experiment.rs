//! `experiment`: the study's grid of architectures and presets, whole, as one shard of it, or
//! spread over the GPUs of this machine.

use super::args::TrainingOptions;
use anyhow::{Context, Result, bail};
use melanoscope_slides::shard::{Shard, file_sha256};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ExperimentArgs {
    /// Patch manifest (.parquet).
    #[arg(long)]
    pub manifest: PathBuf,
    /// Patient split CSV (from `split`).
    #[arg(long)]
    pub split: PathBuf,
    /// Comma-separated: resnet18, resnet50, vgg19.
    #[arg(long, value_delimiter = ',', default_value = "resnet50,vgg19")]
    pub archs: Vec<melanoscope_trainer::model::Arch>,
    /// `all` (the study's nine) or a comma-separated list such as mm-vs-nevi@40X,nevi-3class@40X.
    #[arg(long, default_value = "all")]
    pub presets: String,
    /// Folder of pretrained weights named <arch>.safetensors (overrides --weights per architecture).
    #[arg(long)]
    pub weights_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    #[command(flatten)]
    pub training: TrainingOptions,
    #[arg(long)]
    pub out: PathBuf,
    /// Run only shard K of N (`K/N`, from 0): the grid cells i with i mod N = K, in
    /// architecture-major order. Inside a Slurm array job it defaults to the task's shard.
    /// `merge experiment --out OUT` joins the shards' tables.
    #[arg(long)]
    pub shard: Option<String>,
    /// Run the cells concurrently, one process per device, each pinned to it
    /// (CUDA_VISIBLE_DEVICES): `0,1,2,3`, `all` (every CUDA device), or `cpu` for a process on
    /// the CPU. The tables are merged when all have finished.
    #[arg(long, conflicts_with = "shard")]
    pub devices: Option<String>,
}

pub fn experiment(args: ExperimentArgs) -> Result<()> {
    if let Some(devices) = &args.devices {
        return on_devices(devices, &args.out);
    }
    let ExperimentArgs { manifest, split, archs, presets, weights_dir, resamples, training, out, shard, devices: _ } =
        args;
    use melanoscope_trainer::experiment::grid::{GridConfig, Outcome, run_grid};
    let shard = Shard::resolve(shard.as_deref())?;
    let preset_list = melanoscope_trainer::experiment::parse_presets(&presets)?;
    // What a shard records for `merge`: the inputs by checksum (not by path: a task resubmitted
    // from another folder reads the same files) and every setting of the runs.
    let settings = if shard.is_whole() {
        serde_json::Value::Null
    } else {
        serde_json::json!({
            "manifest_sha256": file_sha256(&manifest)?,
            "split_sha256": file_sha256(&split)?,
            "archs": archs.iter().map(|a| a.name()).collect::<Vec<_>>(),
            "presets": preset_list.iter().map(|p| p.name()).collect::<Vec<_>>(),
            "weights_dir": weights_dir,
            "resamples": resamples,
            "training": format!("{training:?}"),
        })
    };
    let rows = melanoscope_slides::manifest::read_manifest(&manifest)?;
    let split = melanoscope_slides::split::PatientSplit::load(&split)?;
    let device = melanoscope_trainer::device::best_device();
    melanoscope_trainer::device::share_cores_with_loader(device);
    let size = rows.first().map_or(256, |r| r.patch_size);
    let fit = training.fit_config(melanoscope_trainer::model::Arch::ResNet50, 2, size, out.clone(), device)?;
    let cfg =
        GridConfig { archs, presets: preset_list, fit, weights_dir, resamples, out_dir: out.clone(), shard, settings };
    let total = cfg.archs.len() * cfg.presets.len();
    let mine = (0..total).filter(|i| shard.owns_cell(*i)).count();
    let bar = indicatif::ProgressBar::new(mine as u64);
    let results = run_grid(&cfg, &rows, &split, |r| {
        let status = match &r.outcome {
            Outcome::Binary { .. } | Outcome::Multiclass { .. } => "done".to_string(),
            Outcome::Skipped { reason } => format!("skipped ({reason})"),
            Outcome::Failed { error } => format!("FAILED ({error})"),
        };
        bar.println(format!("{} {}: {status}", r.arch, r.preset));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let tables = if shard.is_whole() { out.join("experiments.md") } else { shard.folder(&out).join("experiments.md") };
    if !shard.is_whole() {
        println!("shard {shard}: {mine} of the grid's {total} cells");
    }
    println!("{}", std::fs::read_to_string(&tables)?);
    let failed = results.iter().filter(|r| matches!(r.outcome, Outcome::Failed { .. })).count();
    if failed > 0 {
        bail!("{failed} of {mine} runs failed; see {}", tables.display());
    }
    Ok(())
}

/// One device of `--devices`: a CUDA index as the child should see it, or the CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Device {
    Cuda(String),
    Cpu,
}

/// `--devices`: `all`, or indices and `cpu`; indices are of the devices this process sees
/// (inside a Slurm allocation, of its CUDA_VISIBLE_DEVICES), checked against their number.
impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cuda(id) => write!(f, "CUDA device {id}"),
            Device::Cpu => write!(f, "the CPU"),
        }
    }
}

fn parse_devices(spec: &str, visible: Option<&str>, count: usize) -> Result<Vec<Device>> {
    let listed: Option<Vec<String>> =
        visible.map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect());
    let id_of = |i: usize| listed.as_ref().map_or(i.to_string(), |l| l[i].clone());
    if spec.trim() == "all" {
        if count == 0 {
            bail!("--devices all: no CUDA device is visible to this process; name `cpu` to run on the CPU");
        }
        return Ok((0..count).map(|i| Device::Cuda(id_of(i))).collect());
    }
    let mut devices = Vec::new();
    let mut seen = Vec::new();
    for item in spec.split(',').map(str::trim) {
        if item.eq_ignore_ascii_case("cpu") {
            devices.push(Device::Cpu);
            continue;
        }
        let i: usize = item
            .parse()
            .with_context(|| format!("--devices {spec}: {item:?} is neither a CUDA device index, `cpu` nor `all`"))?;
        if i >= count {
            bail!("--devices {spec}: device {i}, but this process sees {count} CUDA device(s)");
        }
        if seen.contains(&i) {
            bail!("--devices {spec}: device {i} named twice (one process per device)");
        }
        seen.push(i);
        devices.push(Device::Cuda(id_of(i)));
    }
    if devices.is_empty() {
        bail!("--devices {spec:?}: no device named");
    }
    Ok(devices)
}

/// This command's arguments without `--devices` (each child gets `--shard` instead).
fn without_devices(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for a in args {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        match a.to_str() {
            Some("--devices") => skip_next = true,
            Some(s) if s.starts_with("--devices=") => {}
            _ => out.push(a),
        }
    }
    out
}

fn on_devices(spec: &str, out: &Path) -> Result<()> {
    let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
    let count = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
    let devices = parse_devices(spec, visible.as_deref(), count)?;
    let exe = std::env::current_exe().context("finding this program to start one process per device")?;
    let args = without_devices(std::env::args_os().skip(1));
    let n = devices.len() as u32;
    let mut children = Vec::new();
    for (i, device) in devices.iter().enumerate() {
        let shard = Shard { index: i as u32, count: n };
        let folder = shard.folder(out);
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        let log_path = folder.join("log.txt");
        let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(&args).arg("--shard").arg(shard.to_string());
        cmd.stdout(log.try_clone()?).stderr(log);
        match device {
            Device::Cuda(id) => cmd.env("CUDA_VISIBLE_DEVICES", id),
            // No device visible: the child's tch picks the CPU.
            Device::Cpu => cmd.env("CUDA_VISIBLE_DEVICES", ""),
        };
        let child = cmd.spawn().with_context(|| format!("starting shard {shard} on {device}"))?;
        eprintln!("shard {shard} on {device}: pid {}, log {}", child.id(), log_path.display());
        children.push((shard, device.clone(), log_path, child));
    }
    let mut failures = Vec::new();
    for (shard, device, log, mut child) in children {
        let status = child.wait().with_context(|| format!("waiting for shard {shard}"))?;
        if !status.success() {
            failures.push(format!("shard {shard} on {device} ended with {status}; see {}", log.display()));
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {n} processes failed (the others' cells are finished; the same command resumes):\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    let merged = melanoscope_trainer::merge::experiments::merge_experiment_shards(out, false)?;
    println!("{}", std::fs::read_to_string(&merged.tables)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_map_to_what_each_child_sees() {
        assert_eq!(parse_devices("all", None, 2).unwrap(), [Device::Cuda("0".into()), Device::Cuda("1".into())]);
        // Inside an allocation of GPUs 4 and 6, index 1 is GPU 6.
        assert_eq!(parse_devices("1,cpu", Some("4,6"), 2).unwrap(), [Device::Cuda("6".into()), Device::Cpu]);
        assert_eq!(parse_devices("cpu,cpu", None, 0).unwrap(), [Device::Cpu, Device::Cpu]);
        for (spec, count, why) in [
            ("all", 0, "no CUDA device"),
            ("2", 2, "sees 2 CUDA"),
            ("0,0", 2, "named twice"),
            ("gpu0", 2, "neither"),
            ("", 2, "neither"),
        ] {
            let e = format!("{:#}", parse_devices(spec, None, count).unwrap_err());
            assert!(e.contains(why), "{spec}: {e}");
        }
    }

    #[test]
    fn children_get_the_arguments_less_devices() {
        let args =
            ["experiment", "--devices", "0,1", "--out", "x", "--devices=all", "--epochs", "1"].map(OsString::from);
        let kept = without_devices(args.into_iter());
        assert_eq!(kept, ["experiment", "--out", "x", "--epochs", "1"].map(OsString::from));
    }
}
