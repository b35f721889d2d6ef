//! `export`: a trained checkpoint as an ONNX model, with a reference batch for other runtimes.

use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// resnet18, resnet50 or vgg19.
    #[arg(long, default_value = "resnet50")]
    pub arch: String,
    /// Classes of the checkpoint's head.
    #[arg(long, default_value_t = 2)]
    pub classes: i64,
    /// Side of the square input in pixels (the patch size).
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    /// Also write a reference batch of this many images (<out>.{input,logits,features}.npy).
    #[arg(long, default_value_t = 0)]
    pub reference: i64,
    /// Output .onnx file.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn export(args: ExportArgs) -> Result<()> {
    use melanoscope_trainer::export::onnx::{export_onnx, write_reference};
    let arch = melanoscope_trainer::model::Arch::parse(&args.arch).map_err(anyhow::Error::msg)?;
    let (vs, net) = melanoscope_trainer::model::load_network(&args.checkpoint, arch, args.classes, tch::Device::Cpu)?;
    let bytes = export_onnx(&vs, arch, args.size)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    melanoscope_shared::atomic::write_atomic(&args.out, &bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    if args.reference > 0 {
        write_reference(&net, args.size, args.reference, &args.out.with_extension(""))?;
    }
    println!(
        "wrote {} ({} bytes, opset {})",
        args.out.display(),
        bytes.len(),
        melanoscope_trainer::export::onnx::OPSET
    );
    Ok(())
}
