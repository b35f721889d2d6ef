//! `import-patches`, `colour-baseline` and `split`: patch folders into a manifest, a colour-only
//! baseline on a manifest, and the patient split of a cohort.

use anyhow::{Result, bail};
use melanoscope_trainer::cohort::load_cohort;
use melanoscope_trainer::import::{PatientSource, import_patch_folders};
use melanoscope_trainer::slide::Magnification;
use melanoscope_trainer::split::{PatientSplit, kfold_patients, split_patients};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Folder holding one subfolder per class.
    #[arg(long)]
    pub folder: PathBuf,
    /// Output manifest (.parquet).
    #[arg(long)]
    pub out: PathBuf,
    /// CSV with file,patient_id[,slide_id]; without it the patient is the file-name prefix before `_`.
    #[arg(long)]
    pub patients: Option<PathBuf>,
    /// Magnification of the patches (40X, 20X, 10X, 4X or a µm/px value).
    #[arg(long)]
    pub magnification: Magnification,
}

pub fn import(args: ImportArgs) -> Result<()> {
    let source = match args.patients {
        Some(csv) => PatientSource::Csv(csv),
        None => PatientSource::Prefix('_'),
    };
    let m = &args.magnification;
    let report = import_patch_folders(
        &args.folder,
        &source,
        &m.name,
        m.um_per_px,
        melanoscope_shared::MAX_BACKGROUND_FRACTION,
        &args.out,
    )?;
    for p in &report.problems {
        eprintln!("warning: {p}");
    }
    println!(
        "imported {} patches {:?}; {} dropped (over 40% background); wrote {}",
        report.imported,
        report.per_class,
        report.dropped_background,
        args.out.display()
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ColourBaselineArgs {
    #[arg(long)]
    pub manifest: PathBuf,
    #[arg(long)]
    pub split: PathBuf,
    #[arg(long, default_value = "40X")]
    pub magnification: String,
}

pub fn colour_baseline(args: ColourBaselineArgs) -> Result<()> {
    let rows = melanoscope_trainer::manifest::read_manifest(&args.manifest)?;
    let split = PatientSplit::load(&args.split)?;
    let report =
        melanoscope_trainer::experiment::colour_baseline::colour_only_baseline(&rows, &split, &args.magnification)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct SplitArgs {
    #[arg(long)]
    pub cohort: PathBuf,
    /// Output CSV (patient_id, partition, stratum); with --kfold, one file per fold.
    #[arg(long)]
    pub out: PathBuf,
    /// Train, validation and test fractions.
    #[arg(long, value_delimiter = ',', default_value = "0.70,0.15,0.15")]
    pub fractions: Vec<f64>,
    #[arg(long, default_value_t = 20_261_125)]
    pub seed: u64,
    /// Write K patient folds instead of one split.
    #[arg(long)]
    pub kfold: Option<usize>,
}

pub fn split(args: SplitArgs) -> Result<()> {
    let cohort = load_cohort(&args.cohort)?;
    let [train, val, test] = args.fractions[..] else {
        bail!("--fractions needs three numbers such as 0.7,0.15,0.15, got {}", args.fractions.len())
    };
    match args.kfold {
        None => {
            let split = split_patients(&cohort.slides, [train, val, test], args.seed)?;
            split.save(&args.out)?;
            for ((part, label), n) in split.counts() {
                println!("{part:>10} {label}: {n} patients");
            }
            println!("wrote {}", args.out.display());
        }
        Some(k) => {
            let folds = kfold_patients(&cohort.slides, k, args.seed)?;
            let mut text = String::from("patient_id,fold\n");
            for (i, fold) in folds.iter().enumerate() {
                for p in fold {
                    text.push_str(&format!("{p},{i}\n"));
                }
            }
            melanoscope_shared::atomic::write_atomic(&args.out, text.as_bytes())?;
            println!("wrote {k} folds to {}", args.out.display());
        }
    }
    Ok(())
}
