//! `synth` and `frames`: the synthetic cohort and camera frames of `melanoscope-synth`.

use anyhow::Result;
use melanoscope_synth::cohort::{SynthConfig, generate_cohort};
use melanoscope_synth::frame_set::write_frame_set;
use melanoscope_synth::stains::LabStyle;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 12)]
    pub patients: usize,
    #[arg(long, default_value_t = 2)]
    pub slides_per_patient: usize,
    /// Section width and height in millimetres.
    #[arg(long, default_value_t = 2.0)]
    pub width_mm: f32,
    #[arg(long, default_value_t = 1.5)]
    pub height_mm: f32,
    /// Level-0 µm/px (0.25 = 40X).
    #[arg(long, default_value_t = 0.25)]
    pub um_per_px: f64,
    /// Staining/scanning sites.
    #[arg(long, default_value_t = 3)]
    pub sites: usize,
    #[arg(long, default_value_t = 20_261_125)]
    pub seed: u64,
    /// TIFF layout of the slides: aperio (Aperio-style description, read by OpenSlide), or an
    /// OME-TIFF pyramid in SubIFDs (ome-subifds) or in top-level IFDs (ome-toplevel).
    #[arg(long, value_enum, default_value_t = LayoutArg::Aperio)]
    pub layout: LayoutArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    Aperio,
    OmeSubifds,
    OmeToplevel,
}

pub fn synth(args: SynthArgs) -> Result<()> {
    let cfg = SynthConfig {
        out_dir: args.out,
        patients: args.patients,
        slides_per_patient: args.slides_per_patient,
        width_um: args.width_mm * 1000.0,
        height_um: args.height_mm * 1000.0,
        um_per_px: args.um_per_px,
        sites: args.sites,
        seed: args.seed,
        layout: match args.layout {
            LayoutArg::Aperio => melanoscope_synth::cohort::TiffLayout::Aperio,
            LayoutArg::OmeSubifds => melanoscope_synth::cohort::TiffLayout::OmeSubIfds,
            LayoutArg::OmeToplevel => melanoscope_synth::cohort::TiffLayout::OmeTopLevel,
        },
    };
    let bar = indicatif::ProgressBar::new((args.patients * args.slides_per_patient) as u64);
    let (csv, slides) = generate_cohort(&cfg, |s| {
        bar.set_message(s.slide_id.clone());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    println!("wrote {} slides of {} patients; cohort {}", slides.len(), args.patients, csv.display());
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct FramesArgs {
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 2)]
    pub per_class: usize,
    /// Camera µm/px (from the objective's calibration).
    #[arg(long, default_value_t = 0.5)]
    pub um_per_px: f64,
    #[arg(long, default_value_t = 1920)]
    pub width: u32,
    #[arg(long, default_value_t = 1080)]
    pub height: u32,
    #[arg(long, default_value_t = 20_261_125)]
    pub seed: u64,
    /// The slides as another lab would have stained them: weak-haematoxylin, strong-eosin,
    /// blue-grey-cast or faded (beyond the training's stain jitter).
    #[arg(long, value_parser = LabStyle::parse)]
    pub lab_style: Option<LabStyle>,
}

pub fn frames(args: FramesArgs) -> Result<()> {
    let size = (args.width, args.height);
    let files = write_frame_set(&args.out, args.per_class, args.um_per_px, size, args.seed, args.lab_style)?;
    println!("wrote {} frames and frames.csv to {}", files.len(), args.out.display());
    Ok(())
}
