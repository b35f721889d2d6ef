//! `melanoscope-edge screen`: the device's main loop, with a safe mode that shows what is
//! wrong (no calibration, no bundle, failed self-test, no camera) instead of crash-looping.

use anyhow::{Context, Result};
use melanoscope_boards::board::{DisplayIo, open as open_board};
use melanoscope_boards::description::BoardDescription;
use melanoscope_edge::config::EdgeConfig;
use melanoscope_edge::engine::{Backend, LoadedBundle, set_threads};
use melanoscope_edge::records::Recorder;
use melanoscope_edge::screen::analyse::Analyzer;
use melanoscope_edge::screen::render::Renderer;
use melanoscope_edge::screen::session::{FreezeButton, Indicators, NoButton, NoIndicators, Session};
use melanoscope_edge::screen::verdict::TrackerSettings;
use melanoscope_edge::sinks::{DisplaySink, FrameFolder, Framebuffer, open_ili9341, open_st7789};
use melanoscope_edge::source::{
    Backoff, FrameSource, MjpegStream, RawStream, Reconnecting, Replay, V4l2Camera, V4l2Settings,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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

/// Trusted keys from the files named in the config.
pub fn read_keys(paths: &[PathBuf]) -> Result<Vec<[u8; 32]>> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading trusted key {}", p.display()))?;
            melanoscope_shared::formats::parse_key_hex(&text).with_context(|| format!("{}", p.display()))
        })
        .collect()
}

/// A blocking delay for display initialisation (milliseconds, once at start-up).
struct StdDelay;

impl embedded_hal::delay::DelayNs for StdDelay {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(Duration::from_nanos(u64::from(ns)));
    }
}

/// The SPI panel on the board's display pins.
fn open_spi(cfg: &EdgeConfig, io: DisplayIo) -> Result<Box<dyn DisplaySink>, String> {
    let (w, h) = (cfg.display.spi_width, cfg.display.spi_height);
    let sink: Box<dyn DisplaySink> = match cfg.display.spi_model.as_str() {
        "ili9341" => Box::new(open_ili9341(io.spi, io.dc, io.reset, w, h, &mut StdDelay).map_err(|e| e.to_string())?),
        _ => Box::new(open_st7789(io.spi, io.dc, io.reset, w, h, &mut StdDelay).map_err(|e| e.to_string())?),
    };
    // The backlight stays on for the life of the process.
    std::mem::forget(io.backlight);
    Ok(sink)
}

/// The display sinks the config names; the SPI panel needs the board's display wiring.
fn open_sinks(cfg: &EdgeConfig, mut spi: Option<DisplayIo>) -> Vec<Box<dyn DisplaySink>> {
    let mut sinks: Vec<Box<dyn DisplaySink>> = Vec::new();
    for name in &cfg.display.sinks {
        let opened: Result<Box<dyn DisplaySink>, String> = match name.as_str() {
            "framebuffer" => {
                Framebuffer::open(&cfg.display.framebuffer, &Framebuffer::sysfs_of(&cfg.display.framebuffer))
                    .map(|f| Box::new(f) as Box<dyn DisplaySink>)
                    .map_err(|e| e.to_string())
            }
            "snapshot" => FrameFolder::new(cfg.display.snapshot_dir.join("frames"), cfg.display.snapshot_every)
                .map(|f| Box::new(f) as Box<dyn DisplaySink>)
                .map_err(|e| e.to_string()),
            "spi" => match spi.take() {
                Some(io) => open_spi(cfg, io),
                None => Err("the SPI display needs a board description with a [display] (board.description)".into()),
            },
            other => Err(format!("unknown sink {other}")),
        };
        match opened {
            Ok(s) => sinks.push(s),
            Err(e) => tracing::error!(sink = %name, error = %e, "display sink not opened"),
        }
    }
    sinks
}

fn backend(cfg: &EdgeConfig) -> Result<Backend> {
    let lib = (!cfg.model.onnxruntime_library.is_empty()).then(|| PathBuf::from(&cfg.model.onnxruntime_library));
    Ok(Backend::parse(&cfg.model.backend, lib)?)
}

/// The configured camera (or other source).
pub fn open_source_for(cfg: &EdgeConfig) -> Result<Box<dyn FrameSource>> {
    open_source(cfg, &[])
}

fn open_source(cfg: &EdgeConfig, replay: &[String]) -> Result<Box<dyn FrameSource>> {
    let c = &cfg.camera;
    if !replay.is_empty() {
        return Ok(Box::new(Replay::new(replay, false)?));
    }
    Ok(match c.source.as_str() {
        "replay" => Box::new(Replay::new(&c.replay, c.replay_loop)?),
        "stdin-mjpeg" => Box::new(MjpegStream::new(std::io::stdin(), "stdin")),
        "stdin-raw" => Box::new(RawStream::new(std::io::stdin(), "stdin", c.width, c.height)),
        _ => {
            let settings = V4l2Settings {
                device: c.device.clone(),
                pixel_format: c.pixel_format.clone(),
                width: c.width,
                height: c.height,
                fps: c.fps,
            };
            let start = Instant::now();
            Box::new(Reconnecting::new(
                &c.device,
                move || V4l2Camera::open(&settings),
                move || start.elapsed().as_millis() as u64,
                Backoff::from_seconds(&c.reconnect_backoff_s),
            ))
        }
    })
}

/// Everything `screen` opens before the loop, or the fault to show.
struct Ready {
    cfg: EdgeConfig,
    analyzer: Analyzer,
    recorder: Recorder,
    source: Box<dyn FrameSource>,
}

fn prepare(args: &ScreenArgs) -> Result<Ready> {
    let cfg = EdgeConfig::load(Some(&args.config))?;
    let (objective, calibration, um_per_px) = cfg.active_objective()?;
    let (objective, calibration) = (objective.to_string(), calibration.clone());
    set_threads(cfg.model.threads);
    let keys = read_keys(&cfg.model.trusted_keys)?;
    let bundle = LoadedBundle::open(
        &cfg.model.bundle,
        &keys,
        cfg.model.require_signature,
        cfg.model.batch,
        &backend(&cfg)?,
        cfg.model.threads,
    )
    .with_context(|| format!("model bundle {}", cfg.model.bundle.display()))?;
    tracing::info!(bundle = %cfg.model.bundle.display(), signature = ?bundle.signature, "bundle passed its self-test");
    let sha = bundle.file.meta.onnx_sha256;
    let analyzer = Analyzer::new(bundle, calibration, um_per_px, &cfg.screening)?;
    let recorder = Recorder::open(&cfg.log.path, cfg.log.sync, &cfg.display.snapshot_dir, sha, &objective)?;
    let source = open_source(&cfg, &args.replay)?;
    Ok(Ready { cfg, analyzer, recorder, source })
}

/// Shows `fault` on whatever sinks the config allows, with the amber LED.
fn show_fault(args: &ScreenArgs, fault: &anyhow::Error) {
    let cfg = EdgeConfig::load(Some(&args.config)).or_else(|_| EdgeConfig::defaults());
    let detail = format!("{fault:#}");
    eprintln!("melanoscope-edge: cannot screen: {detail}");
    if let Ok(cfg) = cfg {
        let mut sinks = open_sinks(&cfg, None);
        if let Ok(mut r) = Renderer::new(cfg.display.width, cfg.display.height, 0.0) {
            let frame = r.message("SERVICE NEEDED", &detail);
            for s in &mut sinks {
                let _ = s.show(frame);
            }
        }
    }
}

/// Runs the screening loop with the given LEDs, button and SPI display (board or none).
pub fn screen_with<L: Indicators, B: FreezeButton>(
    args: &ScreenArgs,
    mut leds: L,
    button: B,
    spi: Option<DisplayIo>,
) -> Result<i32> {
    let ready = loop {
        match prepare(args) {
            Ok(r) => break r,
            Err(e) => {
                let _ = leds.show(melanoscope_boards::status_leds::Indicator::Amber);
                show_fault(args, &e);
                if args.exit_on_fault {
                    return Ok(3);
                }
                // Safe mode: the fault stays on the screen; look again in a while (a bundle
                // copied in, a camera plugged, a calibration entered).
                std::thread::sleep(Duration::from_secs(30));
            }
        }
    };
    let Ready { cfg, analyzer, recorder, source } = ready;
    let meta = &analyzer.bundle().file.meta;
    let tracker = TrackerSettings {
        threshold: meta.decision.threshold,
        uncertain_band: meta.decision.uncertain_band,
        ema_alpha: cfg.screening.ema_alpha,
        view_change: cfg.screening.view_change,
        hysteresis: cfg.screening.hysteresis,
    };
    let renderer = Renderer::new(cfg.display.width, cfg.display.height, cfg.screening.overlay_min_change)?;
    let sinks = open_sinks(&cfg, spi);
    let mut session =
        Session::new(source, analyzer, tracker, renderer, sinks, leds, button, recorder, &cfg.camera.objective);
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

/// `screen`: with the board the config describes (LEDs, button, SPI panel), or none.
pub fn screen(args: &ScreenArgs) -> Result<i32> {
    let description = EdgeConfig::load(Some(&args.config)).map(|c| c.board.description).unwrap_or_default();
    if description.is_empty() {
        return screen_with(args, NoIndicators, NoButton, None);
    }
    let board = BoardDescription::load(std::path::Path::new(&description))
        .map_err(anyhow::Error::from)
        .and_then(|d| open_board(&d).map_err(|e| anyhow::anyhow!("board {}: {e}", d.name)));
    match board {
        Ok(io) => {
            tracing::info!(board = %io.name, "board opened");
            screen_with(args, io.leds, io.button, io.display)
        }
        Err(e) => {
            show_fault(args, &e);
            if args.exit_on_fault {
                return Ok(3);
            }
            // Without its pins the device can still screen and show verdicts on the screen.
            screen_with(args, NoIndicators, NoButton, None)
        }
    }
}
