//! Arguments several commands share: the data a model is trained or evaluated on, how it is
//! trained, and the loader settings.

use anyhow::{Context, Result};
use clap::ValueEnum;
use melanoscope_trainer::data::loader::LoaderConfig;
use melanoscope_trainer::model::Arch;
use melanoscope_trainer::train::mixed::SpeedConfig;
use melanoscope_trainer::train::task::Task;
use std::path::PathBuf;

/// The data a model is trained or evaluated on.
#[derive(clap::Args, Debug)]
pub struct TaskData {
    /// Patch manifest (.parquet).
    #[arg(long)]
    pub manifest: PathBuf,
    /// Patient split CSV (from `split`).
    #[arg(long)]
    pub split: PathBuf,
    /// mm-vs-nevi, mm-vs-in, mm-vs-cn, mm-vs-jn, nevi-3class or all-4class.
    #[arg(long, default_value = "mm-vs-nevi")]
    pub task: Task,
    #[arg(long, default_value = "40X")]
    pub magnification: String,
    /// resnet18, resnet50 or vgg19.
    #[arg(long, default_value = "resnet50")]
    pub arch: Arch,
}

/// Loader settings for `size`-pixel patches; augmentation and shuffling go together (training).
pub fn loader_config(batch_size: usize, workers: usize, seed: u64, train: bool, size: i32) -> Result<LoaderConfig> {
    let size = u32::try_from(size).with_context(|| format!("patch size {size} in the manifest"))?;
    Ok(LoaderConfig::new(batch_size, workers, seed, train, size))
}

/// How a network is trained (the `train` and `experiment` commands).
#[derive(clap::Args, Debug, Clone)]
pub struct TrainingOptions {
    /// Pretrained weights (.safetensors or .ot, torchvision names), or `none` to train from scratch.
    #[arg(long, default_value = "none")]
    pub weights: String,
    #[arg(long, value_enum, default_value = "fine-tune")]
    pub strategy: StrategyArg,
    /// With --strategy staged: the epoch the backbone starts training.
    #[arg(long, default_value_t = 2)]
    pub unfreeze_epoch: u64,
    /// With --strategy staged: the backbone's rate relative to the head's.
    #[arg(long, default_value_t = 0.1)]
    pub backbone_lr_scale: f64,
    #[arg(long, value_enum, default_value = "adamw")]
    pub optimizer: OptimizerArg,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 10)]
    pub epochs: u64,
    #[arg(long, default_value_t = 1)]
    pub warmup_epochs: u64,
    /// Stop after this many epochs without a better validation AUC.
    #[arg(long, default_value_t = 3)]
    pub patience: u64,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    #[arg(long, default_value_t = 20_261_125)]
    pub seed: u64,
    /// Train without augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Do not weight the loss by inverse class frequency.
    #[arg(long)]
    pub no_balance: bool,
    /// fp32, fp32-cl, fp16 or fp16-cl (cl: channels-last); auto takes fp16-cl on a GPU, fp32 on the CPU.
    #[arg(long, default_value = "auto")]
    pub speed: SpeedArg,
}

impl TrainingOptions {
    pub fn fit_config(
        &self,
        arch: Arch,
        classes: usize,
        size: i32,
        out_dir: PathBuf,
        device: tch::Device,
    ) -> Result<melanoscope_trainer::train::fit::FitConfig> {
        use melanoscope_trainer::train::fit::{FitConfig, Progress, Strategy};
        use melanoscope_trainer::train::optim::OptimizerKind;
        Ok(FitConfig {
            arch,
            classes,
            epochs: self.epochs,
            loader: LoaderConfig {
                shuffle: true,
                ..loader_config(self.batch_size, self.workers, self.seed, !self.no_augment, size)?
            },
            optimizer: match self.optimizer {
                OptimizerArg::Sgd => OptimizerKind::Sgd { momentum: 0.9, nesterov: true },
                OptimizerArg::Adamw => OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            },
            lr: self.lr,
            weight_decay: self.weight_decay,
            warmup_epochs: self.warmup_epochs,
            strategy: match self.strategy {
                StrategyArg::LinearProbe => Strategy::LinearProbe,
                StrategyArg::FineTune => Strategy::FineTune,
                StrategyArg::Staged => {
                    Strategy::Staged { unfreeze_epoch: self.unfreeze_epoch, backbone_lr_scale: self.backbone_lr_scale }
                }
            },
            balance_classes: !self.no_balance,
            patience: self.patience,
            weights: (!self.weights.eq_ignore_ascii_case("none")).then(|| PathBuf::from(&self.weights)),
            out_dir,
            device,
            speed: match self.speed {
                SpeedArg::Auto => SpeedConfig::fastest_for(device),
                SpeedArg::Fixed(speed) => speed,
            },
            init_seed: self.seed,
            stop_after: None,
            progress: Progress::Bar,
        })
    }
}

/// `--speed`: `auto`, or one fixed speed mode.
#[derive(Clone, Copy, Debug)]
pub enum SpeedArg {
    Auto,
    Fixed(SpeedConfig),
}

impl std::str::FromStr for SpeedArg {
    type Err = melanoscope_shared::choice::UnknownChoice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(SpeedArg::Auto);
        }
        SpeedConfig::parse(s).map(SpeedArg::Fixed).map_err(|mut e| {
            e.expected = format!("auto, {}", e.expected);
            e
        })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StrategyArg {
    LinearProbe,
    FineTune,
    Staged,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizerArg {
    Sgd,
    Adamw,
}
