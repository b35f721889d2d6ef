//! Cases: one patient's slides screened as a unit. A case is opened and closed on the device
//! (a long press of the button, `case open`/`case close` through [`control`], the window's keys
//! or the web view, all through [`requests`]); every
//! record written while it is open carries its id. While it is open the [`CaseBook`] keeps
//! its most suspicious fields (top-k by probability, each saved as the field beside its CAM
//! overlay) and the case verdict (the highest verdict the screen showed, which the verdict
//! tracker only shows once sustained), and counts its gated frames by reason.
//!
//! Each case is a folder `<cases.dir>/<id>/` with `case.json` and `fields/*.png`, every file
//! written under a temporary name and renamed, so a power cut leaves the last complete state;
//! a case found open at start-up was cut off and is marked interrupted.

pub mod control;
pub mod desk;
pub mod fleet;
pub mod page;
pub mod requests;

use crate::analysis::{Analysis, FieldResult};
use melanoscope_shared::cam::{upsample_bilinear, viridis};
use melanoscope_shared::formats::{Form, FormatError, ModelIdentity, Verdict, check_case_id, hex};
use melanoscope_shared::image::{ImageError, RgbImage, encode_rgb};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a case could not be opened, closed, written or read.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    Id(#[from] FormatError),
    #[error("case {open} is open; close it before opening {wanted}")]
    AlreadyOpen { open: String, wanted: String },
    #[error("no case is open")]
    NoneOpen,
    #[error("case {id} exists ({status}); open the next slides of this patient under a new id, e.g. {id}-2")]
    Exists { id: String, status: &'static str },
    #[error("no case {id} in {dir}")]
    Unknown { id: String, dir: String },
    #[error("{path}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {detail}")]
    Malformed { path: String, detail: String },
    #[error("field image of the case")]
    Image(#[from] ImageError),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CaseError + '_ {
    move |source| CaseError::Io { path: path.display().to_string(), source }
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseStatus {
    Open,
    Closed,
    /// Found open when the device started: a power cut or crash ended it.
    Interrupted,
}

impl CaseStatus {
    pub fn name(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Closed => "closed",
            CaseStatus::Interrupted => "interrupted",
        }
    }
}

/// The model a case was screened with, as its page shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub bundle_sha256: String,
    /// The signing key (hex), or `unsigned`.
    pub signer: String,
    pub architecture: String,
    pub task: String,
    pub form: Form,
    pub model_um_per_px: f64,
    pub threshold: f64,
    /// The familiarity threshold when the unfamiliar-tissue gate was on.
    pub familiarity_threshold: Option<f32>,
}

impl ModelCard {
    /// The card of `bundle`; `gate_on`: the site screens with the unfamiliar-tissue gate.
    pub fn of(bundle: &melanoscope_engine::LoadedBundle, gate_on: bool) -> Self {
        let meta = &bundle.file.meta;
        let ModelIdentity { bundle_sha256, signer } = bundle.identity;
        ModelCard {
            bundle_sha256: hex(&bundle_sha256),
            signer: signer.map_or_else(|| "unsigned".into(), |k| hex(&k)),
            architecture: format!("{:?}", meta.architecture),
            task: meta.task.clone(),
            form: meta.quantization.form(),
            model_um_per_px: meta.um_per_px,
            threshold: meta.decision.threshold,
            familiarity_threshold: meta.familiarity.as_ref().filter(|_| gate_on).map(|f| f.threshold),
        }
    }
}

/// One of the case's most suspicious fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptField {
    /// The PNG under the case folder: the field, and beside it its CAM overlay.
    pub file: String,
    pub frame_id: u64,
    pub time_unix_ms: u64,
    pub col: u16,
    pub row: u16,
    pub probability: f32,
    pub familiarity: Option<f32>,
}

/// `case.json`: everything the case page shows besides the record log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseFile {
    pub id: String,
    pub status: CaseStatus,
    pub opened_unix_ms: u64,
    pub closed_unix_ms: Option<u64>,
    pub objective: String,
    /// µm per camera pixel at that objective.
    pub um_per_px: f64,
    pub model: ModelCard,
    /// The case verdict (the highest verdict shown while it was open), if any; written as its
    /// label, as the screen shows it.
    #[serde(with = "verdict_label")]
    pub verdict: Option<Verdict>,
    pub frames: u64,
    pub screened: u64,
    /// Gated frames by the gate's label.
    pub gated: BTreeMap<String, u64>,
    /// Most suspicious first.
    pub fields: Vec<KeptField>,
}

/// A verdict in `case.json` as its label (`"MELANOMA SUSPECTED"`), readable by people and by
/// the case files written before the field was typed.
mod verdict_label {
    use melanoscope_shared::formats::Verdict;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Verdict>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(v.label()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Verdict>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|label| {
                Verdict::from_label(&label).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown verdict {label:?}; expected a label such as \"NEVUS\""))
                })
            })
            .transpose()
    }
}

/// Largest `case.json` read back (a case keeps at most 64 fields).
const MAX_CASE_FILE: u64 = 1 << 20;

impl CaseFile {
    pub fn path(folder: &Path) -> PathBuf {
        folder.join("case.json")
    }

    pub fn load(folder: &Path) -> Result<Self, CaseError> {
        let path = Self::path(folder);
        let bytes = read_bounded(&path, MAX_CASE_FILE)?;
        Self::parse(&path.display().to_string(), &bytes)
    }

    /// A case file from its bytes (`name` for errors): its id and field file names checked.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Self, CaseError> {
        if bytes.len() as u64 > MAX_CASE_FILE {
            return Err(CaseError::Malformed { path: name.into(), detail: format!("over {MAX_CASE_FILE} bytes") });
        }
        let file: CaseFile = serde_json::from_slice(bytes).map_err(|e| CaseError::Malformed {
            path: name.into(),
            detail: melanoscope_shared::errors::error_chain(&e),
        })?;
        check_case_id(&file.id)?;
        if file.fields.iter().any(|f| !safe_file_name(&f.file)) {
            return Err(CaseError::Malformed {
                path: name.into(),
                detail: "a field file name leaves the case folder".into(),
            });
        }
        Ok(file)
    }

    fn save(&self, folder: &Path) -> Result<(), CaseError> {
        let path = Self::path(folder);
        let json = serde_json::to_vec_pretty(self).map_err(|e| CaseError::Malformed {
            path: path.display().to_string(),
            detail: melanoscope_shared::errors::error_chain(&e),
        })?;
        melanoscope_shared::atomic::write_atomic(&path, &json).map_err(io(&path))
    }
}

/// The bytes of `path`, refused (naming it) when over `limit`: files from another device or
/// a damaged disk are read without trusting their size.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, CaseError> {
    use melanoscope_shared::bounded::BoundedReadError;
    melanoscope_shared::bounded::read_bounded(path, limit).map_err(|e| match e {
        BoundedReadError::Io(source) => io(path)(source),
        BoundedReadError::TooLarge { .. } => CaseError::Malformed {
            path: path.display().to_string(),
            detail: format!("over {limit} bytes; expected at most that"),
        },
    })
}

/// `fields/NAME.png` with a plain name: what a case file may point at.
pub(crate) fn safe_file_name(name: &str) -> bool {
    name.strip_prefix("fields/").is_some_and(|n| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !n.starts_with('.')
    })
}

/// How strongly a verdict speaks for melanoma (the case verdict is the highest shown).
fn rank(v: Verdict) -> Option<u8> {
    match v {
        Verdict::MelanomaSuspected => Some(3),
        Verdict::Uncertain => Some(2),
        Verdict::Nevus => Some(1),
        _ => None,
    }
}

#[derive(Debug)]
struct OpenCase {
    file: CaseFile,
    folder: PathBuf,
    /// Frames since `case.json` was last written.
    unsaved: u32,
}

/// Frames between writes of the counts when the kept fields do not change.
const SAVE_EVERY: u32 = 50;

/// The cases of one device.
#[derive(Debug)]
pub struct CaseBook {
    dir: PathBuf,
    top_fields: usize,
    card: ModelCard,
    open: Option<OpenCase>,
}

impl CaseBook {
    /// The cases under `dir`; any found open were cut off (a power cut, a crash) and are
    /// marked interrupted, and their ids returned.
    pub fn new(dir: &Path, top_fields: usize, card: ModelCard) -> Result<(Self, Vec<String>), CaseError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut interrupted = Vec::new();
        for (folder, mut f) in list_cases(dir)? {
            if f.status == CaseStatus::Open {
                f.status = CaseStatus::Interrupted;
                // A full card must not stop the device at start (a full log does not): the
                // case is reported interrupted in the log, and its file marked when it can be.
                if let Err(e) = f.save(&folder) {
                    tracing::error!(case = %f.id, error = %melanoscope_shared::errors::Chain(&e), "the interrupted case could not be marked in its folder");
                }
                interrupted.push(f.id);
            }
        }
        interrupted.sort();
        Ok((Self { dir: dir.to_path_buf(), top_fields, card, open: None }, interrupted))
    }

    /// The open case's id.
    pub fn current(&self) -> Option<&str> {
        self.open.as_ref().map(|c| c.file.id.as_str())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens case `id` (refused while another is open, or when `id` was used before).
    pub fn open(&mut self, id: &str, now_ms: u64, objective: &str, um_per_px: f64) -> Result<(), CaseError> {
        check_case_id(id)?;
        if let Some(c) = &self.open {
            return Err(CaseError::AlreadyOpen { open: c.file.id.clone(), wanted: id.into() });
        }
        let folder = self.dir.join(id);
        if CaseFile::path(&folder).exists() {
            let status = CaseFile::load(&folder).map_or("unreadable", |f| f.status.name());
            return Err(CaseError::Exists { id: id.into(), status });
        }
        std::fs::create_dir_all(folder.join("fields")).map_err(io(&folder))?;
        let file = CaseFile {
            id: id.into(),
            status: CaseStatus::Open,
            opened_unix_ms: now_ms,
            closed_unix_ms: None,
            objective: objective.into(),
            um_per_px,
            model: self.card.clone(),
            verdict: None,
            frames: 0,
            screened: 0,
            gated: BTreeMap::new(),
            fields: Vec::new(),
        };
        file.save(&folder)?;
        self.open = Some(OpenCase { file, folder, unsaved: 0 });
        Ok(())
    }

    /// Closes the open case and returns it (left open when its file cannot be written, so
    /// that the close can be tried again).
    pub fn close(&mut self, now_ms: u64) -> Result<CaseFile, CaseError> {
        let mut c = self.open.take().ok_or(CaseError::NoneOpen)?;
        c.file.status = CaseStatus::Closed;
        c.file.closed_unix_ms = Some(now_ms);
        if let Err(e) = c.file.save(&c.folder) {
            c.file.status = CaseStatus::Open;
            c.file.closed_unix_ms = None;
            self.open = Some(c);
            return Err(e);
        }
        Ok(c.file)
    }

    /// The open case's verdict so far.
    pub fn verdict(&self) -> Option<Verdict> {
        self.open.as_ref()?.file.verdict
    }

    /// Counts one frame of the open case (if any): its gate, the verdict shown, and its
    /// fields against the kept ones (`frame` is the corrected camera frame they were cut from).
    pub fn frame(
        &mut self,
        frame_id: u64,
        now_ms: u64,
        frame: &RgbImage,
        analysis: &Analysis,
        shown: Verdict,
        positive: usize,
    ) -> Result<(), CaseError> {
        let top = self.top_fields;
        let current = self.verdict();
        let Some(c) = &mut self.open else { return Ok(()) };
        c.file.frames += 1;
        c.unsaved += 1;
        let mut changed = false;
        let mut evicted = Vec::new();
        if let Some(gate) = analysis.gate {
            *c.file.gated.entry(gate.verdict().label().to_string()).or_default() += 1;
        } else {
            c.file.screened += 1;
        }
        if rank(shown) > current.and_then(rank) {
            c.file.verdict = Some(shown);
            changed = true;
        }
        if analysis.gate.is_none() {
            for f in analysis.fields.iter().filter(|f| !f.unfamiliar) {
                let p = f.probabilities.get(positive).copied().unwrap_or(0.0);
                let lowest = c.file.fields.last().map_or(0.0, |k| k.probability);
                if c.file.fields.len() >= top && p <= lowest {
                    continue;
                }
                let name = format!("fields/{frame_id:08}-{:03}-{:03}.png", f.col, f.row);
                let png = field_panel(frame, f)?;
                let path = c.folder.join(&name);
                melanoscope_shared::atomic::write_atomic(&path, &png).map_err(io(&path))?;
                let at = c.file.fields.partition_point(|k| k.probability >= p);
                c.file.fields.insert(
                    at,
                    KeptField {
                        file: name,
                        frame_id,
                        time_unix_ms: now_ms,
                        col: f.col,
                        row: f.row,
                        probability: p,
                        familiarity: f.familiarity,
                    },
                );
                changed = true;
                while c.file.fields.len() > top {
                    evicted.extend(c.file.fields.pop());
                }
            }
        }
        if changed || c.unsaved >= SAVE_EVERY {
            c.file.save(&c.folder)?;
            c.unsaved = 0;
        }
        // Removed only once the case file no longer names them (a power cut in between leaves
        // a stray image, never a case file pointing at nothing).
        for gone in evicted {
            let _ = std::fs::remove_file(c.folder.join(gone.file));
        }
        Ok(())
    }
}

/// The field cut from `frame` beside the same field under its CAM (PNG).
fn field_panel(frame: &RgbImage, f: &FieldResult) -> Result<Vec<u8>, CaseError> {
    let (x, y, side) = f.frame_rect;
    let (x, y) = (x.max(0.0) as u32, y.max(0.0) as u32);
    let side = (side.max(1.0) as u32).min(frame.width().saturating_sub(x)).min(frame.height().saturating_sub(y)).max(1);
    let crop = frame.crop(x.min(frame.width() - 1), y.min(frame.height() - 1), side, side)?;
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    let (hh, hw) = f.heat_size;
    let heat = upsample_bilinear(&f.heat, hh, hw, h, w).unwrap_or_else(|_| vec![0.0; w * h]);
    let overlay = melanoscope_shared::cam::overlay(&crop, &heat, &viridis(), 0.45, 0.25).map_err(|e| {
        CaseError::Malformed { path: "CAM overlay".into(), detail: melanoscope_shared::errors::error_chain(&e) }
    })?;
    let gap = 4;
    let mut panel = RgbImage::filled(2 * w as u32 + gap, h as u32, [255; 3])?;
    for row in 0..h as u32 {
        for col in 0..w as u32 {
            let (a, b) = (crop.get(col, row).unwrap_or([0; 3]), overlay.get(col, row).unwrap_or([0; 3]));
            panel.put(col, row, a);
            panel.put(w as u32 + gap + col, row, b);
        }
    }
    Ok(encode_rgb(&panel, image::ImageFormat::Png)?)
}

/// Every case folder under `dir` with its file, oldest first (unreadable ones are skipped, and
/// left as they are, with a warning).
pub fn list_cases(dir: &Path) -> Result<Vec<(PathBuf, CaseFile)>, CaseError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let folder = entry.path();
        if !CaseFile::path(&folder).is_file() {
            continue;
        }
        match CaseFile::load(&folder) {
            Ok(f) => out.push((folder, f)),
            Err(e) => tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), "case folder skipped"),
        }
    }
    out.sort_by_key(|(_, f)| (f.opened_unix_ms, f.id.clone()));
    Ok(out)
}

/// The case `id` under `dir`.
pub fn find_case(dir: &Path, id: &str) -> Result<(PathBuf, CaseFile), CaseError> {
    check_case_id(id)?;
    let folder = dir.join(id);
    if !CaseFile::path(&folder).is_file() {
        return Err(CaseError::Unknown { id: id.into(), dir: dir.display().to_string() });
    }
    let file = CaseFile::load(&folder)?;
    Ok((folder, file))
}

#[cfg(test)]
mod tests;
