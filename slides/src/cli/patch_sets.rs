//! `import-patches` and `split`: patch folders into a manifest, and the patient split of a
//! cohort or manifest.

use crate::cohort::load_cohort;
use crate::import::{ImportSettings, PatientSource, import_patch_folders, parse_class_map};
use crate::slide::Magnification;
use crate::split::{kfold_patients, slides_from_manifest, split_patients};
use anyhow::{Context, Result, bail};
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
    /// Patches with more background (glass) than this fraction are dropped and listed in
    /// `<out>.dropped.csv`; the study's rule is 0.40. Tissue with natural air spaces (lung
    /// alveoli, fat) may need a looser rule.
    #[arg(long, default_value_t = melanoscope_shared::MAX_BACKGROUND_FRACTION)]
    pub max_background: f32,
    /// Folder names that are not MM/IN/CN/JN: inline `lung_aca=MM,lung_n=IN`, or a CSV file of
    /// folder,label rows.
    #[arg(long)]
    pub class_map: Option<String>,
}

pub fn import(args: ImportArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.max_background) {
        bail!("--max-background {}: expected a fraction between 0 and 1", args.max_background);
    }
    let settings = ImportSettings {
        patients: match args.patients {
            Some(csv) => PatientSource::Csv(csv),
            None => PatientSource::Prefix('_'),
        },
        magnification: args.magnification.name.clone(),
        um_per_px: args.magnification.um_per_px,
        max_background: args.max_background,
        class_map: match &args.class_map {
            Some(spec) => parse_class_map(spec).context("--class-map")?,
            None => Default::default(),
        },
    };
    let report = import_patch_folders(&args.folder, &settings, &args.out)?;
    for p in &report.problems {
        eprintln!("warning: {p}");
    }
    let dropped = PathBuf::from(format!("{}.dropped.csv", args.out.display()));
    melanoscope_shared::atomic::write_atomic(&dropped, report.dropped_csv()?.as_bytes())?;
    println!(
        "imported {} patches {:?}; {} dropped (over {:.0}% background, listed in {}); wrote {}",
        report.imported,
        report.per_class,
        report.dropped_background,
        args.max_background * 100.0,
        dropped.display(),
        args.out.display()
    );
    let sizes: Vec<String> = report.sizes.iter().map(|(side, n)| format!("{side} px ({n} files)")).collect();
    if report.sizes.len() > 1 {
        eprintln!("warning: patches of different sizes: {}; train needs one size", sizes.join(", "));
    } else if let Some((&side, _)) = report.sizes.iter().next().filter(|(s, _)| **s != melanoscope_shared::FIELD_SIZE) {
        println!(
            "patch size {side} px (not the study's {}): train and export use {side}",
            melanoscope_shared::FIELD_SIZE
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["cohort", "manifest"])))]
pub struct SplitArgs {
    /// Cohort CSV whose patients are split.
    #[arg(long)]
    pub cohort: Option<PathBuf>,
    /// Or a patch manifest (from `patch` or `import-patches`): its patients are split.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
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
    let slides = match (&args.cohort, &args.manifest) {
        (Some(path), _) => {
            let cohort = load_cohort(path)?;
            for r in &cohort.rejected {
                eprintln!("not split: {r}");
            }
            cohort.slides
        }
        (None, Some(path)) => {
            let rows = crate::manifest::read_manifest(path)?;
            let (slides, own) = slides_from_manifest(&rows);
            if own > 0 {
                println!("{own} patch(es) have no patient id: each is its own patient");
            }
            let patients: std::collections::BTreeSet<&str> = slides.iter().map(|s| s.patient_id.as_str()).collect();
            println!("{} patches of {} patients in {}", rows.len(), patients.len(), path.display());
            if let Some(w) = crate::split::single_patch_patients(&rows) {
                eprintln!("warning: {w}");
            }
            slides
        }
        (None, None) => bail!("give --cohort or --manifest"),
    };
    let [train, val, test] = args.fractions[..] else {
        bail!("--fractions needs three numbers such as 0.7,0.15,0.15, got {}", args.fractions.len())
    };
    match args.kfold {
        None => {
            let split = split_patients(&slides, [train, val, test], args.seed)?;
            split.save(&args.out)?;
            for ((part, label), n) in split.counts() {
                println!("{part:>10} {label}: {n} patients");
            }
            println!("wrote {}", args.out.display());
        }
        Some(k) => {
            let folds = kfold_patients(&slides, k, args.seed)?;
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
