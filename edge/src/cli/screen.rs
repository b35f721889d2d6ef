//! `melanoscope-edge screen`: the device's main loop, with a safe mode that shows what is
//! wrong (no calibration, no bundle, failed self-test, no camera) instead of crash-looping.

use anyhow::{Context, Result};
use melanoscope_boards::board::{DisplayIo, open as open_board};
use melanoscope_boards::controls::{FreezeButton, Indicators, NoButton, NoIndicators};
use melanoscope_boards::description::BoardDescription;
use melanoscope_boards::status_leds::Indicator;
use melanoscope_edge::config::{ConfigError, EdgeConfig};
use melanoscope_edge::screen::render::Renderer;
use melanoscope_edge::screen::session::{PreparedSession, Session, SessionIo};
use melanoscope_edge::screen::setup::{SetupError, board_description, open_bundle, open_sinks, open_source};
use melanoscope_edge::source::FrameSource;
use std::path::PathBuf;
use std::time::Duration;

/// Options of the `screen` command.
#[derive(Debug, clap::Args)]
pub struct ScreenArgs {
    /// Site settings (TOML) laid over the defaults.
    #[arg(long, default_value = "/etc/melanoscope/site.toml")]
    pub config: PathBuf,
    /// Replay these files, folders or globs instead of the configured camera.
    #[arg(long, value_delimiter = ',')]
    pub replay: Vec<String>,
    /// Stop after this many frames (default: until the source ends).
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// Exit with status 3 after showing a fault, instead of showing it and retrying.
    #[arg(long)]
    pub exit_on_fault: bool,
    /// Write the session's counts and verdict sequence as JSON here at the end.
    #[arg(long)]
    pub summary: Option<PathBuf>,
}

/// Shows `fault` on whatever sinks the settings allow (the defaults' when the site file is
/// the fault), with the amber LED.
fn show_fault(cfg: Option<&EdgeConfig>, leds: &mut impl Indicators, fault: &anyhow::Error) {
    let _ = leds.show(Indicator::Amber);
    let detail = melanoscope_shared::errors::error_chain(fault.as_ref());
    eprintln!("melanoscope-edge: cannot screen: {detail}");
    // The defaults are parsed only when the site file itself is the fault.
    let defaults;
    let cfg = match cfg {
        Some(cfg) => Some(cfg),
        None => {
            defaults = EdgeConfig::defaults().ok();
            defaults.as_ref()
        }
    };
    if let Some(cfg) = cfg {
        let mut sinks = open_sinks(&cfg.display, None);
        if let Ok(mut r) = Renderer::new(cfg.display.width, cfg.display.height, 0.0) {
            let frame = r.message("SERVICE NEEDED", &detail);
            for s in &mut sinks {
                let _ = s.show(frame);
            }
        }
    }
}

type Opened = (EdgeConfig, PreparedSession, Box<dyn FrameSource>);

/// One attempt with `cfg` (the settings as read for this attempt): the bundle, the session and
/// the source; on failure the settings if they loaded, for showing the fault.
fn open(
    args: &ScreenArgs,
    cfg: Result<EdgeConfig, ConfigError>,
) -> Result<Opened, (Option<Box<EdgeConfig>>, anyhow::Error)> {
    let cfg = cfg.map_err(|e| (None, e.into()))?;
    let attempt = || -> Result<_, SetupError> {
        // The calibration first: the commonest fault on a new device, and the cheapest to see.
        cfg.active_objective()?;
        let prepared = Session::from_config(&cfg, open_bundle(&cfg.model)?)?;
        Ok((prepared, open_source(&cfg, &args.replay)?))
    };
    match attempt() {
        Ok((prepared, source)) => Ok((cfg, prepared, source)),
        Err(e) => Err((Some(Box::new(cfg)), e.into())),
    }
}

/// Runs the screening loop with the given LEDs, button and SPI display (board or none).
fn screen_with(
    args: &ScreenArgs,
    settings: Result<EdgeConfig, ConfigError>,
    mut leds: impl Indicators,
    button: impl FreezeButton,
    spi: Option<DisplayIo>,
) -> Result<i32> {
    // The settings read at start serve the first attempt; a retry reads the site file again
    // (a calibration or bundle path entered while the fault was shown).
    let mut settings = Some(settings);
    let (cfg, prepared, source) = loop {
        let cfg = settings.take().unwrap_or_else(|| EdgeConfig::load(Some(&args.config)));
        match open(args, cfg) {
            Ok(opened) => break opened,
            Err((cfg, e)) => {
                show_fault(cfg.as_deref(), &mut leds, &e);
                if args.exit_on_fault {
                    return Ok(3);
                }
                // Safe mode: the fault stays on the screen; look again in a while (a bundle
                // copied in, a camera plugged, a calibration entered).
                std::thread::sleep(Duration::from_secs(30));
            }
        }
    };
    let mut session = prepared.start(SessionIo { source, leds, button }).with_sinks(open_sinks(&cfg.display, spi));
    let period = Duration::from_secs_f64(1.0 / f64::from(cfg.camera.fps));
    let stats = session.run(args.max_frames, || std::thread::sleep(period)).clone();
    let summary = serde_json::json!({ "stats": stats, "log": cfg.log.path, "snapshots": cfg.display.snapshot_dir });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(p) = &args.summary {
        melanoscope_shared::atomic::write_atomic(p, serde_json::to_string_pretty(&summary)?.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(0)
}

/// `screen`: with the board the settings describe (LEDs, button, SPI panel), or none.
pub fn run(args: &ScreenArgs) -> Result<i32> {
    let settings = EdgeConfig::load(Some(&args.config));
    let cfg = settings.as_ref().ok();
    let Some(path) = cfg.and_then(board_description) else {
        return screen_with(args, settings, NoIndicators, NoButton, None);
    };
    let board = BoardDescription::load(path)
        .map_err(anyhow::Error::from)
        .and_then(|d| open_board(&d).with_context(|| format!("board {}", d.name)));
    match board {
        Ok(io) => {
            tracing::info!(board = %io.name, "board opened");
            screen_with(args, settings, io.leds, io.button, io.display)
        }
        Err(e) => {
            show_fault(cfg, &mut NoIndicators, &e);
            if args.exit_on_fault {
                return Ok(3);
            }
            // Without its pins the device can still screen and show verdicts on the screen.
            screen_with(args, settings, NoIndicators, NoButton, None)
        }
    }
}
