//! `melanoscope-edge calibrate`: µm/px of an objective from a stage micrometer, and flat field
//! and white balance from a blank-field capture, written into the site file.

use anyhow::{Context, Result, bail};
use melanoscope_edge::calibration::{flat_field_from_blank, um_per_px_from_micrometer};
use melanoscope_edge::config::{EdgeConfig, update_objective};
use melanoscope_shared::image::{RgbImage, load_rgb};
use std::path::PathBuf;
use toml::Value;

#[derive(Debug, clap::Subcommand)]
pub enum Calibrate {
    /// µm per pixel of an objective: either measured from a stage micrometer (`length` µm of
    /// its scale span `pixels` on the camera image) or entered directly.
    Objective {
        #[arg(long, default_value = "/etc/melanoscope/site.toml")]
        config: PathBuf,
        /// Objective name, e.g. 10x.
        #[arg(long)]
        name: String,
        #[arg(long, requires = "micrometer_px")]
        micrometer_um: Option<f64>,
        #[arg(long, requires = "micrometer_um")]
        micrometer_px: Option<f64>,
        #[arg(long, conflicts_with_all = ["micrometer_um", "micrometer_px"])]
        um_per_px: Option<f64>,
    },
    /// Flat field and white balance from blank-field captures (clean glass, lamp as for
    /// screening): the given images, averaged, or frames from the configured camera.
    FlatField {
        #[arg(long, default_value = "/etc/melanoscope/site.toml")]
        config: PathBuf,
        #[arg(long)]
        objective: String,
        /// Blank-field images; none: capture from the configured camera.
        #[arg(long, value_delimiter = ',')]
        image: Vec<PathBuf>,
        /// Camera frames to average when capturing.
        #[arg(long, default_value_t = 8)]
        frames: usize,
        /// Grid of the gain map.
        #[arg(long, default_value_t = 32)]
        cells_x: u32,
        #[arg(long, default_value_t = 18)]
        cells_y: u32,
    },
}

/// The pixel-wise mean of same-sized images.
fn average(images: &[RgbImage]) -> Result<RgbImage> {
    let Some(first) = images.first() else { bail!("no blank-field image to average") };
    let mut sum = vec![0u32; first.as_raw().len()];
    for (i, img) in images.iter().enumerate() {
        if (img.width(), img.height()) != (first.width(), first.height()) {
            bail!(
                "blank image {i} is {}x{}; the first is {}x{}",
                img.width(),
                img.height(),
                first.width(),
                first.height()
            );
        }
        sum.iter_mut().zip(img.as_raw()).for_each(|(s, v)| *s += u32::from(*v));
    }
    let n = images.len() as u32;
    Ok(RgbImage::from_raw(first.width(), first.height(), sum.iter().map(|s| ((s + n / 2) / n) as u8).collect())?)
}

pub fn run(cmd: Calibrate) -> Result<()> {
    match cmd {
        Calibrate::Objective { config, name, micrometer_um, micrometer_px, um_per_px } => {
            let u = match (um_per_px, micrometer_um, micrometer_px) {
                (Some(u), _, _) => u,
                (None, Some(l), Some(p)) => um_per_px_from_micrometer(l, p)?,
                _ => bail!("give --micrometer-um and --micrometer-px (a stage micrometer measurement), or --um-per-px"),
            };
            let cfg = update_objective(&config, &name, "um_per_px", Value::Float(u))?;
            println!("objective {name}: {u:.4} µm/px written to {}", config.display());
            if cfg.camera.objective != name {
                println!(
                    "note: the camera's objective is {:?}; set camera.objective = \"{name}\" to screen with it",
                    cfg.camera.objective
                );
            }
        }
        Calibrate::FlatField { config, objective, image, frames, cells_x, cells_y } => {
            let captures: Vec<RgbImage> = if image.is_empty() {
                let cfg = EdgeConfig::load(Some(&config))?;
                let mut source = melanoscope_edge::screen::setup::open_source(&cfg, &[])?;
                let mut got = Vec::new();
                let mut tries = 0;
                while got.len() < frames && tries < frames * 10 {
                    tries += 1;
                    match source.next_frame() {
                        Ok(Some(f)) => got.push(f.image),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), "blank capture");
                            std::thread::sleep(std::time::Duration::from_millis(200));
                        }
                    }
                }
                got
            } else {
                image
                    .iter()
                    .map(|p| load_rgb(p).with_context(|| format!("blank image {}", p.display())))
                    .collect::<Result<_>>()?
            };
            let blank = average(&captures)?;
            let (map, wb) = flat_field_from_blank(&blank, cells_x, cells_y)?;
            let lo = map.gain.iter().cloned().fold(f32::INFINITY, f32::min);
            let hi = map.gain.iter().cloned().fold(0.0, f32::max);
            let map_value = Value::try_from(&map).context("encoding the flat field")?;
            update_objective(&config, &objective, "flat_field", map_value)?;
            let wb_value = Value::Array(wb.iter().map(|g| Value::Float(f64::from(*g))).collect());
            update_objective(&config, &objective, "white_balance", wb_value)?;
            println!(
                "objective {objective}: flat field {cells_x}x{cells_y} (gains {lo:.2}-{hi:.2}) and white balance \
                 [{:.3}, {:.3}, {:.3}] from {} capture(s) written to {}",
                wb[0],
                wb[1],
                wb[2],
                captures.len(),
                config.display()
            );
        }
    }
    Ok(())
}
