//! What `screen` opens from the settings before its loop, in the order a fault is fixed: the
//! trusted keys, the bundle (hash, signature, self-test), the frame source and the display
//! sinks. The end-to-end tests open a session through the same functions.

use super::analyse::AnalyseError;
use crate::cases::requests::Operator;
use crate::config::{CameraSource, ConfigError, DisplayConfig, EdgeConfig, ModelConfig, SinkKind, SpiModel};
use crate::records::RecordError;
use crate::sinks::{
    DisplaySink, FrameFolder, Framebuffer, ILI9341Rgb565, PanelWiring, ST7789, SinkError, WindowSink, open_panel,
};
use crate::source::{
    Backoff, FrameSource, MjpegStream, RawStream, Reconnecting, Replay, SourceError, V4l2Camera, V4l2Settings,
};
use crate::tune::cpu_fingerprint;
use melanoscope_boards::board::DisplayIo;
use melanoscope_engine::{Backend, EngineError, LoadedBundle, RunChoice, set_threads};
use melanoscope_shared::formats::{Form, KeyFileError, Verdict, hex, read_key_file};
use melanoscope_shared::image::{FrameBounds, ImageError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn names_the_bundle(e: &EngineError) -> bool {
    matches!(e, EngineError::Read { .. } | EngineError::Bundle { .. })
}

/// Why screening could not start; each keeps its cause.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("a trusted key")]
    Key(#[from] KeyFileError),
    /// The bundle's path once: engine errors about reading or checking the file name it.
    #[error("{}{source}", if names_the_bundle(source) { String::new() } else { format!("model bundle {}: ", path.display()) })]
    Bundle { path: PathBuf, source: EngineError },
    #[error(
        "model.tuned was measured on another CPU ({tuned}); this one is {here}. Run \
         `melanoscope-edge tune --config <site file>` on this device, or name a backend in model.backend"
    )]
    TunedElsewhere { tuned: String, here: String },
    #[error(transparent)]
    Rollback(#[from] crate::rollback::RollbackError),
    #[error("the analyser")]
    Analyse(#[from] AnalyseError),
    #[error("the record log")]
    Record(#[from] RecordError),
    #[error("the frame source")]
    Source(#[from] SourceError),
    #[error("the display canvas")]
    Display(#[source] ImageError),
    #[error(transparent)]
    Objective(#[from] super::objective::ObjectiveMismatch),
    #[error("the case folder")]
    Cases(#[source] crate::cases::CaseError),
}

/// Appends a fault record (what the technician was shown) to the record log of `cfg`, so a
/// review of the log sees why the device did not screen. The model is unknown at this point:
/// the record carries no model hashes.
pub fn record_fault(cfg: &EdgeConfig, message: &str) -> Result<(), RecordError> {
    let identity = melanoscope_shared::formats::ModelIdentity { bundle_sha256: [0; 32], signer: None };
    let objective = cfg.camera.objective.as_str();
    let mut recorder = crate::records::Recorder::open(
        &cfg.log.path,
        cfg.log.sync,
        &cfg.display.snapshot_dir,
        [0; 32],
        identity,
        objective,
    )?;
    let kind = melanoscope_shared::formats::RecordKind::Fault { message: message.into() };
    let record = recorder.record(crate::records::unix_ms(), 0, kind, Verdict::Uncertain, 0.0, Vec::new());
    recorder.append(&record)
}

/// Trusted ed25519 public keys from files of 64 hex digits.
fn read_keys(paths: &[PathBuf]) -> Result<Vec<[u8; 32]>, KeyFileError> {
    paths.iter().map(|p| read_key_file(p)).collect()
}

impl ModelConfig {
    /// The runtime of `model.backend`: a named one with `model.batch`, `model.threads` and
    /// `model.form`; for `auto` the tuned choice (refused when it was measured on another
    /// CPU), else tract at batch 1 on the bundle's first form (f32 in the exporter's bundles).
    pub fn run_choice(&self) -> Result<RunChoice, SetupError> {
        let bundle = |source| SetupError::Bundle { path: self.bundle.clone(), source };
        let named = |kind, library: &str, batch, threads, form: Option<Form>| {
            let lib = (!library.is_empty()).then(|| PathBuf::from(library));
            Ok(RunChoice { backend: Backend::resolve(kind, lib).map_err(bundle)?, batch, threads, form })
        };
        match (self.backend.kind(), &self.tuned) {
            (Some(kind), _) => named(kind, &self.onnxruntime_library, self.batch, self.threads, self.form),
            (None, None) => Ok(RunChoice { backend: Backend::Tract, batch: 1, threads: self.threads, form: None }),
            (None, Some(t)) => {
                let here = cpu_fingerprint();
                if t.cpu != here {
                    return Err(SetupError::TunedElsewhere { tuned: t.cpu.clone(), here });
                }
                named(t.backend, &t.onnxruntime_library, t.batch, t.threads, Some(t.form))
            }
        }
    }
}

/// The configured bundle, opened as screening needs it: the runtime chosen
/// ([`ModelConfig::run_choice`]), tract's threads set, the hash and signature checked against
/// the trusted keys, the reference fields reproduced.
pub fn open_bundle(model: &ModelConfig) -> Result<LoadedBundle, SetupError> {
    let bundle = |source| SetupError::Bundle { path: model.bundle.clone(), source };
    let keys = read_keys(&model.trusted_keys)?;
    let choice = model.run_choice()?;
    set_threads(choice.threads);
    let loaded = LoadedBundle::open(&model.bundle, &keys, model.signature_required(), &choice).map_err(bundle)?;
    if let Some(t) = model.tuned.as_ref().filter(|t| t.onnx_sha256 != hex(&loaded.file.meta.onnx_sha256)) {
        tracing::warn!(
            bundle = %model.bundle.display(), tuned_with = %t.onnx_sha256,
            "model.tuned was measured with another model; run `melanoscope-edge tune` again"
        );
    }
    tracing::info!(
        bundle = %model.bundle.display(), signature = ?loaded.signature, backend = choice.backend.name(),
        form = %loaded.file.meta.quantization.form(), batch = choice.batch, threads = choice.threads,
        "bundle passed its self-test"
    );
    Ok(loaded)
}

/// Refuses `loaded` if it is older than a bundle of the same signer this device screened
/// with (unless `allow_downgrade`), and records it as the newest otherwise
/// ([`crate::rollback`]).
pub fn check_rollback(
    model: &ModelConfig,
    loaded: &LoadedBundle,
    allow_downgrade: bool,
) -> Result<crate::rollback::Acceptance, SetupError> {
    let now = crate::records::unix_ms() / 1000;
    let created = loaded.file.meta.created_unix_s;
    let outcome = crate::rollback::check_and_record(
        &model.state_dir,
        &model.bundle,
        &loaded.identity,
        created,
        allow_downgrade,
        now,
    )?;
    if let crate::rollback::Acceptance::Downgraded { from_created_unix_s } = outcome {
        tracing::warn!(
            bundle = %model.bundle.display(), created, from_created_unix_s,
            "downgraded to an older bundle on the operator's request (recorded in the state folder)"
        );
    }
    Ok(outcome)
}

/// The configured camera or stream, or `replay` (files, folders or globs) when given.
pub fn open_source(cfg: &EdgeConfig, replay: &[String]) -> Result<Box<dyn FrameSource>, SetupError> {
    let c = &cfg.camera;
    if !replay.is_empty() {
        return Ok(Box::new(Replay::new(replay, false)?));
    }
    Ok(match c.source {
        CameraSource::Replay if c.replay.is_empty() => {
            let file = cfg.site_file.as_ref().map_or("default.toml".into(), |p| p.display().to_string());
            return Err(SetupError::Config(ConfigError::Invalid {
                file,
                key: "camera.replay".into(),
                value: "empty".into(),
                expected: "files, folders or globs to replay with camera.source = \"replay\" (or give them with \
                           screen --replay)"
                    .into(),
            }));
        }
        CameraSource::Replay => Box::new(Replay::new(&c.replay, c.replay_loop)?),
        CameraSource::StdinMjpeg => {
            Box::new(MjpegStream::new(std::io::stdin(), "stdin", FrameBounds::camera(c.width, c.height)))
        }
        CameraSource::StdinRaw => Box::new(RawStream::new(std::io::stdin(), "stdin", c.width, c.height)),
        CameraSource::V4l2 => {
            let settings = V4l2Settings {
                device: c.device.clone(),
                pixel_format: c.pixel_format,
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

/// A blocking delay for display initialisation (milliseconds, once at start-up).
struct StdDelay;

impl embedded_hal::delay::DelayNs for StdDelay {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(Duration::from_nanos(u64::from(ns)));
    }
}

/// The SPI panel on the board's display pins.
fn open_spi(d: &DisplayConfig, io: DisplayIo) -> Result<Box<dyn DisplaySink>, SinkError> {
    let wiring = PanelWiring { spi: io.spi, dc: io.dc, rst: io.reset, width: d.spi_width, height: d.spi_height };
    let sink: Box<dyn DisplaySink> = match d.spi_model {
        SpiModel::Ili9341 => Box::new(open_panel::<ILI9341Rgb565, _, _, _>(wiring, &mut StdDelay)?),
        SpiModel::St7789 => Box::new(open_panel::<ST7789, _, _, _>(wiring, &mut StdDelay)?),
    };
    // The backlight stays on for the life of the process.
    std::mem::forget(io.backlight);
    Ok(sink)
}

/// The display sinks the settings name; the SPI panel needs the board's display wiring
/// (`spi`), the window the running screen's `operator` (its keys' requests; none on a fault
/// screen). A sink that does not open is logged and left out, and returned with why: the
/// others still show frames.
pub fn open_sinks(
    d: &DisplayConfig,
    mut spi: Option<DisplayIo>,
    operator: Option<&Operator>,
) -> (Vec<Box<dyn DisplaySink>>, Vec<SinkError>) {
    let mut sinks: Vec<Box<dyn DisplaySink>> = Vec::new();
    let mut failed = Vec::new();
    for kind in &d.sinks {
        let opened: Result<Box<dyn DisplaySink>, SinkError> = match kind {
            SinkKind::Framebuffer => Framebuffer::open(&d.framebuffer, &Framebuffer::sysfs_of(&d.framebuffer))
                .map(|f| Box::new(f) as Box<dyn DisplaySink>),
            SinkKind::Snapshot => FrameFolder::new(d.snapshot_dir.join("frames"), d.snapshot_every)
                .map(|f| Box::new(f) as Box<dyn DisplaySink>),
            SinkKind::Window => WindowSink::open(d.width, d.height, d.window_fullscreen, operator.cloned())
                .map(|w| Box::new(w) as Box<dyn DisplaySink>),
            SinkKind::Spi => match spi.take() {
                Some(io) => open_spi(d, io),
                None => Err(SinkError::Device {
                    sink: "spi".into(),
                    detail: "the SPI display needs a board description with a [display] (board.description)".into(),
                }),
            },
        };
        match opened {
            Ok(s) => sinks.push(s),
            Err(e) => {
                tracing::error!(sink = ?kind, error = %melanoscope_shared::errors::Chain(&e), "display sink not opened");
                failed.push(e);
            }
        }
    }
    (sinks, failed)
}

/// The board description file the settings name, if any.
pub fn board_description(cfg: &EdgeConfig) -> Option<&Path> {
    (!cfg.board.description.is_empty()).then(|| Path::new(&cfg.board.description))
}

#[cfg(test)]
mod tests {
    use super::*;
    use melanoscope_shared::image::{RgbImage, save_rgb};
    use melanoscope_shared::scratch::ScratchDir;

    /// A site file with `camera.source = "replay"` and no list loads; `screen --replay` gives the
    /// files, and without them the refusal names the setting and the option. Before, the site
    /// file itself was refused although the command line named the files.
    #[test]
    fn a_replay_site_without_a_list_screens_what_the_command_line_gives() {
        let dir = ScratchDir::new("replay-no-list");
        let frame = dir.join("f.png");
        save_rgb(&frame, &RgbImage::filled(64, 48, [200, 120, 180]).unwrap()).unwrap();
        let site = dir.join("site.toml");
        std::fs::write(&site, "[camera]\nsource = \"replay\"\n").unwrap();
        let cfg = EdgeConfig::load(Some(&site)).unwrap();
        let e = match open_source(&cfg, &[]) {
            Ok(_) => panic!("no list and no --replay opened a source"),
            Err(e) => melanoscope_shared::errors::error_chain(&e),
        };
        assert!(e.contains("camera.replay") && e.contains("--replay") && e.contains("site.toml"), "{e}");
        let mut source = open_source(&cfg, &[frame.display().to_string()]).map_err(|e| e.to_string()).unwrap();
        assert!(source.next_frame().unwrap().is_some(), "the command line's frame is replayed");
    }
}
