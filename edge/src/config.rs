//! The edge's settings: the shipped defaults (`config/default.toml`) updated by a site file that
//! package updates never touch. Every key of the site file must exist in the defaults (objective
//! tables have their own fixed keys); an unknown key is refused with its dotted name, and every
//! value is checked before any camera, pin or display opens.

use crate::source::PixelFormat;
use melanoscope_shared::bounded::BoundedReadError;
use melanoscope_shared::formats::BackendKind;
use melanoscope_shared::formats::Form;
use melanoscope_shared::metrics::Aggregation;
use melanoscope_shared::stain::StainMode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// Where the packages install the site file.
pub const DEFAULT_SITE_FILE: &str = "/etc/melanoscope/site.toml";

/// The defaults shipped with the program.
pub const DEFAULT_CONFIG: &str = include_str!("../config/default.toml");

/// Keys an `[objectives.NAME]` table may hold.
const OBJECTIVE_KEYS: [&str; 3] = ["um_per_px", "white_balance", "flat_field"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {detail}")]
    Parse { file: String, detail: String },
    #[error("{file}: unknown key `{key}` (not a setting of this version; check its spelling)")]
    UnknownKey { file: String, key: String },
    #[error("{file}: `{key}` is {value}; expected {expected}")]
    Invalid { file: String, key: String, value: String, expected: String },
    #[error(
        "objective {objective:?} has no µm/px calibration: measure a stage micrometer and run \
         `melanoscope-edge calibrate objective --config {site} --name {objective} --micrometer-um <length> --micrometer-px <pixels>`"
    )]
    Uncalibrated { objective: String, site: String },
    #[error("{path}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: larger than {max} bytes; not a settings file")]
    TooLarge { path: String, max: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub bundle: PathBuf,
    pub trusted_keys: Vec<PathBuf>,
    pub require_signature: bool,
    /// The device's record of accepted bundles (rollback protection).
    pub state_dir: PathBuf,
    pub backend: BackendSetting,
    pub onnxruntime_library: String,
    pub threads: usize,
    pub batch: usize,
    /// The bundle's form a named backend runs (`f32`, `f16`, `int8`; `""` or absent: its first).
    #[serde(with = "first_or_form")]
    pub form: Option<Form>,
    /// What `melanoscope-edge tune` measured fastest on this device (`[model.tuned]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuned: Option<TunedChoice>,
}

/// `model.form`: a form, or `""` (as site files have always said) for the bundle's first.
mod first_or_form {
    use melanoscope_shared::formats::Form;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(form: &Option<Form>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(form.map_or("", Form::name))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Form>, D::Error> {
        let name = String::deserialize(d)?;
        if name.is_empty() {
            return Ok(None);
        }
        Form::parse(&name)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("model.form: {e}, or \"\" for the bundle's first form")))
    }
}

impl ModelConfig {
    /// Whether the bundle must be signed by a trusted key: always when any key is configured
    /// (`require_signature` can only tighten that, for a device that must refuse to screen
    /// before its keys are installed).
    pub fn signature_required(&self) -> bool {
        self.require_signature || !self.trusted_keys.is_empty()
    }
}

/// `model.backend`: a runtime by name, or `auto`: the tuned choice (`[model.tuned]`), else
/// tract at batch 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendSetting {
    Auto,
    Tract,
    Onnxruntime,
}

impl BackendSetting {
    /// The named runtime; `None` for `auto`.
    pub fn kind(self) -> Option<BackendKind> {
        match self {
            BackendSetting::Auto => None,
            BackendSetting::Tract => Some(BackendKind::Tract),
            BackendSetting::Onnxruntime => Some(BackendKind::Onnxruntime),
        }
    }
}

impl std::str::FromStr for BackendSetting {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(BackendSetting::Auto),
            _ => s
                .parse::<BackendKind>()
                .map(Self::from)
                .map_err(|_| invalid("option", "backend", s, "auto, tract or onnxruntime")),
        }
    }
}

impl From<BackendKind> for BackendSetting {
    fn from(kind: BackendKind) -> Self {
        match kind {
            BackendKind::Tract => BackendSetting::Tract,
            BackendKind::Onnxruntime => BackendSetting::Onnxruntime,
        }
    }
}

/// The fastest combination `tune` measured that passed its self-test, and where it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunedChoice {
    pub backend: BackendKind,
    /// The onnxruntime library tune loaded (empty for tract).
    #[serde(default)]
    pub onnxruntime_library: String,
    pub batch: usize,
    pub threads: usize,
    /// The model form timed.
    pub form: Form,
    pub ms_per_field: f64,
    /// The CPU it was measured on (`tune::cpu_fingerprint`): a site file copied to another
    /// board is refused until tuned there.
    pub cpu: String,
    /// SHA-256 of the bundle's ONNX graph it was measured with.
    pub onnx_sha256: String,
    /// The whole table, as JSON.
    #[serde(default)]
    pub report: String,
}

/// Where frames come from (`camera.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CameraSource {
    /// A V4L2 camera (`camera.device`).
    V4l2,
    /// An MJPEG stream on standard input (e.g. `rpicam-vid --codec mjpeg -o -`).
    StdinMjpeg,
    /// Packed RGB24 frames of `camera.width` x `camera.height` on standard input.
    StdinRaw,
    /// Files, folders or globs (`camera.replay`).
    Replay,
}

/// A display the rendered frames go to (`display.sinks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkKind {
    /// The Linux framebuffer (`display.framebuffer`): HDMI or DSI screens.
    Framebuffer,
    /// The SPI panel wired in the board description.
    Spi,
    /// A folder of rendered frames (`display.snapshot_dir`).
    Snapshot,
    /// A window on the desktop (X11 or Wayland): Pi OS and JetPack desktops, a laptop.
    Window,
}

/// The controller of the SPI panel (`display.spi_model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpiModel {
    St7789,
    Ili9341,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub source: CameraSource,
    pub device: String,
    pub pixel_format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub replay: Vec<String>,
    pub replay_loop: bool,
    pub objective: String,
    pub reconnect_backoff_s: Vec<f64>,
}

/// A coarse gain map from a blank-field capture: multiply each pixel by the bilinearly
/// interpolated gain to undo vignetting and uneven illumination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlatFieldMap {
    pub width: u32,
    pub height: u32,
    pub gain: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveCalibration {
    pub um_per_px: Option<f64>,
    pub white_balance: Option<[f32; 3]>,
    pub flat_field: Option<FlatFieldMap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreeningConfig {
    pub fov_mask: bool,
    pub min_tissue_fields: usize,
    pub min_sharpness: f64,
    pub min_mean_luma: f64,
    pub max_mean_luma: f64,
    pub max_clipped_fraction: f64,
    /// How field probabilities become the frame's: `mean`, `top-K` or `majority-vote` (the old
    /// spelling `top-k` with `top_k = K` still loads as `top-K`).
    #[serde(with = "aggregation_name")]
    pub aggregation: Aggregation,
    pub ema_alpha: f64,
    pub view_change: f64,
    pub hysteresis: f64,
    pub overlay_min_change: f64,
    /// Score every tissue field's familiarity against the bundle's statistics and gate frames
    /// of mostly unfamiliar tissue (bundles without statistics screen with it off).
    pub familiarity_gate: bool,
    /// Share of a frame's tissue fields that must be unfamiliar for UNFAMILIAR TISSUE.
    pub unfamiliar_share: f64,
    /// `off`, `check` (the frame's stain is fitted and an implausible one gives UNFAMILIAR
    /// TISSUE) or `normalise` (checked, and the fields normalised to the bundle's stain).
    pub stain: StainMode,
    /// Largest angles in degrees of the fitted haematoxylin and eosin vectors from the
    /// bundle's that are still H&E.
    pub stain_max_angle_haematoxylin: f64,
    pub stain_max_angle_eosin: f64,
}

impl EdgeConfig {
    /// The folder of case folders (`cases.dir`, else `cases/` beside the record log).
    pub fn cases_dir(&self) -> PathBuf {
        if self.cases.dir.as_os_str().is_empty() { self.beside_log("cases") } else { self.cases.dir.clone() }
    }

    /// The control socket (`cases.control_socket`, else `control.sock` beside the record log).
    pub fn control_socket(&self) -> PathBuf {
        if self.cases.control_socket.as_os_str().is_empty() {
            self.beside_log("control.sock")
        } else {
            self.cases.control_socket.clone()
        }
    }

    fn beside_log(&self, name: &str) -> PathBuf {
        self.log.path.parent().unwrap_or(Path::new(".")).join(name)
    }
}

/// `screening.aggregation` as its name (`mean`, `top-3`).
mod aggregation_name {
    use melanoscope_shared::metrics::Aggregation;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &Aggregation, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&a.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Aggregation, D::Error> {
        let name = String::deserialize(d)?;
        Aggregation::parse(&name).map_err(|e| serde::de::Error::custom(format!("screening.aggregation: {e}")))
    }
}

/// Site files written before the aggregation had one spelling say `aggregation = "top-k"` and
/// `top_k = K`: that is `top-K`. `top_k` is read only here (and kept among the known keys).
fn resolve_old_aggregation(table: &mut Table, file: &str) -> Result<(), ConfigError> {
    let Some(Value::Table(screening)) = table.get_mut("screening") else { return Ok(()) };
    let top_k = screening.remove("top_k");
    if !screening.get("aggregation").and_then(Value::as_str).is_some_and(|a| a.eq_ignore_ascii_case("top-k")) {
        return Ok(());
    }
    let k = top_k.as_ref().and_then(Value::as_integer).filter(|k| (1..=i64::from(u16::MAX)).contains(k));
    let Some(k) = k else {
        let shown = top_k.map_or("missing".to_string(), |v| v.to_string());
        return Err(invalid(file, "screening.top_k", shown, "1 to 65535 with aggregation = \"top-k\""));
    };
    screening.insert("aggregation".into(), Value::String(format!("top-{k}")));
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayConfig {
    pub sinks: Vec<SinkKind>,
    pub width: u32,
    pub height: u32,
    pub framebuffer: PathBuf,
    pub snapshot_dir: PathBuf,
    pub snapshot_every: u64,
    pub spi_model: SpiModel,
    pub spi_width: u16,
    pub spi_height: u16,
    /// The window sink opens full screen.
    pub window_fullscreen: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub path: PathBuf,
    pub sync: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardConfig {
    pub description: String,
}

/// Every setting of the edge device, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// The site file these settings were loaded from (`None`: the defaults alone); messages
    /// that tell the technician to change it name this file.
    #[serde(skip)]
    pub site_file: Option<PathBuf>,
    pub model: ModelConfig,
    pub camera: CameraConfig,
    pub objectives: BTreeMap<String, ObjectiveCalibration>,
    pub screening: ScreeningConfig,
    pub display: DisplayConfig,
    pub log: LogConfig,
    pub cases: CasesConfig,
    pub web: WebConfig,
    pub board: BoardConfig,
}

/// The web view (`[web]`): the live screen in a browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    pub enabled: bool,
    /// Address and port to listen on.
    pub listen: String,
    /// Asked of every request when set; generated at start on a non-loopback address when empty.
    pub token: String,
    /// A second token that watches only.
    pub viewer_token: String,
    /// Every viewer watches only.
    pub read_only: bool,
    pub max_viewers: usize,
    /// A review folder served under `/review/` (empty: none).
    pub review_dir: PathBuf,
}

/// Shortest token accepted: 16 characters of a random token is 64 bits or more.
pub const MIN_TOKEN_LEN: usize = 16;

impl WebConfig {
    /// The listening address, parsed (validated when the settings loaded).
    pub fn address(&self) -> Result<std::net::SocketAddr, std::net::AddrParseError> {
        self.listen.parse()
    }
}

/// Cases: where their snapshots go, how they are opened and closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesConfig {
    /// One folder a case (its most suspicious fields and their CAMs); empty: `cases/` beside
    /// the record log.
    pub dir: PathBuf,
    /// The running `screen`'s control socket (`case open`/`case close` write to it); empty:
    /// `control.sock` beside the record log.
    pub control_socket: PathBuf,
    /// Most suspicious fields kept a case.
    pub top_fields: usize,
    /// A press held this long opens or closes a case (a shorter one freezes the view).
    pub long_press_ms: u64,
}

fn parse_table(file: &str, text: &str) -> Result<Table, ConfigError> {
    text.parse::<Table>()
        .map_err(|e| ConfigError::Parse { file: file.into(), detail: melanoscope_shared::errors::error_chain(&e) })
}

/// Refuses any key of `site` that `defaults` lacks, naming it with its dotted path.
fn check_keys(file: &str, site: &Table, defaults: &Table, prefix: &str) -> Result<(), ConfigError> {
    for (key, value) in site {
        let dotted = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        if dotted == "model.tuned" {
            // Written by `tune`; its keys are checked by its own type.
            continue;
        }
        if prefix == "objectives" {
            let Value::Table(t) = value else {
                return Err(invalid(file, &dotted, value, "a table of one objective's calibration"));
            };
            if let Some(k) = t.keys().find(|k| !OBJECTIVE_KEYS.contains(&k.as_str())) {
                return Err(ConfigError::UnknownKey { file: file.into(), key: format!("{dotted}.{k}") });
            }
            continue;
        }
        match (value, defaults.get(key)) {
            (_, None) => return Err(ConfigError::UnknownKey { file: file.into(), key: dotted }),
            (Value::Table(s), Some(Value::Table(d))) => check_keys(file, s, d, &dotted)?,
            _ => {}
        }
    }
    Ok(())
}

/// `site` laid over `base`: tables merge key by key, anything else is replaced.
fn merge(base: &mut Table, site: Table) {
    for (key, value) in site {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(s)) => merge(b, s),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

fn invalid(file: &str, key: &str, value: impl std::fmt::Display, expected: &str) -> ConfigError {
    ConfigError::Invalid { file: file.into(), key: key.into(), value: value.to_string(), expected: expected.into() }
}

impl EdgeConfig {
    /// The defaults alone.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::from_texts(None)
    }

    /// Defaults updated by the site file at `path` (missing file: defaults alone).
    /// The defaults with the site file `site` laid over them; a site file that is named but
    /// missing (or a dangling link) is an error, not a silent fall-back to the defaults.
    pub fn load(site: Option<&Path>) -> Result<Self, ConfigError> {
        match site {
            Some(p) => Ok(Self {
                site_file: Some(p.to_path_buf()),
                ..Self::from_texts(Some((&p.display().to_string(), &read_settings_text(p)?)))?
            }),
            None => Self::defaults(),
        }
    }

    /// What a fault screen can use of a site file that does not load: its `[display]` and
    /// `[board]` tables when they are valid on their own (so the fault shows on the sinks and
    /// LEDs the lab set up), else the defaults with every display that needs no board.
    pub fn salvage(site: &Path) -> Result<Self, ConfigError> {
        let usable = read_site_table(site).ok().and_then(|table| {
            let kept: Table = table.into_iter().filter(|(k, _)| k == "display" || k == "board").collect();
            let text = toml::to_string(&kept).ok()?;
            Self::from_texts(Some((&site.display().to_string(), &text))).ok()
        });
        match usable {
            Some(cfg) => Ok(cfg),
            None => {
                let mut cfg = Self::defaults()?;
                cfg.display.sinks = vec![SinkKind::Framebuffer, SinkKind::Snapshot];
                Ok(cfg)
            }
        }
    }

    /// Defaults updated by `site` = (file name for messages, TOML text).
    pub fn from_texts(site: Option<(&str, &str)>) -> Result<Self, ConfigError> {
        let mut table = parse_table("default.toml", DEFAULT_CONFIG)?;
        let file = site.map_or("default.toml", |s| s.0).to_string();
        if let Some((name, text)) = site {
            let site_table = parse_table(name, text)?;
            check_keys(name, &site_table, &table, "")?;
            merge(&mut table, site_table);
        }
        resolve_old_aggregation(&mut table, &file)?;
        let config: EdgeConfig = Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError::Parse {
            file: file.clone(),
            detail: melanoscope_shared::errors::error_chain(&e),
        })?;
        config.validate(&file)?;
        Ok(config)
    }

    /// Checks every value's range against what the device can use (fixed choices are enums,
    /// refused while parsing).
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let m = &self.model;
        // Relative, the rollback state would follow the folder `screen` was started from, and
        // a start elsewhere would accept an older bundle.
        if !m.state_dir.is_absolute() {
            return Err(invalid(
                file,
                "model.state_dir",
                m.state_dir.display(),
                "an absolute folder, e.g. /var/lib/melanoscope",
            ));
        }
        if !(1..=64).contains(&m.threads) {
            return Err(invalid(file, "model.threads", m.threads, "1 to 64"));
        }
        if !(1..=64).contains(&m.batch) {
            return Err(invalid(file, "model.batch", m.batch, "1 to 64"));
        }
        // The tuned choice is run as it stands under backend = "auto": the same ranges, or a
        // hand-edited batch of 100000 aborts allocating, and the service restarts into it.
        if let Some(t) = &m.tuned {
            if !(1..=64).contains(&t.threads) {
                return Err(invalid(file, "model.tuned.threads", t.threads, "1 to 64"));
            }
            if !(1..=64).contains(&t.batch) {
                return Err(invalid(file, "model.tuned.batch", t.batch, "1 to 64"));
            }
            if !(t.ms_per_field.is_finite() && t.ms_per_field >= 0.0) {
                return Err(invalid(file, "model.tuned.ms_per_field", t.ms_per_field, "a finite time >= 0"));
            }
        }
        let c = &self.camera;
        if !(16..=16384).contains(&c.width) || !(16..=16384).contains(&c.height) {
            return Err(invalid(file, "camera.width/height", format!("{}x{}", c.width, c.height), "16 to 16384 each"));
        }
        if !(1..=240).contains(&c.fps) {
            return Err(invalid(file, "camera.fps", c.fps, "1 to 240"));
        }
        // `source = "replay"` with no list is complete when `screen --replay` gives the files: the
        // list is asked for where the source opens (screen::setup::open_source).
        if c.reconnect_backoff_s.is_empty() || c.reconnect_backoff_s.iter().any(|s| !(0.0..=600.0).contains(s)) {
            return Err(invalid(
                file,
                "camera.reconnect_backoff_s",
                format!("{:?}", c.reconnect_backoff_s),
                "0 to 600 s each, at least one",
            ));
        }
        if c.objective.is_empty() {
            return Err(invalid(file, "camera.objective", "empty", "an objective name, e.g. 10x"));
        }
        for (name, o) in &self.objectives {
            let key = |k: &str| format!("objectives.{name}.{k}");
            if let Some(u) = o.um_per_px
                && !(0.01..=100.0).contains(&u)
            {
                return Err(invalid(file, &key("um_per_px"), u, "0.01 to 100 µm per pixel"));
            }
            if let Some(wb) = o.white_balance
                && wb.iter().any(|g| !(0.1..=10.0).contains(g))
            {
                return Err(invalid(file, &key("white_balance"), format!("{wb:?}"), "gains of 0.1 to 10"));
            }
            if let Some(ff) = &o.flat_field {
                let n = ff.width as usize * ff.height as usize;
                if !(2..=256).contains(&ff.width) || !(2..=256).contains(&ff.height) || ff.gain.len() != n {
                    return Err(invalid(
                        file,
                        &key("flat_field"),
                        format!("{}x{} with {} gains", ff.width, ff.height, ff.gain.len()),
                        "2 to 256 a side and one gain per cell",
                    ));
                }
                if ff.gain.iter().any(|g| !(0.1..=10.0).contains(g)) {
                    return Err(invalid(file, &key("flat_field.gain"), "a gain outside 0.1-10", "gains of 0.1 to 10"));
                }
            }
        }
        let s = &self.screening;
        let unit = |k: &str, v: f64| {
            if (0.0..=1.0).contains(&v) { Ok(()) } else { Err(invalid(file, &format!("screening.{k}"), v, "0 to 1")) }
        };
        unit("max_clipped_fraction", s.max_clipped_fraction)?;
        unit("view_change", s.view_change)?;
        unit("hysteresis", s.hysteresis)?;
        unit("overlay_min_change", s.overlay_min_change)?;
        if !(s.ema_alpha > 0.0 && s.ema_alpha <= 1.0) {
            return Err(invalid(file, "screening.ema_alpha", s.ema_alpha, "above 0, at most 1"));
        }
        if !(0.0..=255.0).contains(&s.min_mean_luma) || !(s.min_mean_luma..=255.0).contains(&s.max_mean_luma) {
            return Err(invalid(
                file,
                "screening.min_mean_luma/max_mean_luma",
                format!("{}/{}", s.min_mean_luma, s.max_mean_luma),
                "0 <= min <= max <= 255",
            ));
        }
        if !(s.min_sharpness >= 0.0 && s.min_sharpness.is_finite()) {
            return Err(invalid(file, "screening.min_sharpness", s.min_sharpness, "a finite value >= 0"));
        }
        if s.min_tissue_fields == 0 {
            return Err(invalid(file, "screening.min_tissue_fields", 0, "at least 1"));
        }
        if s.aggregation == Aggregation::TopK(0) {
            return Err(invalid(file, "screening.aggregation", "top-0", "top-K with K at least 1"));
        }
        if !(s.unfamiliar_share > 0.0 && s.unfamiliar_share <= 1.0) {
            return Err(invalid(file, "screening.unfamiliar_share", s.unfamiliar_share, "above 0, at most 1"));
        }
        for (key, v) in [
            ("screening.stain_max_angle_haematoxylin", s.stain_max_angle_haematoxylin),
            ("screening.stain_max_angle_eosin", s.stain_max_angle_eosin),
        ] {
            if !(v > 0.0 && v <= 90.0) {
                return Err(invalid(file, key, v, "above 0, at most 90 degrees"));
            }
        }
        let c = &self.cases;
        if !(1..=64).contains(&c.top_fields) {
            return Err(invalid(file, "cases.top_fields", c.top_fields, "1 to 64"));
        }
        if !(300..=10_000).contains(&c.long_press_ms) {
            return Err(invalid(file, "cases.long_press_ms", c.long_press_ms, "300 to 10000 milliseconds"));
        }
        let socket = self.control_socket();
        if socket.as_os_str().len() > 100 {
            // A Unix socket's path must fit sun_path (108 bytes with its terminator).
            return Err(invalid(
                file,
                "cases.control_socket",
                socket.display(),
                "a path of at most 100 bytes (a Unix socket's limit)",
            ));
        }
        let web = &self.web;
        if web.address().is_err() {
            return Err(invalid(
                file,
                "web.listen",
                &web.listen,
                "an address and port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
            ));
        }
        for (key, token) in [("web.token", &web.token), ("web.viewer_token", &web.viewer_token)] {
            let printable = token
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | ';' | ',' | '\\' | '&' | '#' | '%' | '+'));
            if !token.is_empty() && (token.len() < MIN_TOKEN_LEN || token.len() > 256 || !printable) {
                return Err(invalid(
                    file,
                    key,
                    format!("{} characters", token.len()),
                    "empty, or 16 to 256 letters, digits and punctuation other than \" ; , \\ & # % +",
                ));
            }
        }
        if !web.viewer_token.is_empty() && web.viewer_token == web.token {
            return Err(invalid(file, "web.viewer_token", "the same as web.token", "a token of its own"));
        }
        if !(1..=64).contains(&web.max_viewers) {
            return Err(invalid(file, "web.max_viewers", web.max_viewers, "1 to 64"));
        }
        let d = &self.display;
        if !(64..=7680).contains(&d.width) || !(64..=4320).contains(&d.height) {
            return Err(invalid(
                file,
                "display.width/height",
                format!("{}x{}", d.width, d.height),
                "64x64 to 7680x4320",
            ));
        }
        if d.spi_width == 0 || d.spi_height == 0 || d.spi_width > 320 || d.spi_height > 320 {
            return Err(invalid(
                file,
                "display.spi_width/spi_height",
                format!("{}x{}", d.spi_width, d.spi_height),
                "1 to 320 each",
            ));
        }
        Ok(())
    }

    /// The site file `calibrate` and `tune` write to for these settings: the one they were
    /// loaded from, else the packaged location.
    pub fn site_path(&self) -> &Path {
        self.site_file.as_deref().unwrap_or(Path::new(DEFAULT_SITE_FILE))
    }

    /// The calibration of the objective in use; refuses one without a µm/px.
    pub fn active_objective(&self) -> Result<(&str, &ObjectiveCalibration, f64), ConfigError> {
        let name = self.camera.objective.as_str();
        match self.objectives.get(name) {
            Some(o @ ObjectiveCalibration { um_per_px: Some(u), .. }) => Ok((name, o, *u)),
            _ => {
                Err(ConfigError::Uncalibrated { objective: name.into(), site: self.site_path().display().to_string() })
            }
        }
    }
}

/// Reads the site file as a table (empty when it does not exist yet), for `calibrate` to update.
pub fn read_site_table(path: &Path) -> Result<Table, ConfigError> {
    if !path.exists() {
        return Ok(Table::new());
    }
    parse_table(&path.display().to_string(), &read_settings_text(path)?)
}

/// Settings files are a few kilobytes (a flat-field map at most some tens); a larger file is
/// refused before it is read into memory whole.
const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// The text of the settings file at `path`, bounded in size.
fn read_settings_text(path: &Path) -> Result<String, ConfigError> {
    let io = |source| ConfigError::Io { path: path.display().to_string(), source };
    if std::fs::symlink_metadata(path).is_ok() && !path.exists() {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "a link to a file that does not exist");
        return Err(ConfigError::Io { path: path.display().to_string(), source });
    }
    let bytes = melanoscope_shared::bounded::read_bounded(path, MAX_SETTINGS_BYTES).map_err(|e| match e {
        BoundedReadError::Io(source) => io(source),
        BoundedReadError::TooLarge { .. } => {
            ConfigError::TooLarge { path: path.display().to_string(), max: MAX_SETTINGS_BYTES }
        }
    })?;
    String::from_utf8(bytes).map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// Sets `objectives.<objective>.<key>` in the site file at `path`, checks that the result
/// loads, and replaces the file atomically (other keys and objectives are kept).
pub fn update_objective(path: &Path, objective: &str, key: &str, value: Value) -> Result<EdgeConfig, ConfigError> {
    update_site(path, &["objectives", objective, key], value)
}

/// Writes `[model.tuned]` into the site file at `path`, as [`update_objective`] does.
pub fn update_tuned(path: &Path, tuned: &TunedChoice) -> Result<EdgeConfig, ConfigError> {
    let value = Value::try_from(tuned).map_err(|e| ConfigError::Parse {
        file: path.display().to_string(),
        detail: melanoscope_shared::errors::error_chain(&e),
    })?;
    update_site(path, &["model", "tuned"], value)
}

/// Sets the value at the dotted `keys` of the site file at `path` (tables on the way are made),
/// checks that the result loads, and replaces the file atomically. The file is edited in place:
/// its comments, order and layout stay as the technician wrote them. A site file that cannot be
/// written is refused before anything is written.
fn update_site(path: &Path, keys: &[&str], value: Value) -> Result<EdgeConfig, ConfigError> {
    let file = path.display().to_string();
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly()) {
        let source = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "the file is read-only");
        return Err(ConfigError::Io { path: file, source });
    }
    let old = if path.exists() { read_settings_text(path)? } else { String::new() };
    let text = edit_toml(&file, &old, keys, value)?;
    let config = EdgeConfig::from_texts(Some((&file, &text)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ConfigError::Io { path: dir.display().to_string(), source })?;
    }
    melanoscope_shared::atomic::write_atomic(path, text.as_bytes())
        .map_err(|source| ConfigError::Io { path: file.clone(), source })?;
    Ok(EdgeConfig { site_file: Some(path.to_path_buf()), ..config })
}

/// `text` with the value at the dotted `keys` set to `value`, everything else untouched.
fn edit_toml(file: &str, text: &str, keys: &[&str], value: Value) -> Result<String, ConfigError> {
    use toml_edit::{DocumentMut, Item};
    let parse = |detail: String| ConfigError::Parse { file: file.into(), detail };
    let Some((last, parents)) = keys.split_last() else {
        return Err(invalid(file, "", "no key", "a dotted key"));
    };
    let mut doc: DocumentMut =
        text.parse().map_err(|e: toml_edit::TomlError| parse(melanoscope_shared::errors::error_chain(&e)))?;
    // The new value in toml_edit's form: written by `toml` under its own key, then parsed.
    let item = {
        let mut wrapper = Table::new();
        wrapper.insert(last.to_string(), value);
        let written = toml::to_string(&wrapper).map_err(|e| parse(melanoscope_shared::errors::error_chain(&e)))?;
        let mut parsed: DocumentMut =
            written.parse().map_err(|e: toml_edit::TomlError| parse(melanoscope_shared::errors::error_chain(&e)))?;
        parsed.as_table_mut().remove(last).unwrap_or(Item::None)
    };
    let not_table = |depth: usize| invalid(file, &keys[..depth].join("."), "not a table", "a table");
    let mut at: &mut Item = doc.as_item_mut();
    for (depth, key) in parents.iter().enumerate() {
        // Inside an inline table only values fit, so anything new there is inline too.
        let inline = at.is_inline_table();
        let table = at.as_table_like_mut().ok_or_else(|| not_table(depth))?;
        if table.get(key).is_none() {
            let fresh = if inline {
                Item::Value(toml_edit::Value::InlineTable(toml_edit::InlineTable::new()))
            } else {
                let mut t = toml_edit::Table::new();
                // Holds only sub-tables at first: no empty `[objectives]` header.
                t.set_implicit(true);
                Item::Table(t)
            };
            table.insert(key, fresh);
        }
        at = table.get_mut(key).ok_or_else(|| not_table(depth + 1))?;
    }
    let inline = at.is_inline_table();
    let table = at.as_table_like_mut().ok_or_else(|| not_table(parents.len()))?;
    let item = if inline {
        Item::Value(item.into_value().map_err(|_| invalid(file, &keys.join("."), "a table array", "a value"))?)
    } else {
        item
    };
    table.insert(last, item);
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-edited or damaged `[model.tuned]` is refused naming the file and the key.
    #[test]
    fn a_malformed_tuned_table_is_refused() {
        let good = "backend = \"tract\"\nbatch = 1\nthreads = 2\nform = \"f32\"\nms_per_field = 40.0\n\
                    cpu = \"x86_64 x [avx2]\"\nonnx_sha256 = \"00\"\n";
        let ok = EdgeConfig::from_texts(Some(("site.toml", &format!("[model.tuned]\n{good}")))).unwrap();
        assert_eq!(ok.model.tuned.map(|t| t.batch), Some(1));
        for (bad, word) in [
            (good.replace("batch = 1", "batch = \"one\""), "batch"),
            (good.replace("backend = \"tract\"", "backend = \"tensorrt\""), "tensorrt"),
            (format!("{good}speedup = 3\n"), "speedup"),
            (good.replace("threads = 2\n", ""), "threads"),
            (good[..good.len() / 2].to_string(), "site.toml"),
            // Out of the ranges model.batch and model.threads have (a crash loop, or a start
            // that never ends, before they were checked).
            (good.replace("batch = 1", "batch = 100000"), "model.tuned.batch"),
            (good.replace("batch = 1", "batch = 0"), "model.tuned.batch"),
            (good.replace("batch = 1", "batch = 65"), "model.tuned.batch"),
            (good.replace("threads = 2", "threads = 0"), "model.tuned.threads"),
            (good.replace("threads = 2", "threads = 100000"), "model.tuned.threads"),
            (good.replace("ms_per_field = 40.0", "ms_per_field = -1.0"), "model.tuned.ms_per_field"),
        ] {
            let e = EdgeConfig::from_texts(Some(("site.toml", &format!("[model.tuned]\n{bad}")))).unwrap_err();
            let e = e.to_string();
            assert!(e.contains("site.toml") && e.contains(word), "{word}: {e}");
        }
    }

    /// A relative or empty `model.state_dir` is refused: the rollback state would follow the
    /// folder `screen` starts in, and a start elsewhere would accept an older bundle.
    #[test]
    fn the_state_folder_must_be_absolute() {
        for bad in ["", "state", "./var/lib/melanoscope"] {
            let text = format!("[model]\nstate_dir = {bad:?}\n");
            let e = EdgeConfig::from_texts(Some(("site.toml", &text))).unwrap_err().to_string();
            assert!(e.contains("site.toml") && e.contains("model.state_dir") && e.contains("absolute"), "{bad:?}: {e}");
        }
        assert!(EdgeConfig::from_texts(Some(("site.toml", "[model]\nstate_dir = \"/srv/ms\"\n"))).is_ok());
    }

    #[test]
    fn defaults_load_and_the_site_file_updates_them() {
        let d = EdgeConfig::defaults().unwrap();
        assert_eq!((d.model.backend, d.camera.source), (BackendSetting::Auto, CameraSource::V4l2));
        let site = "[camera]\nobjective = \"40x\"\n[objectives.40x]\num_per_px = 0.16\n[screening]\nfov_mask = true\n";
        let c = EdgeConfig::from_texts(Some(("site.toml", site))).unwrap();
        assert_eq!(c.camera.objective, "40x");
        assert!(c.screening.fov_mask);
        assert_eq!(c.camera.width, 1920, "untouched keys keep their defaults");
        assert_eq!(c.active_objective().unwrap().2, 0.16);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = EdgeConfig::from_texts(Some(("site.toml", "[camera]\nframerate = 30\n"))).unwrap_err().to_string();
        assert!(e.contains("site.toml") && e.contains("`camera.framerate`"), "{e}");
        let e = EdgeConfig::from_texts(Some(("s.toml", "[objectives.10x]\nmicrons = 1\n"))).unwrap_err().to_string();
        assert!(e.contains("`objectives.10x.microns`"), "{e}");
        let e = EdgeConfig::from_texts(Some(("s.toml", "[model]\nbatch = 0\n"))).unwrap_err().to_string();
        assert!(e.contains("model.batch") && e.contains("1 to 64"), "{e}");
        let e = EdgeConfig::from_texts(Some(("s.toml", "[camera]\nwidth = \"wide\"\n"))).unwrap_err().to_string();
        assert!(e.contains("s.toml") && e.contains("width"), "{e}");
        let e =
            EdgeConfig::from_texts(Some(("s.toml", "[objectives.10x]\num_per_px = -1.0\n"))).unwrap_err().to_string();
        assert!(e.contains("objectives.10x.um_per_px") && e.contains("-1"), "{e}");
        for (key, v) in [
            ("stain_max_angle_eosin", "0.0"),
            ("stain_max_angle_haematoxylin", "nan"),
            ("stain_max_angle_eosin", "1e30"),
        ] {
            let site = format!("[screening]\n{key} = {v}\n");
            let e = EdgeConfig::from_texts(Some(("s.toml", &site))).unwrap_err().to_string();
            assert!(e.contains(&format!("screening.{key}")) && e.contains("at most 90 degrees"), "{e}");
        }
    }

    /// Fixed choices are enums: an unknown one is refused while parsing, naming the file, the
    /// key, the value and every allowed spelling; the spellings of existing site files load.
    #[test]
    fn unknown_choices_name_the_key_the_value_and_the_allowed_ones() {
        let cases = [
            (
                "[camera]\nsource = \"usb\"\n",
                "camera.source",
                "usb",
                &["v4l2", "stdin-mjpeg", "stdin-raw", "replay"][..],
            ),
            ("[camera]\npixel_format = \"h264\"\n", "camera.pixel_format", "h264", &["mjpeg", "yuyv"][..]),
            ("[model]\nbackend = \"tensorrt\"\n", "model.backend", "tensorrt", &["auto", "tract", "onnxruntime"][..]),
            (
                "[screening]\naggregation = \"median\"\n",
                "screening.aggregation",
                "median",
                &["mean", "top-K", "majority-vote"][..],
            ),
            (
                "[display]\nsinks = [\"snapshot\", \"hdmi\"]\n",
                "display.sinks",
                "hdmi",
                &["framebuffer", "spi", "snapshot"][..],
            ),
            ("[display]\nspi_model = \"ssd1306\"\n", "display.spi_model", "ssd1306", &["st7789", "ili9341"][..]),
            (
                "[screening]\nstain = \"sometimes\"\n",
                "screening.stain",
                "sometimes",
                &["off", "check", "normalise"][..],
            ),
        ];
        for (site, key, value, allowed) in cases {
            let e = EdgeConfig::from_texts(Some(("site.toml", site))).unwrap_err().to_string();
            assert!(e.contains("site.toml") && e.contains(key) && e.contains(value), "{key}: {e}");
            for a in allowed {
                assert!(e.contains(a), "{key}: `{a}` missing from {e}");
            }
        }
        let every = "[camera]\nsource = \"stdin-mjpeg\"\npixel_format = \"yuyv\"\n[model]\nbackend = \"onnxruntime\"\n\
                     [screening]\naggregation = \"top-k\"\n[display]\nsinks = [\"framebuffer\", \"spi\", \"snapshot\"]\n\
                     spi_model = \"ili9341\"\n";
        let c = EdgeConfig::from_texts(Some(("site.toml", every))).unwrap();
        assert_eq!((c.camera.source, c.camera.pixel_format), (CameraSource::StdinMjpeg, PixelFormat::Yuyv));
        // The old spelling: top-k with top_k (3 by default).
        assert_eq!((c.model.backend, c.screening.aggregation), (BackendSetting::Onnxruntime, Aggregation::TopK(3)));
        assert_eq!(c.display.sinks, vec![SinkKind::Framebuffer, SinkKind::Spi, SinkKind::Snapshot]);
        assert_eq!(c.display.spi_model, SpiModel::Ili9341);
        // What check-config prints loads again unchanged.
        let printed = toml::to_string(&c).unwrap();
        assert_eq!(EdgeConfig::from_texts(Some(("printed.toml", &printed))).unwrap(), c);
    }

    /// A site file cut short, not UTF-8, or far too large is refused naming the file; the
    /// large one without being read whole.
    #[test]
    fn truncated_binary_and_oversized_site_files_are_refused_by_name() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("cfg-bad");
        let good = "[camera]\nsource = \"replay\"\nreplay = [\"/frames\"]\n[objectives.10x]\num_per_px = 0.65\n";
        for cut in [12, 30, good.len() - 8] {
            let path = dir.join(format!("cut-{cut}.toml"));
            std::fs::write(&path, &good.as_bytes()[..cut]).unwrap();
            let e = EdgeConfig::load(Some(&path)).unwrap_err().to_string();
            assert!(e.contains(&format!("cut-{cut}.toml")), "cut at {cut}: {e}");
        }
        let binary = dir.join("binary.toml");
        std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x9c]).unwrap();
        let e = EdgeConfig::load(Some(&binary)).unwrap_err().to_string();
        assert!(e.contains("binary.toml"), "{e}");
        let huge = dir.join("huge.toml");
        std::fs::write(&huge, format!("# {}\n", "x".repeat(2 << 20))).unwrap();
        let e = EdgeConfig::load(Some(&huge)).unwrap_err();
        assert!(matches!(e, ConfigError::TooLarge { .. }) && e.to_string().contains("huge.toml"), "{e}");
        assert!(matches!(read_site_table(&huge), Err(ConfigError::TooLarge { .. })));
        // Named but missing, or a dangling link: an error naming it, not the defaults.
        let e = EdgeConfig::load(Some(&dir.join("missing.toml"))).unwrap_err().to_string();
        assert!(e.contains("missing.toml"), "{e}");
        let link = dir.join("dangling.toml");
        std::os::unix::fs::symlink(dir.join("gone.toml"), &link).unwrap();
        let e = melanoscope_shared::errors::error_chain(&EdgeConfig::load(Some(&link)).unwrap_err());
        assert!(e.contains("dangling.toml") && e.contains("does not exist"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A site file that does not load still gives the fault screen its displays and board.
    #[test]
    fn a_broken_site_file_salvages_its_display_and_board() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("cfg-salvage");
        let site = dir.join("site.toml");
        let display = "[display]\nsinks = [\"framebuffer\", \"spi\"]\n[board]\ndescription = \"/usr/share/b.toml\"\n";
        std::fs::write(&site, format!("{display}[model]\nthreads = 999\n")).unwrap();
        assert!(EdgeConfig::load(Some(&site)).is_err());
        let c = EdgeConfig::salvage(&site).unwrap();
        assert_eq!(c.display.sinks, vec![SinkKind::Framebuffer, SinkKind::Spi]);
        assert_eq!(c.board.description, "/usr/share/b.toml");
        // Not TOML at all, or an invalid [display]: every sink that needs no board.
        for bad in ["[display\nsinks = 3", "[display]\nsinks = [\"hdmi\"]\n"] {
            std::fs::write(&site, bad).unwrap();
            let c = EdgeConfig::salvage(&site).unwrap();
            assert_eq!(c.display.sinks, vec![SinkKind::Framebuffer, SinkKind::Snapshot], "{bad}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_uncalibrated_objective_says_how_to_calibrate() {
        let e = EdgeConfig::defaults().unwrap().active_objective().unwrap_err().to_string();
        assert!(
            e.contains("\"10x\"") && e.contains("calibrate objective --config /etc/melanoscope/site.toml --name 10x"),
            "{e}"
        );
        // Loaded from a lab's own site file: the command, followed literally, writes that file.
        let dir = melanoscope_shared::scratch::ScratchDir::new("cfg-uncal");
        let site = dir.join("bench-scope.toml");
        std::fs::write(&site, "[camera]\nobjective = \"40x\"\n").unwrap();
        let e = EdgeConfig::load(Some(&site)).unwrap().active_objective().unwrap_err().to_string();
        assert!(e.contains(&format!("--config {} --name 40x", site.display())), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn calibration_keeps_the_site_files_comments_and_order() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("cfg-edit");
        let path = dir.join("site.toml");
        let original = "# Bench 3, Olympus CX23 (room 2.14)\n\
                        [display]\n\
                        width = 1024 # the clinic's monitor\n\n\
                        # Objectives measured 2026-11-03 with the 1 mm micrometer.\n\
                        [objectives.40x]\n\
                        um_per_px = 0.26\n\n\
                        [camera]\n\
                        objective = \"40x\"\n";
        std::fs::write(&path, original).unwrap();
        update_objective(&path, "10x", "um_per_px", Value::Float(1.04)).unwrap();
        update_objective(&path, "40x", "um_per_px", Value::Float(0.25)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for comment in ["# Bench 3, Olympus CX23 (room 2.14)", "# the clinic's monitor", "# Objectives measured"] {
            assert!(text.contains(comment), "{comment:?} lost:\n{text}");
        }
        // The sections stay in the technician's order (display, objectives, camera).
        let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle} missing:\n{text}"));
        assert!(at("[display]") < at("[objectives.40x]") && at("[objectives.40x]") < at("[camera]"), "{text}");
        assert!(text.contains("um_per_px = 0.25") && !text.contains("0.26"), "{text}");
        let c = EdgeConfig::load(Some(&path)).unwrap();
        assert_eq!((c.objectives["10x"].um_per_px, c.active_objective().unwrap().2), (Some(1.04), 0.25));
        // Objectives written as one inline table are edited inline.
        std::fs::write(&path, "objectives = { 40x = { um_per_px = 0.26 } } # inline\n").unwrap();
        update_objective(&path, "10x", "um_per_px", Value::Float(1.0)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# inline") && text.starts_with("objectives = {"), "{text}");
        assert_eq!(EdgeConfig::load(Some(&path)).unwrap().objectives["10x"].um_per_px, Some(1.0));
        // A key in the way that is not a table is named.
        std::fs::write(&path, "objectives = 3\n").unwrap();
        let e = update_objective(&path, "10x", "um_per_px", Value::Float(1.0)).unwrap_err().to_string();
        assert!(e.contains("`objectives`"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn calibration_updates_the_site_file_and_keeps_other_keys() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("cfg");
        let path = dir.join("site.toml");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, "[display]\nwidth = 1024\n").unwrap();
        let c = update_objective(&path, "10x", "um_per_px", Value::Float(0.65)).unwrap();
        assert_eq!((c.active_objective().unwrap().2, c.display.width), (0.65, 1024));
        let again = EdgeConfig::load(Some(&path)).unwrap();
        assert_eq!(again, c);
        // A value that would not load is refused and the file is left as it was.
        assert!(update_objective(&path, "10x", "um_per_px", Value::Float(1e6)).is_err());
        assert_eq!(EdgeConfig::load(Some(&path)).unwrap(), c);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
