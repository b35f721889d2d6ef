//! `melanoscope-edge screen`: the device's main loop, with a safe mode that shows what is
//! wrong (no calibration, no bundle, failed self-test, no camera) instead of crash-looping.

use anyhow::{Context, Result};
use melanoscope_boards::board::{DisplayIo, open as open_board};
use melanoscope_boards::controls::{FreezeButton, Indicators, NoButton, NoIndicators};
use melanoscope_boards::description::BoardDescription;
use melanoscope_boards::status_leds::Indicator;
use melanoscope_edge::cases::control::ControlServer;
use melanoscope_edge::config::{CameraSource, ConfigError, EdgeConfig, SinkKind};
use melanoscope_edge::notify::Notifier;
use melanoscope_edge::screen::render::Renderer;
use melanoscope_edge::screen::session::{PreparedSession, Session, SessionIo};
use melanoscope_edge::screen::setup::{
    SetupError, board_description, check_rollback, open_bundle, open_sinks, open_source, record_fault,
};
use melanoscope_edge::source::FrameSource;
use melanoscope_edge::source::expand_replay;
use melanoscope_edge::truth::Truth;
use melanoscope_edge::web::{WebSettings, WebView};
use melanoscope_shared::run_files::screen::{EXIT_RECORDS_LOST, ScreenSummary};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
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
    /// A `frames.csv` (file, lesion: MM, IN, CN, JN) naming what each replayed frame shows:
    /// the summary and the output then set every frame's verdict beside its truth.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Screen with a signed bundle older than one this device already used from the same
    /// signer (a deliberate rollback; recorded in the state folder).
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Open case ID before the first frame and close it when the source ends (a replay of one
    /// case's frames); on a camera, cases are opened by a long press or `case open`.
    #[arg(long, value_parser = parse_case_id)]
    pub case: Option<String>,
}

fn parse_case_id(s: &str) -> Result<String, String> {
    melanoscope_shared::formats::check_case_id(s)
        .map(|()| s.to_string())
        .map_err(|e| melanoscope_shared::errors::error_chain(&e))
}

/// Shows `fault` on whatever sinks the settings allow (when the site file is the fault, what
/// [`EdgeConfig::salvage`] makes of it), with the amber LED; returns the fault's text.
fn show_fault(cfg: Option<&EdgeConfig>, site: &Path, leds: &mut impl Indicators, fault: &anyhow::Error) -> String {
    let _ = leds.show(Indicator::Amber);
    let detail = melanoscope_shared::errors::error_chain(fault.as_ref());
    eprintln!("melanoscope-edge: cannot screen: {detail}");
    // Salvaged only when the site file itself is the fault.
    let salvaged;
    let cfg = match cfg {
        Some(cfg) => Some(cfg),
        None => {
            salvaged = EdgeConfig::salvage(site).ok();
            salvaged.as_ref()
        }
    };
    if let Some(cfg) = cfg {
        // Not in a window: the fault screen is drawn once a retry, and a window would open and
        // vanish each time. The log and the console say it on a desktop.
        let mut display = cfg.display.clone();
        display.sinks.retain(|s| *s != SinkKind::Window);
        let (mut sinks, _) = open_sinks(&display, None, None);
        if let Ok(mut r) = Renderer::new(cfg.display.width, cfg.display.height, 0.0) {
            let frame = r.message("SERVICE NEEDED", &detail);
            for s in &mut sinks {
                let _ = s.show(frame);
            }
        }
    }
    detail
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
        let bundle = open_bundle(&cfg.model)?;
        check_rollback(&cfg.model, &bundle, args.allow_downgrade)?;
        let prepared = Session::from_config(&cfg, bundle)?;
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
    // Under systemd (Type=notify): started; from here faults are shown and retried, and the
    // watchdog is pinged while they are.
    let mut notifier = Notifier::from_env();
    notifier.ready();
    // The settings read at start serve the first attempt; a retry reads the site file again
    // (a calibration or bundle path entered while the fault was shown).
    let mut settings = Some(settings);
    // The last fault written to the record log: a fault that stays is recorded once, not at
    // every retry.
    let mut recorded: Option<String> = None;
    let (cfg, prepared, source) = loop {
        let cfg = settings.take().unwrap_or_else(|| EdgeConfig::load(Some(&args.config)));
        match open(args, cfg) {
            Ok(opened) => break opened,
            Err((cfg, e)) => {
                let detail = show_fault(cfg.as_deref(), &args.config, &mut leds, &e);
                if let Some(cfg) = cfg.as_deref()
                    && recorded.as_deref() != Some(detail.as_str())
                {
                    match record_fault(cfg, &detail) {
                        Ok(()) => recorded = Some(detail),
                        Err(r) => {
                            tracing::error!(error = %melanoscope_shared::errors::Chain(&r), "the fault could not be written to the record log")
                        }
                    }
                }
                notifier.status(&format!("cannot screen: {e}"));
                if args.exit_on_fault {
                    return Ok(3);
                }
                // Safe mode: the fault stays on the screen; look again in a while (a bundle
                // copied in, a camera plugged, a calibration entered).
                for _ in 0..30 {
                    notifier.alive();
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    };
    let replayed = replay_items(&cfg, &args.replay);
    let truth = match &args.truth {
        None => None,
        Some(path) => {
            let items = replayed.ok_or_else(|| {
                anyhow::anyhow!("--truth {} judges replayed frames; this session reads a camera", path.display())
            })?;
            let truth = Truth::load(path)?;
            truth.check_files(&expand_replay(items)?)?;
            Some(truth)
        }
    };
    let mut session = prepared.start(SessionIo { source, leds, button });
    let operator = session.operator();
    let (sinks, failed) = open_sinks(&cfg.display, spi, Some(&operator));
    session = session.with_sinks(sinks);
    for e in failed {
        // A start fault in the log for review; the other sinks screen on.
        let message = format!("display sink not opened: {}", melanoscope_shared::errors::error_chain(&e));
        eprintln!("melanoscope-edge: {message}");
        session.record_fault(&message);
    }
    if cfg.web.enabled {
        match WebSettings::of(&cfg).and_then(|w| WebView::start(w, Some(&operator))) {
            Ok(web) => {
                eprintln!("melanoscope-edge: web view at {}", web.url());
                if !web.local_addr().ip().is_loopback() {
                    // Colleagues on the bench network read the address (with its token) off the screen.
                    session.set_notice(format!("web {}", web.url()));
                }
                session = session.with_sinks(vec![Box::new(web)]);
            }
            Err(e) => {
                let message = format!("web view not started: {}", melanoscope_shared::errors::error_chain(&e));
                eprintln!("melanoscope-edge: {message}");
                session.record_fault(&message);
            }
        }
    }
    if replayed.is_some() {
        session = session.with_frame_table();
    }
    // Cases from a keyboard or barcode scanner: without the socket the button still works.
    let socket = cfg.control_socket();
    match ControlServer::bind(&socket, operator.requests.clone()) {
        Ok(control) => session = session.with_control(control),
        Err(e) => {
            tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), "no control socket: `case open`/`case close` cannot reach this screen")
        }
    }
    if let Some(id) = &args.case {
        session.open_case(id).map_err(|e| anyhow::anyhow!("--case {id}: {e}"))?;
    }
    let period = Duration::from_secs_f64(1.0 / f64::from(cfg.camera.fps));
    notifier.status(&format!("screening from {}", source_name(&cfg, &args.replay)));
    // SIGTERM (the service stopped), SIGINT (Ctrl-C) or a closed window ends the session after
    // the frame in hand: its records written, an open case left open and reported at the next
    // start.
    let stop = operator.stop.clone();
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(signal, stop.clone()) {
            tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), signal, "stop signal not caught");
        }
    }
    session.run_alive(
        args.max_frames,
        || std::thread::sleep(period),
        || {
            notifier.alive();
            true
        },
    );
    if stop.load(Ordering::Relaxed) {
        tracing::info!("stop signal or window closed: the session ends");
    }
    if args.case.is_some() && session.case().is_some() {
        match session.close_case() {
            Ok(text) => eprintln!("{text}"),
            Err(e) => eprintln!("warning: closing the case: {e}"),
        }
    }
    let stats = session.finish();
    let judged = truth.map(|t| t.judge(session.frame_rows())).transpose()?;
    if let Some(table) = &judged {
        // The table for people on standard error; standard output stays one JSON document.
        eprint!("{}", table.to_text());
    }
    let summary = ScreenSummary {
        frames: replayed.is_some().then(|| session.frame_rows().to_vec()),
        log: cfg.log.path.clone(),
        snapshots: cfg.display.snapshot_dir.clone(),
        stats: stats.clone(),
        stain: session.analyzer().stain_on().map(|m| m.name().to_string()),
        truth: judged,
    };
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(p) = &args.summary {
        melanoscope_shared::atomic::write_atomic(p, serde_json::to_string_pretty(&summary)?.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    // A camera stream that ends is a fault, not a finished job: exit non-zero so that the
    // service restarts the pipeline (`rpicam-vid | melanoscope-edge screen` after the camera
    // process died). A replay that runs out is done.
    let stream = args.replay.is_empty() && cfg.camera.source != CameraSource::Replay;
    let status = stats.exit_status(stream);
    if status == EXIT_RECORDS_LOST {
        eprintln!(
            "melanoscope-edge: {} records were never written to the log {}; exiting with status {status}",
            stats.records_dropped,
            cfg.log.path.display()
        );
    } else if status != 0 {
        eprintln!(
            "melanoscope-edge: the camera stream ({}) ended; exiting with status {status}",
            source_name(&cfg, &[])
        );
    }
    Ok(status)
}

/// The replayed files, folders or globs of this session (none when it reads a camera).
fn replay_items<'a>(cfg: &'a EdgeConfig, replay: &'a [String]) -> Option<&'a [String]> {
    if !replay.is_empty() {
        Some(replay)
    } else if cfg.camera.source == CameraSource::Replay {
        Some(&cfg.camera.replay)
    } else {
        None
    }
}

/// What the frames come from, for messages.
fn source_name(cfg: &EdgeConfig, replay: &[String]) -> String {
    if replay.is_empty() { format!("{:?} {}", cfg.camera.source, cfg.camera.device) } else { replay.join(",") }
}

/// `screen`: with the board the settings describe (LEDs, button, SPI panel), or none.
pub fn run(args: &ScreenArgs) -> Result<i32> {
    let settings = EdgeConfig::load(Some(&args.config));
    // A site file that does not load still names the board whose LEDs show the fault.
    let salvaged = settings.as_ref().err().and_then(|_| EdgeConfig::salvage(&args.config).ok());
    let cfg = settings.as_ref().ok().or(salvaged.as_ref());
    let Some(path) = cfg.and_then(board_description) else {
        return screen_with(args, settings, NoIndicators, NoButton, None);
    };
    let board = BoardDescription::load(path)
        .map_err(anyhow::Error::from)
        .and_then(|d| open_board(&d).with_context(|| format!("board {}", d.name)));
    match board {
        Ok(io) => {
            tracing::info!(board = %io.name, "board opened");
            let long = cfg.map_or(1500, |c| c.cases.long_press_ms);
            let button = io.button.map(|b| b.with_long_press(long));
            screen_with(args, settings, io.leds, button, io.display)
        }
        Err(e) => {
            let _ = show_fault(cfg, &args.config, &mut NoIndicators, &e);
            if args.exit_on_fault {
                return Ok(3);
            }
            // Without its pins the device can still screen and show verdicts on the screen.
            screen_with(args, settings, NoIndicators, NoButton, None)
        }
    }
}
