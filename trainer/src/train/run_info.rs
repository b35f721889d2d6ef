//! What a training run was trained on, written as `run.json` in its folder beside the
//! checkpoints, so that `export` (and people) read the patch size and magnification from the
//! run instead of being told again.

use melanoscope_slides::manifest::ManifestRow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name in a run folder.
pub const RUN_INFO_FILE: &str = "run.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub arch: String,
    pub task: String,
    pub magnification: String,
    /// Side of the square patches trained on, in pixels.
    pub patch_size: u32,
    pub classes: Vec<String>,
    pub manifest: PathBuf,
}

impl RunInfo {
    pub fn save(&self, run_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        melanoscope_shared::atomic::write_atomic(&run_dir.join(RUN_INFO_FILE), &json)
    }

    /// The run information beside `checkpoint` (`None`: not written by `train`, or unreadable).
    pub fn beside(checkpoint: &Path) -> Option<Self> {
        let file = checkpoint.parent()?.join(RUN_INFO_FILE);
        let text =
            melanoscope_shared::bounded::read_bounded_text(&file, melanoscope_shared::bounded::MAX_STATE_BYTES).ok()?;
        match serde_json::from_str(&text) {
            Ok(info) => Some(info),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %melanoscope_shared::errors::Chain(&e), "run information unreadable; ignored");
                None
            }
        }
    }
}

/// The one patch size of `rows`; an error listing each size with its count where they differ
/// (a network trains on one input size) or where a size is not a positive number of pixels.
pub fn patch_size_of<'a>(rows: impl IntoIterator<Item = &'a ManifestRow>) -> Result<u32, PatchSizeError> {
    let mut sizes: BTreeMap<i32, usize> = BTreeMap::new();
    for r in rows {
        *sizes.entry(r.patch_size).or_default() += 1;
    }
    match sizes.keys().copied().collect::<Vec<_>>()[..] {
        [] => Err(PatchSizeError::NoPatches),
        [one] => u32::try_from(one).ok().filter(|s| *s > 0).ok_or(PatchSizeError::Invalid(one)),
        _ => Err(PatchSizeError::Mixed(
            sizes.iter().map(|(s, n)| format!("{s} px ({n} patches)")).collect::<Vec<_>>().join(", "),
        )),
    }
}

/// Why a manifest's rows have no one patch size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchSizeError {
    #[error("no patches")]
    NoPatches,
    #[error("patch size {0} px is not valid")]
    Invalid(i32),
    #[error("patches of different sizes: {0}; train on one size (re-patch, or import each size into its own manifest)")]
    Mixed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(size: i32) -> ManifestRow {
        ManifestRow {
            slide: "/p.png".into(),
            slide_id: "s".into(),
            patient_id: "p".into(),
            label: "MM".into(),
            site: None,
            magnification: "40X".into(),
            requested_um_per_px: 0.25,
            effective_um_per_px: 0.25,
            level: 0,
            x0: 0,
            y0: 0,
            size0: i64::from(size),
            patch_size: size,
            background_fraction: 0.0,
            slide_label: "MM".into(),
            region_id: None,
            region_name: None,
            region_class: None,
            region_overlap: None,
        }
    }

    #[test]
    fn one_patch_size_is_found_and_a_mixture_is_named() {
        assert_eq!(patch_size_of(&[row(224), row(224)]), Ok(224));
        let e = patch_size_of(&[row(224), row(256), row(224)]).unwrap_err().to_string();
        assert!(e.contains("224 px (2 patches)") && e.contains("256 px (1 patches)"), "{e}");
        assert!(patch_size_of(&[row(0)]).unwrap_err().to_string().contains("0 px"));
        assert!(patch_size_of(&[]).is_err());
    }

    #[test]
    fn run_information_is_read_from_beside_the_checkpoint() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("runinfo");
        let info = RunInfo {
            arch: "resnet18".into(),
            task: "mm-vs-nevi".into(),
            magnification: "40X".into(),
            patch_size: 224,
            classes: vec!["nevus".into(), "MM".into()],
            manifest: "/m.parquet".into(),
        };
        info.save(&dir).unwrap();
        assert_eq!(RunInfo::beside(&dir.join("best.safetensors")), Some(info));
        std::fs::write(dir.join(RUN_INFO_FILE), "{ not json").unwrap();
        assert_eq!(RunInfo::beside(&dir.join("best.safetensors")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
