//! `melanoscope-train`: the trainer's command line.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use melanoscope_trainer::annotations::{AnnotationPolicy, RegionLabelMap};
use melanoscope_trainer::cohort::load_cohort;
use melanoscope_trainer::patching::{PatchImageFormat, PatchJob, run_patch_job};
use melanoscope_trainer::slide::MagnificationPresets;
use melanoscope_trainer::split::{kfold_patients, split_patients};
use melanoscope_synth::cohort::{SynthConfig, generate_cohort};
use std::path::PathBuf;

mod cli;

use cli::bench::BenchArgs;
use cli::experiment::ExperimentArgs;
use cli::explain::ExplainArgs;
use cli::export::{ExportArgs, KeygenArgs};
use cli::train::{EvaluateArgs, TrainCommandArgs};

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
    Bench(BenchArgs),
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
    Train(TrainCommandArgs),
    /// Evaluate a checkpoint of a binary melanoma task on the split's test patients: patch, slide
    /// and patient tables with thresholds chosen on validation (report.{json,md,csv}).
    Evaluate(EvaluateArgs),
    /// Explain a checkpoint on whole slides: per slide a probability heatmap, a CAM mosaic,
    /// regions of interest (PNG and QuPath GeoJSON) and figure panels of the most suspicious
    /// patches; with ground-truth masks beside the slides, pointing game and Dice (summary.json).
    Explain(ExplainArgs),
    /// Run the study's experiments: each architecture on each preset (task@magnification),
    /// trained, evaluated on the test patients, and gathered into experiments.{md,csv,json} with
    /// ROC curves and confusion matrices (SVG) per run. Re-running resumes unfinished runs.
    Experiment(ExperimentArgs),
    /// Export a checkpoint as ONNX (opset 13, BatchNorm folded, outputs `logits` and `features`)
    /// in f32, f16 or INT8 (QOperator, calibrated on validation fields), optionally as a signed
    /// model bundle for the edge with an agreement report against f32.
    Export(ExportArgs),
    /// Make an ed25519 key pair for signing model bundles (`export --sign-key`).
    Keygen(KeygenArgs),
    /// Per-field latency of exported models in tract and onnxruntime (same files, threads and
    /// batches), with tract's time by operation, as JSON.
    BenchExport(cli::bench_export::BenchExportArgs),
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
        Command::Bench(args) => cli::bench::bench(args)?,
        Command::BenchPatch { slide, out, width_mm, height_mm, magnification } => {
            let path = match slide {
                Some(p) => p,
                None => {
                    let path = out.join(format!("bench-{width_mm}x{height_mm}mm-40x.tif"));
                    let outline = path.with_extension("geojson");
                    if !path.exists() || !outline.exists() {
                        std::fs::create_dir_all(&out)?;
                        // Deterministic from its seed: the outline fits a slide rendered earlier.
                        let scene = melanoscope_synth::scene::Scene::new(
                            melanoscope_trainer::cohort::Lesion::MM,
                            width_mm * 1000.0,
                            height_mm * 1000.0,
                            7,
                            0,
                        );
                        if !path.exists() {
                            eprintln!("rendering {} ...", path.display());
                            melanoscope_synth::slide::write_slide(&scene, 0.25, 40, &path)
                                .map_err(anyhow::Error::msg)?;
                        }
                        // The lesion's outline beside it, so the benchmark also times annotated patching.
                        let geo = melanoscope_synth::slide::regions_geojson(
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
                melanoscope_trainer::experiment::colour_baseline::colour_only_baseline(&rows, &split, &magnification)
                    .map_err(anyhow::Error::msg)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Frames { out, per_class, um_per_px, width, height, seed } => {
            let files =
                melanoscope_synth::frame_set::write_frame_set(&out, per_class, um_per_px, (width, height), seed)
                    .map_err(anyhow::Error::msg)?;
            println!("wrote {} frames and frames.csv to {}", files.len(), out.display());
        }
        Command::Train(args) => cli::train::train(args)?,
        Command::Evaluate(args) => cli::train::evaluate(args)?,
        Command::Explain(args) => cli::explain::explain(args)?,
        Command::Experiment(args) => cli::experiment::experiment(args)?,
        Command::Export(args) => cli::export::export(args)?,
        Command::Keygen(args) => cli::export::keygen(args)?,
        Command::BenchExport(args) => cli::bench_export::bench_export(args)?,
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
