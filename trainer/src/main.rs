//! `melanoscope-train`: the trainer's command line.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use melanoscope_trainer::annotations::{AnnotationPolicy, RegionLabelMap};
use melanoscope_trainer::cohort::load_cohort;
use melanoscope_trainer::data::loader::LoaderConfig;
use melanoscope_trainer::patching::{PatchImageFormat, PatchJob, run_patch_job};
use melanoscope_trainer::slide::MagnificationPresets;
use melanoscope_trainer::split::{kfold_patients, split_patients};
use melanoscope_trainer::synth::cohort::{SynthConfig, generate_cohort};
use melanoscope_trainer::train::mixed::SpeedConfig;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "melanoscope-train", version, about = "Train and export Melanoscope models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ImageFormatArg {
    Png,
    Jpeg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AnnotationsArg {
    Auto,
    None,
}

/// The data a model is trained or evaluated on.
#[derive(clap::Args, Debug)]
struct TaskData {
    /// Patch manifest (.parquet).
    #[arg(long)]
    manifest: PathBuf,
    /// Patient split CSV (from `split`).
    #[arg(long)]
    split: PathBuf,
    /// mm-vs-nevi, mm-vs-in, mm-vs-cn, mm-vs-jn, nevi-3class or all-4class.
    #[arg(long, default_value = "mm-vs-nevi")]
    task: String,
    #[arg(long, default_value = "40X")]
    magnification: String,
    /// resnet18, resnet50 or vgg19.
    #[arg(long, default_value = "resnet50")]
    arch: String,
}

/// Loader settings for `size`-pixel patches; augmentation and shuffling go together (training).
fn loader_config(batch_size: usize, workers: usize, seed: u64, train: bool, size: i32) -> Result<LoaderConfig> {
    use melanoscope_trainer::data::augment::AugmentConfig;
    Ok(LoaderConfig {
        batch_size,
        workers,
        prefetch: 4,
        seed,
        shuffle: train,
        augment: if train { AugmentConfig::microscope() } else { AugmentConfig::none() },
        normalization: melanoscope_shared::image::Normalization::IMAGENET,
        size: u32::try_from(size).with_context(|| format!("patch size {size} in the manifest"))?,
        slide_cache: 16,
    })
}

/// How a network is trained (the `train` and `experiment` commands).
#[derive(clap::Args, Debug, Clone)]
struct TrainArgs {
    /// Pretrained weights (.safetensors or .ot, torchvision names), or `none` to train from scratch.
    #[arg(long, default_value = "none")]
    weights: String,
    #[arg(long, value_enum, default_value = "fine-tune")]
    strategy: StrategyArg,
    /// With --strategy staged: the epoch the backbone starts training.
    #[arg(long, default_value_t = 2)]
    unfreeze_epoch: u64,
    /// With --strategy staged: the backbone's rate relative to the head's.
    #[arg(long, default_value_t = 0.1)]
    backbone_lr_scale: f64,
    #[arg(long, value_enum, default_value = "adamw")]
    optimizer: OptimizerArg,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    #[arg(long, default_value_t = 10)]
    epochs: u64,
    #[arg(long, default_value_t = 1)]
    warmup_epochs: u64,
    /// Stop after this many epochs without a better validation AUC.
    #[arg(long, default_value_t = 3)]
    patience: u64,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 4)]
    workers: usize,
    #[arg(long, default_value_t = 20_261_125)]
    seed: u64,
    /// Train without augmentation.
    #[arg(long)]
    no_augment: bool,
    /// Do not weight the loss by inverse class frequency.
    #[arg(long)]
    no_balance: bool,
    /// fp32, fp32-cl, fp16 or fp16-cl (cl: channels-last); auto takes fp16-cl on a GPU, fp32 on the CPU.
    #[arg(long, default_value = "auto")]
    speed: String,
}

impl TrainArgs {
    fn fit_config(
        &self,
        arch: melanoscope_trainer::model::Arch,
        classes: usize,
        size: i32,
        out_dir: PathBuf,
        device: tch::Device,
    ) -> Result<melanoscope_trainer::train::fit::FitConfig> {
        use melanoscope_trainer::train::fit::{FitConfig, Strategy};
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
            speed: match self.speed.as_str() {
                "auto" => SpeedConfig::fastest_for(device),
                other => SpeedConfig::parse(other).map_err(anyhow::Error::msg)?,
            },
            init_seed: self.seed,
            stop_after: None,
        })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StrategyArg {
    LinearProbe,
    FineTune,
    Staged,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OptimizerArg {
    Sgd,
    Adamw,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the compute devices libtorch sees, as JSON.
    Info,
    /// Cut the slides of a cohort into 256x256 patches at one or more magnifications.
    Patch {
        /// Cohort CSV: slide, slide_id, patient_id, label (MM/IN/CN/JN), optional site, um_per_px.
        #[arg(long)]
        cohort: PathBuf,
        /// Output folder (manifest.parquet, report.json, slides/<id>/{patches.parquet,qc.png}).
        #[arg(long)]
        out: PathBuf,
        /// `all`, or a comma-separated list of 40X, 20X, 10X, 4X or µm/px values.
        #[arg(long, default_value = "all")]
        magnifications: String,
        /// Also write patch images in class folders, like the study's dataset.
        #[arg(long, value_enum)]
        export_images: Option<ImageFormatArg>,
        /// µm/px for slides whose metadata lacks it (the cohort's um_per_px column wins).
        #[arg(long)]
        um_per_px: Option<f64>,
        /// Slides processed in parallel.
        #[arg(long, default_value_t = std::thread::available_parallelism().map_or(2, |n| n.get()))]
        threads: usize,
        /// `auto`: patch inside the regions of the cohort's `annotations` column, or of a QuPath
        /// GeoJSON / ASAP / Aperio XML file beside the slide (<stem>.geojson, .json, .xml);
        /// slides with neither use the tissue mask. `none`: tissue mask only.
        #[arg(long, value_enum, default_value = "auto")]
        annotations: AnnotationsArg,
        /// Keep a patch when at least this fraction of it lies inside one included region.
        #[arg(long, default_value_t = 0.5)]
        min_region_overlap: f32,
        /// Region classes that remove patches (comma-separated, compared without case).
        #[arg(long, default_value_t = melanoscope_trainer::annotations::DEFAULT_EXCLUDE_CLASSES.join(","))]
        exclude_classes: String,
        /// Only these region classes are patched (comma-separated); any other class is an error.
        #[arg(long)]
        include_classes: Option<String>,
        /// Patch labels from region classes: `standard` (MM/Melanoma, IN/Intradermal nevus, ...),
        /// a CSV of class,label rows, or inline `Tumor=MM,Nevus=IN`. Slide labels stay the cohort's.
        #[arg(long)]
        region_labels: Option<String>,
    },
    /// Generate a synthetic skin-lesion cohort: pyramidal TIFF slides, lesion masks, cohort.csv.
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 12)]
        patients: usize,
        #[arg(long, default_value_t = 2)]
        slides_per_patient: usize,
        /// Section width and height in millimetres.
        #[arg(long, default_value_t = 2.0)]
        width_mm: f32,
        #[arg(long, default_value_t = 1.5)]
        height_mm: f32,
        /// Level-0 µm/px (0.25 = 40X).
        #[arg(long, default_value_t = 0.25)]
        um_per_px: f64,
        /// Staining/scanning sites.
        #[arg(long, default_value_t = 3)]
        sites: usize,
        #[arg(long, default_value_t = 20_261_125)]
        seed: u64,
    },
    /// Benchmark patch extraction (batched reads vs one read per patch) on one slide, as JSON.
    /// Without --slide, a synthetic 40X melanoma slide of --width-mm x --height-mm is made first.
    BenchPatch {
        #[arg(long)]
        slide: Option<PathBuf>,
        /// Folder for the generated slide (reused when it exists).
        #[arg(long, default_value = "out/bench")]
        out: PathBuf,
        #[arg(long, default_value_t = 10.0)]
        width_mm: f32,
        #[arg(long, default_value_t = 7.5)]
        height_mm: f32,
        #[arg(long, default_value = "40X")]
        magnification: String,
    },
    /// Benchmark training and inference (patches/s at each speed setting, on a random batch on
    /// the device and fed by the data pipeline from a patch manifest), as JSON.
    Bench {
        /// Comma-separated: resnet18, resnet50, vgg19.
        #[arg(long, default_value = "resnet50,vgg19")]
        archs: String,
        /// Comma-separated: fp32, fp32-cl, fp16, fp16-cl.
        #[arg(long, default_value = "fp32,fp32-cl,fp16-cl")]
        speeds: String,
        /// Speeds also measured with the pipeline feeding the network.
        #[arg(long, default_value = "fp16-cl")]
        pipeline_speeds: String,
        /// Patch manifest for the pipeline measurements (mm-vs-nevi labels); without it only random data.
        #[arg(long)]
        manifest: Option<PathBuf>,
        #[arg(long, default_value = "40X")]
        magnification: String,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        #[arg(long, default_value_t = 8)]
        warmup: usize,
        #[arg(long, default_value_t = 30)]
        steps: usize,
        #[arg(long, default_value_t = 256)]
        size: u32,
        /// Loader threads; default: all cores but two.
        #[arg(long)]
        workers: Option<usize>,
        /// Run on the CPU even when a GPU is present.
        #[arg(long)]
        cpu: bool,
        /// libtorch's CPU threads (default: one per core on the CPU, one on a GPU run).
        #[arg(long)]
        torch_threads: Option<i32>,
        /// Feed the pipeline measurements without augmentation.
        #[arg(long)]
        no_augment: bool,
    },
    /// Import patch folders (one subfolder per class: MM, IN, CN, JN) into a patch manifest.
    ImportPatches {
        /// Folder holding one subfolder per class.
        #[arg(long)]
        folder: PathBuf,
        /// Output manifest (.parquet).
        #[arg(long)]
        out: PathBuf,
        /// CSV with file,patient_id[,slide_id]; without it the patient is the file-name prefix before `_`.
        #[arg(long)]
        patients: Option<PathBuf>,
        /// Magnification of the patches (40X, 20X, 10X, 4X or a µm/px value).
        #[arg(long)]
        magnification: String,
    },
    /// Score a colour-only classifier (patch mean/std of RGB) on a manifest and split, as JSON.
    ColourBaseline {
        #[arg(long)]
        manifest: PathBuf,
        #[arg(long)]
        split: PathBuf,
        #[arg(long, default_value = "40X")]
        magnification: String,
    },
    /// Render microscope camera frames (JPEG) of each lesion class from synthetic scenes.
    Frames {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 2)]
        per_class: usize,
        /// Camera µm/px (from the objective's calibration).
        #[arg(long, default_value_t = 0.5)]
        um_per_px: f64,
        #[arg(long, default_value_t = 1920)]
        width: u32,
        #[arg(long, default_value_t = 1080)]
        height: u32,
        #[arg(long, default_value_t = 20_261_125)]
        seed: u64,
    },
    /// Train a network for one of the study's tasks on a patch manifest and patient split
    /// (validation AUC picks the best epoch; --resume continues an interrupted run).
    Train {
        #[command(flatten)]
        data: TaskData,
        #[command(flatten)]
        training: TrainArgs,
        /// Continue the run in --out after its last finished epoch.
        #[arg(long)]
        resume: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluate a checkpoint of a binary melanoma task on the split's test patients: patch, slide
    /// and patient tables with thresholds chosen on validation (report.{json,md,csv}).
    Evaluate {
        #[arg(long)]
        checkpoint: PathBuf,
        #[command(flatten)]
        data: TaskData,
        /// Slide/patient aggregation of patch probabilities: mean, or the mean of the top K.
        #[arg(long)]
        top_k: Option<usize>,
        #[arg(long, default_value_t = 1000)]
        resamples: usize,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value_t = 4)]
        workers: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Explain a checkpoint on whole slides: per slide a probability heatmap, a CAM mosaic,
    /// regions of interest (PNG and QuPath GeoJSON) and figure panels of the most suspicious
    /// patches; with ground-truth masks beside the slides, pointing game and Dice (summary.json).
    Explain {
        #[arg(long)]
        checkpoint: PathBuf,
        /// Patch manifest (.parquet); tissue-mask patching covers whole slides.
        #[arg(long)]
        manifest: PathBuf,
        /// Patient split CSV; with it only --partition's slides are explained.
        #[arg(long)]
        split: Option<PathBuf>,
        #[arg(long, default_value = "test")]
        partition: String,
        #[arg(long, default_value = "40X")]
        magnification: String,
        #[arg(long, default_value = "resnet50")]
        arch: String,
        /// auto (CAM for ResNet, Grad-CAM for VGG19), cam or grad-cam.
        #[arg(long, default_value = "auto")]
        method: String,
        /// Melanoma probability at which a patch joins a region of interest.
        #[arg(long, default_value_t = 0.5)]
        roi_threshold: f32,
        /// Thumbnail pixels per patch side in the heatmap and mosaic.
        #[arg(long, default_value_t = 32)]
        cell_px: u32,
        /// Figure panels for each slide's most suspicious patches.
        #[arg(long, default_value_t = 2)]
        panels: usize,
        #[arg(long, default_value_t = 16)]
        batch_size: usize,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Run the study's experiments: each architecture on each preset (task@magnification),
    /// trained, evaluated on the test patients, and gathered into experiments.{md,csv,json} with
    /// ROC curves and confusion matrices (SVG) per run. Re-running resumes unfinished runs.
    Experiment {
        /// Patch manifest (.parquet).
        #[arg(long)]
        manifest: PathBuf,
        /// Patient split CSV (from `split`).
        #[arg(long)]
        split: PathBuf,
        /// Comma-separated: resnet18, resnet50, vgg19.
        #[arg(long, default_value = "resnet50,vgg19")]
        archs: String,
        /// `all` (the study's nine) or a comma-separated list such as mm-vs-nevi@40X,nevi-3class@40X.
        #[arg(long, default_value = "all")]
        presets: String,
        /// Folder of pretrained weights named <arch>.safetensors (overrides --weights per architecture).
        #[arg(long)]
        weights_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 1000)]
        resamples: usize,
        #[command(flatten)]
        training: TrainArgs,
        #[arg(long)]
        out: PathBuf,
    },
    /// Split a cohort's patients into train/validation/test (stratified by label, seeded).
    Split {
        #[arg(long)]
        cohort: PathBuf,
        /// Output CSV (patient_id, partition, stratum); with --kfold, one file per fold.
        #[arg(long)]
        out: PathBuf,
        /// Train, validation and test fractions.
        #[arg(long, default_value = "0.70,0.15,0.15")]
        fractions: String,
        #[arg(long, default_value_t = 20_261_125)]
        seed: u64,
        /// Write K patient folds instead of one split.
        #[arg(long)]
        kfold: Option<usize>,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Info => println!("{}", serde_json::to_string_pretty(&melanoscope_trainer::device::report())?),
        Command::Patch {
            cohort,
            out,
            magnifications,
            export_images,
            um_per_px,
            threads,
            annotations,
            min_region_overlap,
            exclude_classes,
            include_classes,
            region_labels,
        } => {
            let magnifications =
                MagnificationPresets::default().parse_list(&magnifications).map_err(anyhow::Error::msg)?;
            if !(0.0..=1.0).contains(&min_region_overlap) {
                bail!("--min-region-overlap {min_region_overlap}: expected a fraction between 0 and 1");
            }
            let list = |s: &str| -> Vec<String> {
                s.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect()
            };
            let annotations = match annotations {
                AnnotationsArg::None => None,
                AnnotationsArg::Auto => Some(AnnotationPolicy {
                    exclude_classes: list(&exclude_classes),
                    include_classes: include_classes.as_deref().map(list),
                    region_labels: region_labels
                        .as_deref()
                        .map(RegionLabelMap::parse_spec)
                        .transpose()
                        .map_err(anyhow::Error::msg)?,
                    min_overlap: min_region_overlap,
                }),
            };
            let cohort = load_cohort(&cohort)?;
            let job = PatchJob {
                out_dir: out,
                magnifications,
                mask_um_per_px: 8.0,
                export_images: export_images.map(|f| match f {
                    ImageFormatArg::Png => PatchImageFormat::Png,
                    ImageFormatArg::Jpeg => PatchImageFormat::Jpeg,
                }),
                default_um_per_px: um_per_px,
                threads,
                show_progress: true,
                annotations,
            };
            let report = run_patch_job(&job, &cohort).map_err(anyhow::Error::msg)?;
            print!("{}", report.summary());
        }
        Command::Synth { out, patients, slides_per_patient, width_mm, height_mm, um_per_px, sites, seed } => {
            let cfg = SynthConfig {
                out_dir: out,
                patients,
                slides_per_patient,
                width_um: width_mm * 1000.0,
                height_um: height_mm * 1000.0,
                um_per_px,
                sites,
                seed,
            };
            let bar = indicatif::ProgressBar::new((patients * slides_per_patient) as u64);
            let (csv, slides) = generate_cohort(&cfg, |s| {
                bar.set_message(s.slide_id.clone());
                bar.inc(1);
            })
            .map_err(anyhow::Error::msg)?;
            bar.finish_and_clear();
            println!("wrote {} slides of {} patients; cohort {}", slides.len(), patients, csv.display());
        }
        Command::Bench {
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
        } => {
            use melanoscope_trainer::train::bench::{BenchConfig, run};
            use melanoscope_trainer::train::task::Task;
            let list =
                |s: &str| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
            let parse_speeds = |s: &str| {
                list(s).iter().map(|m| SpeedConfig::parse(m)).collect::<Result<Vec<_>, _>>().map_err(anyhow::Error::msg)
            };
            let device = if cpu { tch::Device::Cpu } else { melanoscope_trainer::device::best_device() };
            melanoscope_trainer::device::share_cores_with_loader(device);
            if let Some(n) = torch_threads {
                tch::set_num_threads(n.max(1));
            }
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let pipeline = match manifest {
                Some(m) => {
                    let rows = melanoscope_trainer::manifest::read_manifest(&m)?;
                    let task = Task::MmVsNevi;
                    let samples = melanoscope_trainer::data::loader::samples_where(
                        rows.iter().filter(|r| {
                            r.magnification.eq_ignore_ascii_case(&magnification) && r.patch_size == size as i32
                        }),
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
                archs: list(&archs)
                    .iter()
                    .map(|a| melanoscope_trainer::model::Arch::parse(a))
                    .collect::<Result<_, _>>()
                    .map_err(anyhow::Error::msg)?,
                speeds: parse_speeds(&speeds)?,
                pipeline_speeds: parse_speeds(&pipeline_speeds)?,
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
        }
        Command::BenchPatch { slide, out, width_mm, height_mm, magnification } => {
            let path = match slide {
                Some(p) => p,
                None => {
                    let path = out.join(format!("bench-{width_mm}x{height_mm}mm-40x.tif"));
                    let outline = path.with_extension("geojson");
                    if !path.exists() || !outline.exists() {
                        std::fs::create_dir_all(&out)?;
                        // Deterministic from its seed: the outline fits a slide rendered earlier.
                        let scene = melanoscope_trainer::synth::scene::Scene::new(
                            melanoscope_trainer::cohort::Lesion::MM,
                            width_mm * 1000.0,
                            height_mm * 1000.0,
                            7,
                            0,
                        );
                        if !path.exists() {
                            eprintln!("rendering {} ...", path.display());
                            melanoscope_trainer::synth::slide::write_slide(&scene, 0.25, 40, &path)
                                .map_err(anyhow::Error::msg)?;
                        }
                        // The lesion's outline beside it, so the benchmark also times annotated patching.
                        let geo = melanoscope_trainer::synth::slide::regions_geojson(
                            std::slice::from_ref(&scene.lesion_outline),
                            0.25,
                            "MM",
                        );
                        melanoscope_shared::atomic::write_atomic(&outline, &serde_json::to_vec(&geo)?)?;
                    }
                    path
                }
            };
            let m = MagnificationPresets::default().parse(&magnification).map_err(anyhow::Error::msg)?;
            let report = melanoscope_trainer::patching::run_patch_bench(&path, &m.name, m.um_per_px)
                .map_err(anyhow::Error::msg)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::ImportPatches { folder, out, patients, magnification } => {
            let m = MagnificationPresets::default().parse(&magnification).map_err(anyhow::Error::msg)?;
            let source = match patients {
                Some(csv) => melanoscope_trainer::import::PatientSource::Csv(csv),
                None => melanoscope_trainer::import::PatientSource::Prefix('_'),
            };
            let report = melanoscope_trainer::import::import_patch_folders(
                &folder,
                &source,
                &m.name,
                m.um_per_px,
                melanoscope_shared::MAX_BACKGROUND_FRACTION,
                &out,
            )
            .map_err(anyhow::Error::msg)?;
            for p in &report.problems {
                eprintln!("warning: {p}");
            }
            println!(
                "imported {} patches {:?}; {} dropped (over 40% background); wrote {}",
                report.imported,
                report.per_class,
                report.dropped_background,
                out.display()
            );
        }
        Command::ColourBaseline { manifest, split, magnification } => {
            let rows = melanoscope_trainer::manifest::read_manifest(&manifest)?;
            let split = melanoscope_trainer::split::PatientSplit::load(&split)?;
            let report =
                melanoscope_trainer::synth::colour_baseline::colour_only_baseline(&rows, &split, &magnification)
                    .map_err(anyhow::Error::msg)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Frames { out, per_class, um_per_px, width, height, seed } => {
            let files =
                melanoscope_trainer::synth::frames::write_frame_set(&out, per_class, um_per_px, (width, height), seed)
                    .map_err(anyhow::Error::msg)?;
            println!("wrote {} frames and frames.csv to {}", files.len(), out.display());
        }
        Command::Train { data: TaskData { manifest, split, task, magnification, arch }, training, resume, out } => {
            use melanoscope_trainer::split::Partition;
            use melanoscope_trainer::train::fit::fit;
            use melanoscope_trainer::train::task::{Task, task_samples};
            let task = Task::parse(&task).map_err(anyhow::Error::msg)?;
            let arch = melanoscope_trainer::model::Arch::parse(&arch).map_err(anyhow::Error::msg)?;
            let rows = melanoscope_trainer::manifest::read_manifest(&manifest)?;
            let split = melanoscope_trainer::split::PatientSplit::load(&split)?;
            let train = task_samples(&rows, task, &magnification, &split, Partition::Train);
            let val = task_samples(&rows, task, &magnification, &split, Partition::Validation);
            let size = rows
                .iter()
                .find(|r| r.magnification.eq_ignore_ascii_case(&magnification))
                .map_or(256, |r| r.patch_size);
            eprintln!(
                "{}: {} on {} train / {} validation patches at {magnification}, classes {:?}",
                task.name(),
                arch,
                train.len(),
                val.len(),
                task.classes()
            );
            let device = melanoscope_trainer::device::best_device();
            melanoscope_trainer::device::share_cores_with_loader(device);
            let cfg = training.fit_config(arch, task.classes().len(), size, out.clone(), device)?;
            let state = fit(&cfg, std::sync::Arc::new(train), std::sync::Arc::new(val), resume)?;
            println!("{}", serde_json::to_string_pretty(&state)?);
            println!("checkpoints in {}", out.display());
        }
        Command::Evaluate {
            checkpoint,
            data: TaskData { manifest, split, task, magnification, arch },
            top_k,
            resamples,
            batch_size,
            workers,
            out,
        } => {
            use melanoscope_trainer::data::loader::samples_where;
            use melanoscope_trainer::split::Partition;
            use melanoscope_trainer::train::evaluate::{PatchPrediction, evaluate_binary};
            use melanoscope_trainer::train::task::{Task, task_rows};
            let task = Task::parse(&task).map_err(anyhow::Error::msg)?;
            if task.classes().len() != 2 {
                bail!(
                    "evaluate handles the binary melanoma tasks (mm-vs-*); {} has {} classes",
                    task.name(),
                    task.classes().len()
                );
            }
            let arch = melanoscope_trainer::model::Arch::parse(&arch).map_err(anyhow::Error::msg)?;
            let rows = melanoscope_trainer::manifest::read_manifest(&manifest)?;
            let split = melanoscope_trainer::split::PatientSplit::load(&split)?;
            let device = melanoscope_trainer::device::best_device();
            melanoscope_trainer::device::share_cores_with_loader(device);
            let mut vs = tch::nn::VarStore::new(device);
            let net = melanoscope_trainer::model::Network::new(&vs.root(), arch, 2);
            melanoscope_trainer::model::load_weights(&mut vs, &checkpoint, &[])?;
            // fp32 arithmetic, as the exported model computes: the thresholds chosen here are
            // the ones the edge applies.
            let speed = SpeedConfig { channels_last: device.is_cuda(), ..SpeedConfig::FP32 };
            speed.prepare(&vs)?;
            let predictions = |partition: Partition| -> Result<Vec<PatchPrediction>> {
                let chosen = task_rows(&rows, task, &magnification, &split, partition);
                let samples = std::sync::Arc::new(samples_where(chosen.iter().copied(), |r| task.class_of(&r.label)));
                let size = chosen.first().map_or(256, |r| r.patch_size);
                let loader = loader_config(batch_size, workers, 0, false, size)?;
                let probs =
                    melanoscope_trainer::train::step::predict_samples(&net, samples.clone(), &loader, device, speed)?;
                let unread = probs.iter().filter(|p| p.is_none()).count();
                if unread > 0 {
                    eprintln!("warning: {unread} {partition:?} patches could not be read and are left out");
                }
                Ok(PatchPrediction::from_probabilities(&chosen, &samples, probs))
            };
            let (val, test) = (predictions(Partition::Validation)?, predictions(Partition::Test)?);
            let how = top_k.map_or(
                melanoscope_shared::metrics::Aggregation::Mean,
                melanoscope_shared::metrics::Aggregation::TopKMean,
            );
            let report = evaluate_binary(&val, &test, how, resamples, 20_261_125).map_err(anyhow::Error::msg)?;
            std::fs::create_dir_all(&out)?;
            let title = format!("{}, {arch}, {magnification}", task.name());
            let md = report.markdown(&title);
            melanoscope_shared::atomic::write_atomic(&out.join("report.json"), &serde_json::to_vec_pretty(&report)?)?;
            melanoscope_shared::atomic::write_atomic(&out.join("report.md"), md.as_bytes())?;
            melanoscope_shared::atomic::write_atomic(&out.join("report.csv"), report.csv().as_bytes())?;
            println!("{md}");
            println!("wrote {}/report.{{json,md,csv}}", out.display());
        }
        Command::Explain {
            checkpoint,
            manifest,
            split,
            partition,
            magnification,
            arch,
            method,
            roi_threshold,
            cell_px,
            panels,
            batch_size,
            workers,
            out,
        } => {
            use melanoscope_trainer::explain::cam::CamMethod;
            use melanoscope_trainer::explain::run::{ExplainConfig, explain_slides, summarise};
            let arch = melanoscope_trainer::model::Arch::parse(&arch).map_err(anyhow::Error::msg)?;
            let method = CamMethod::parse(&method, arch).map_err(anyhow::Error::msg)?;
            let rows = melanoscope_trainer::manifest::read_manifest(&manifest)?;
            let split = split.map(|p| melanoscope_trainer::split::PatientSplit::load(&p)).transpose()?;
            let partition = melanoscope_trainer::split::Partition::parse(&partition)
                .with_context(|| format!("--partition {partition:?}: expected train, validation or test"))?;
            let chosen: Vec<_> = rows
                .iter()
                .filter(|r| r.magnification.eq_ignore_ascii_case(&magnification))
                .filter(|r| split.as_ref().is_none_or(|s| s.partition_of(&r.patient_id) == Some(partition)))
                .collect();
            if chosen.is_empty() {
                bail!("{}: no {magnification} patches to explain (partition {partition:?})", manifest.display());
            }
            let device = melanoscope_trainer::device::best_device();
            let mut vs = tch::nn::VarStore::new(device);
            let net = melanoscope_trainer::model::Network::new(&vs.root(), arch, 2);
            melanoscope_trainer::model::load_weights(&mut vs, &checkpoint, &[])?;
            let size = chosen[0].patch_size;
            let cfg = ExplainConfig {
                arch,
                method,
                class: 1,
                loader: loader_config(batch_size, workers, 0, false, size)?,
                device,
                out_dir: out.clone(),
                roi_threshold,
                cell_px,
                panels,
            };
            let (slides, failed) = explain_slides(&net, &vs, &cfg, &chosen);
            for f in &failed {
                eprintln!("warning: {f}");
            }
            let summary = serde_json::json!({
                "checkpoint": checkpoint,
                "arch": arch.name(),
                "method": format!("{method:?}"),
                "roi_threshold": roi_threshold,
                "localisation": summarise(&slides),
                "slides": slides,
                "failed": failed,
            });
            std::fs::create_dir_all(&out)?;
            melanoscope_shared::atomic::write_atomic(&out.join("summary.json"), &serde_json::to_vec_pretty(&summary)?)?;
            println!("{}", serde_json::to_string_pretty(&summary["localisation"])?);
            println!("explained {} slides into {}", slides.len(), out.display());
        }
        Command::Experiment { manifest, split, archs, presets, weights_dir, resamples, training, out } => {
            use melanoscope_trainer::experiment::grid::{GridConfig, Outcome, run_grid};
            let archs = archs
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(melanoscope_trainer::model::Arch::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?;
            let presets = melanoscope_trainer::experiment::parse_presets(&presets).map_err(anyhow::Error::msg)?;
            let rows = melanoscope_trainer::manifest::read_manifest(&manifest)?;
            let split = melanoscope_trainer::split::PatientSplit::load(&split)?;
            let device = melanoscope_trainer::device::best_device();
            melanoscope_trainer::device::share_cores_with_loader(device);
            let size = rows.first().map_or(256, |r| r.patch_size);
            let fit = training.fit_config(melanoscope_trainer::model::Arch::ResNet50, 2, size, out.clone(), device)?;
            let cfg = GridConfig { archs, presets, fit, weights_dir, resamples, out_dir: out.clone() };
            let total = cfg.archs.len() * cfg.presets.len();
            let bar = indicatif::ProgressBar::new(total as u64);
            let results = run_grid(&cfg, &rows, &split, |r| {
                let status = match &r.outcome {
                    Outcome::Binary { .. } | Outcome::Multiclass { .. } => "done".to_string(),
                    Outcome::Skipped { reason } => format!("skipped ({reason})"),
                    Outcome::Failed { error } => format!("FAILED ({error})"),
                };
                bar.println(format!("{} {}: {status}", r.arch, r.preset));
                bar.inc(1);
            })
            .map_err(anyhow::Error::msg)?;
            bar.finish_and_clear();
            println!("{}", std::fs::read_to_string(out.join("experiments.md"))?);
            let failed = results.iter().filter(|r| matches!(r.outcome, Outcome::Failed { .. })).count();
            if failed > 0 {
                bail!("{failed} of {total} runs failed; see {}", out.join("experiments.md").display());
            }
        }
        Command::Split { cohort, out, fractions, seed, kfold } => {
            let cohort = load_cohort(&cohort)?;
            let f: Vec<f64> =
                fractions.split(',').map(|s| s.trim().parse::<f64>()).collect::<Result<_, _>>().with_context(|| {
                    format!("--fractions {fractions:?}: expected three numbers such as 0.7,0.15,0.15")
                })?;
            let [train, val, test] = f[..] else { bail!("--fractions needs three numbers, got {}", f.len()) };
            match kfold {
                None => {
                    let split = split_patients(&cohort.slides, [train, val, test], seed)?;
                    split.save(&out)?;
                    for ((part, label), n) in split.counts() {
                        println!("{part:>10} {label}: {n} patients");
                    }
                    println!("wrote {}", out.display());
                }
                Some(k) => {
                    let folds = kfold_patients(&cohort.slides, k, seed)?;
                    let mut text = String::from("patient_id,fold\n");
                    for (i, fold) in folds.iter().enumerate() {
                        for p in fold {
                            text.push_str(&format!("{p},{i}\n"));
                        }
                    }
                    melanoscope_shared::atomic::write_atomic(&out, text.as_bytes())?;
                    println!("wrote {k} folds to {}", out.display());
                }
            }
        }
    }
    Ok(())
}
