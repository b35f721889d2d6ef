//! Import of existing patch folders (one subfolder per class, as many public datasets come)
//! into a patch manifest, with patient ids from a CSV or from the file-name prefix.

use crate::cohort::Lesion;
use crate::manifest::{ManifestRow, ManifestWriter};
use melanoscope_shared::image::{FieldRect, TissueTest, background_fraction, load_rgb};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where patient ids come from.
#[derive(Debug, Clone)]
pub enum PatientSource {
    /// CSV with `file,patient_id` (and optional `slide_id`); `file` is the file name or a path
    /// relative to the root folder.
    Csv(PathBuf),
    /// The file name up to the first occurrence of this character (`P12_x_y.png` → `P12`).
    Prefix(char),
}

/// What the import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub dropped_background: usize,
    /// Each file dropped by the background rule, with its background fraction.
    pub dropped: Vec<(PathBuf, f32)>,
    pub problems: Vec<String>,
    pub per_class: HashMap<String, usize>,
    /// Patch side lengths found, with how many files have each.
    pub sizes: std::collections::BTreeMap<u32, usize>,
}

impl ImportReport {
    /// The dropped files as CSV (`file,background_fraction`), for the lab to review.
    pub fn dropped_csv(&self) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["file", "background_fraction"])?;
        for (file, bg) in &self.dropped {
            w.write_record([file.display().to_string(), format!("{bg:.3}")])?;
        }
        let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// How the import reads a patch folder.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    pub patients: PatientSource,
    pub magnification: String,
    pub um_per_px: f64,
    /// Patches with more background than this are dropped (the study's 0.40).
    pub max_background: f32,
    /// Folder names (compared without case) mapped to classes, before the built-in names.
    pub class_map: HashMap<String, Lesion>,
}

/// Why a `--class-map` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClassMapError {
    #[error("{spec}: cannot read it")]
    Read { spec: String, source: std::io::Error },
    #[error("{spec}: larger than 1 MiB or not UTF-8 text; not a class map")]
    NotAMap { spec: String },
    #[error("{pair:?}: expected folder=LABEL (e.g. lung_aca=MM), or folder,label lines in a file")]
    NotAPair { pair: String },
    #[error("{pair:?}: unknown label {label:?}; expected MM, IN, CN or JN")]
    UnknownLabel { pair: String, label: String },
    #[error("{spec:?}: no folder=LABEL pairs")]
    Empty { spec: String },
}

/// Parses `--class-map`: inline `lung_aca=MM,lung_n=IN`, or a CSV file of `folder,label` rows.
pub fn parse_class_map(spec: &str) -> Result<HashMap<String, Lesion>, ClassMapError> {
    use melanoscope_shared::bounded::{BoundedReadError, read_bounded};
    // A file holds `folder,label` lines (a header allowed); inline pairs are `folder=LABEL`.
    let pairs: Vec<(String, Option<(String, String)>)> = if Path::new(spec).is_file() {
        // A class map is a few lines; anything past 1 MiB is not one.
        let bytes = read_bounded(Path::new(spec), 1 << 20).map_err(|e| match e {
            BoundedReadError::Io(source) => ClassMapError::Read { spec: spec.into(), source },
            BoundedReadError::TooLarge { .. } => ClassMapError::NotAMap { spec: spec.into() },
        })?;
        let text = String::from_utf8(bytes).map_err(|_| ClassMapError::NotAMap { spec: spec.into() })?;
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| (l.to_string(), l.split_once(',').map(|(a, b)| (a.into(), b.into()))))
            .collect()
    } else {
        spec.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| (p.to_string(), p.split_once('=').map(|(a, b)| (a.into(), b.into()))))
            .collect()
    };
    let mut map = HashMap::new();
    for (text, pair) in pairs {
        let Some((folder, label)) = pair else {
            return Err(ClassMapError::NotAPair { pair: text });
        };
        let (folder, label) = (folder.trim().trim_matches('"'), label.trim().trim_matches('"'));
        if folder.eq_ignore_ascii_case("folder") && label.eq_ignore_ascii_case("label") {
            continue;
        }
        let lesion = Lesion::parse(label)
            .ok_or_else(|| ClassMapError::UnknownLabel { pair: text.clone(), label: label.into() })?;
        map.insert(folder.to_ascii_lowercase(), lesion);
    }
    if map.is_empty() {
        return Err(ClassMapError::Empty { spec: spec.into() });
    }
    Ok(map)
}

fn class_of(folder: &str) -> Option<Lesion> {
    let f = folder.to_ascii_lowercase();
    Lesion::parse(&f).or(match f.as_str() {
        "melanoma" => Some(Lesion::MM),
        "intradermal" | "intradermal_nevus" => Some(Lesion::IN),
        "compound" | "compound_nevus" => Some(Lesion::CN),
        "junctional" | "junctional_nevus" => Some(Lesion::JN),
        _ => None,
    })
}

/// Why patch folders could not be imported (problems with single files are reported, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: line {line}")]
    Csv { path: PathBuf, line: usize, source: csv::Error },
    #[error("{path}: {problem}")]
    Patients { path: PathBuf, problem: String },
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error("{path}")]
    Image { path: PathBuf, source: melanoscope_shared::image::ImageError },
    #[error(
        "{}: {}; say each folder's class with --class-map FOLDER=CLASS (MM for melanoma; IN, CN or JN for the \
         nevus type; a folder of other tissue is left out), e.g. --class-map {}; nothing was written",
        root.display(),
        if folders.is_empty() { "no class folders (expected ROOT/<class>/*.png)".to_string() }
        else { format!("none of its folders ({}) names a class (MM, IN, CN, JN, melanoma, intradermal, compound, junctional)", folders.join(", ")) },
        folders.first().map_or("melanoma_patches=MM".to_string(), |f| format!("{f}=IN"))
    )]
    NoClassFolders { root: PathBuf, folders: Vec<String> },
    #[error("{}: no patch was imported ({detail}); nothing was written", root.display())]
    NoPatches { root: PathBuf, detail: String },
}

fn load_patient_csv(path: &Path) -> Result<HashMap<String, (String, Option<String>)>, ImportError> {
    let text = melanoscope_shared::bounded::read_bounded_text(path, melanoscope_shared::bounded::MAX_CSV_BYTES)
        .map_err(|e| ImportError::Io { path: path.into(), source: e.into_io() })?;
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|source| ImportError::Csv { path: path.into(), line: 1, source })?.clone();
    let col = |n: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(n));
    let (Some(fi), Some(pi)) = (col("file"), col("patient_id")) else {
        return Err(ImportError::Patients {
            path: path.into(),
            problem: "needs columns file and patient_id (optional slide_id)".into(),
        });
    };
    let si = col("slide_id");
    let mut map = HashMap::new();
    for (n, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|source| ImportError::Csv { path: path.into(), line: n + 2, source })?;
        let (file, patient) = (rec.get(fi).unwrap_or(""), rec.get(pi).unwrap_or(""));
        if file.is_empty() || patient.is_empty() {
            return Err(ImportError::Patients {
                path: path.into(),
                problem: format!("line {}: empty file or patient_id", n + 2),
            });
        }
        map.insert(file.to_string(), (patient.to_string(), si.and_then(|i| rec.get(i)).map(str::to_string)));
    }
    Ok(map)
}

/// Imports `root/<class>/*.{png,jpg,jpeg}` as patches of `settings.magnification`, writing a
/// manifest to `out`. Patches with more than `max_background` background are dropped (the
/// study's rule) and listed; unreadable files and unknown class folders are reported, not fatal.
pub fn import_patch_folders(root: &Path, settings: &ImportSettings, out: &Path) -> Result<ImportReport, ImportError> {
    let ImportSettings { patients, magnification, um_per_px, max_background, class_map } = settings;
    let (um_per_px, max_background) = (*um_per_px, *max_background);
    let csv = match patients {
        PatientSource::Csv(p) => Some(load_patient_csv(p)?),
        PatientSource::Prefix(_) => None,
    };
    // Absolute, so the manifest's paths resolve from any working folder.
    let root = &std::path::absolute(root).map_err(|source| ImportError::Io { path: root.into(), source })?;
    let mut report = ImportReport::default();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|source| ImportError::Io { path: root.into(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    // Each folder's class, before anything is written: with none, the import is refused (it
    // wrote an empty manifest and exited 0).
    let mut classed = Vec::new();
    let mut unclassed = Vec::new();
    for folder in folders {
        let name = folder.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        match class_map.get(&name.to_ascii_lowercase()).copied().or_else(|| class_of(&name)) {
            Some(label) => classed.push((folder, name, label)),
            None => {
                report.problems.push(format!(
                    "{}: folder name is not a class (MM, IN, CN, JN); skipped (map it with --class-map {name}=CLASS: \
                     MM for melanoma, IN, CN or JN for the nevus type)",
                    folder.display()
                ));
                unclassed.push(name);
            }
        }
    }
    if classed.is_empty() {
        return Err(ImportError::NoClassFolders { root: root.clone(), folders: unclassed });
    }
    let mut writer = ManifestWriter::create(out)?;
    let test = TissueTest::default();
    for (folder, name, label) in classed {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map_err(|source| ImportError::Io { path: folder.clone(), source })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        files.sort();
        for file in files {
            let file_name = file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let relative = format!("{name}/{file_name}");
            let (patient_id, slide_id) = match patients {
                PatientSource::Prefix(c) => {
                    let p = file_name.split(*c).next().unwrap_or(&file_name).to_string();
                    (p.clone(), p)
                }
                PatientSource::Csv(_) => {
                    match csv.as_ref().and_then(|m| m.get(&file_name).or_else(|| m.get(&relative))) {
                        Some((p, s)) => (p.clone(), s.clone().unwrap_or_else(|| p.clone())),
                        None => {
                            report
                                .problems
                                .push(format!("{}: no patient_id in the patients CSV; skipped", file.display()));
                            continue;
                        }
                    }
                }
            };
            let img = match load_rgb(&file) {
                Ok(i) => i,
                Err(e) => {
                    report.problems.push(melanoscope_shared::errors::error_chain(&e));
                    continue;
                }
            };
            let side = img.width().min(img.height());
            let bg = background_fraction(&img, FieldRect::square(0, 0, side), &test)
                .map_err(|source| ImportError::Image { path: file.clone(), source })?;
            *report.sizes.entry(side).or_default() += 1;
            if bg > max_background {
                report.dropped_background += 1;
                report.dropped.push((file.clone(), bg));
                continue;
            }
            writer.push(ManifestRow {
                slide: file.display().to_string(),
                slide_id,
                patient_id,
                label: label.code().into(),
                site: None,
                magnification: magnification.clone(),
                requested_um_per_px: um_per_px,
                effective_um_per_px: um_per_px,
                level: 0,
                x0: 0,
                y0: 0,
                size0: i64::from(side),
                patch_size: side as i32,
                background_fraction: bg,
                slide_label: label.code().into(),
                region_id: None,
                region_name: None,
                region_class: None,
                region_overlap: None,
            })?;
            report.imported += 1;
            *report.per_class.entry(label.code().into()).or_default() += 1;
        }
    }
    if report.imported == 0 {
        // The unfinished manifest is removed with its writer.
        let detail = format!(
            "{} over the background limit, {} other problems",
            report.dropped_background,
            report.problems.len()
        );
        return Err(ImportError::NoPatches { root: root.clone(), detail });
    }
    writer.finish()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::read_manifest;
    use melanoscope_shared::image::{RgbImage, save_rgb};

    /// Patients by file-name prefix, at 40X, no class map.
    fn settings() -> ImportSettings {
        ImportSettings {
            patients: PatientSource::Prefix('_'),
            magnification: "40X".into(),
            um_per_px: 0.25,
            max_background: 0.4,
            class_map: HashMap::new(),
        }
    }

    /// Folders none of which names a class (a lung set's `lung_aca`, `lung_n`): refused, naming
    /// the folders and --class-map without suggesting MM for a benign folder, and no manifest
    /// written. Before, an empty manifest and exit 0. Classed folders of only glass: refused too.
    #[test]
    fn no_class_folder_or_no_patch_is_refused_and_nothing_written() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("import-none");
        let tissue = RgbImage::filled(64, 64, [190, 90, 170]).unwrap();
        for class in ["lung_aca", "lung_n"] {
            std::fs::create_dir_all(dir.join("root").join(class)).unwrap();
            save_rgb(&dir.join("root").join(class).join("P1_0_0.png"), &tissue).unwrap();
        }
        let out = dir.join("m.parquet");
        let settings = settings();
        let e = import_patch_folders(&dir.join("root"), &settings, &out).unwrap_err().to_string();
        assert!(e.contains("lung_aca, lung_n") && e.contains("--class-map lung_aca=IN"), "{e}");
        assert!(!e.contains("=MM,") && e.contains("nothing was written"), "{e}");
        assert!(!out.exists(), "no manifest");
        let e = import_patch_folders(&dir.join("root/lung_n"), &settings, &out).unwrap_err().to_string();
        assert!(e.contains("no class folders"), "{e}");
        // A class folder holding only glass: nothing imported, nothing written.
        std::fs::create_dir_all(dir.join("glass/MM")).unwrap();
        save_rgb(&dir.join("glass/MM/P1_0_0.png"), &RgbImage::filled(64, 64, [240, 240, 242]).unwrap()).unwrap();
        let e = import_patch_folders(&dir.join("glass"), &settings, &out).unwrap_err().to_string();
        assert!(e.contains("no patch was imported") && e.contains("1 over the background limit"), "{e}");
        assert!(
            !out.exists()
                && std::fs::read_dir(&*dir).unwrap().all(|f| !f
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp"))
        );
    }

    #[test]
    fn imports_class_folders_with_patients_and_reports_problems() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("import");
        for class in ["MM", "junctional", "notes"] {
            std::fs::create_dir_all(dir.join("root").join(class)).unwrap();
        }
        let tissue = RgbImage::filled(64, 64, [190, 90, 170]).unwrap();
        let glass = RgbImage::filled(64, 64, [240, 240, 242]).unwrap();
        save_rgb(&dir.join("root/MM/P1_0_0.png"), &tissue).unwrap();
        save_rgb(&dir.join("root/MM/P1_64_0.png"), &glass).unwrap();
        save_rgb(&dir.join("root/junctional/P2_0_0.png"), &tissue).unwrap();
        std::fs::write(dir.join("root/junctional/P3_0_0.png"), b"not a png").unwrap();
        let out = dir.join("m.parquet");
        let settings = settings();
        let r = import_patch_folders(&dir.join("root"), &settings, &out).unwrap();
        assert_eq!((r.imported, r.dropped_background), (2, 1));
        assert_eq!(r.dropped.len(), 1);
        assert!(r.dropped[0].0.ends_with("MM/P1_64_0.png") && r.dropped[0].1 > 0.9, "{:?}", r.dropped);
        let csv = r.dropped_csv().unwrap();
        assert!(csv.starts_with("file,background_fraction\n") && csv.contains("P1_64_0.png,1.000"), "{csv}");
        assert!(r.problems.iter().any(|p| p.contains("--class-map notes=CLASS")), "{:?}", r.problems);
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
        assert!(r.problems.iter().any(|p| p.contains("notes")) && r.problems.iter().any(|p| p.contains("P3_0_0.png")));
        let rows = read_manifest(&out).unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.patient_id.as_str(), r.label.as_str())).collect::<Vec<_>>(),
            vec![("P1", "MM"), ("P2", "JN")]
        );
        std::fs::write(dir.join("patients.csv"), "file,patient_id,slide_id\nP1_0_0.png,PAT-A,SL-1\n").unwrap();
        let with_csv = ImportSettings { patients: PatientSource::Csv(dir.join("patients.csv")), ..settings.clone() };
        let r = import_patch_folders(&dir.join("root"), &with_csv, &out).unwrap();
        assert_eq!(r.imported, 1);
        assert_eq!(read_manifest(&out).unwrap()[0].slide_id, "SL-1");
        // A looser background rule keeps the glass patch; a class map names other folders.
        let loose = ImportSettings {
            max_background: 1.0,
            class_map: parse_class_map("Notes=IN, junctional=CN").unwrap(),
            ..settings.clone()
        };
        std::fs::write(dir.join("root/notes/P9_0_0.png"), std::fs::read(dir.join("root/MM/P1_0_0.png")).unwrap())
            .unwrap();
        let r = import_patch_folders(&dir.join("root"), &loose, &out).unwrap();
        assert_eq!((r.imported, r.dropped_background), (4, 0), "{:?}", r.problems);
        assert_eq!(r.per_class.get("IN"), Some(&1));
        assert_eq!(r.per_class.get("CN"), Some(&1), "the map wins over the built-in name");
        assert_eq!(r.sizes.get(&64), Some(&4));
        // Mapping files and bad specs.
        std::fs::write(dir.join("map.csv"), "folder,label\nlung_aca,MM\nlung_n,IN\n").unwrap();
        let m = parse_class_map(&dir.join("map.csv").display().to_string()).unwrap();
        assert_eq!((m["lung_aca"], m["lung_n"]), (Lesion::MM, Lesion::IN));
        assert!(parse_class_map("lung_aca=BCC").unwrap_err().to_string().contains("unknown label \"BCC\""));
        assert!(parse_class_map("lung_aca").unwrap_err().to_string().contains("folder=LABEL"));
        // Not text, or enormous: refused by name.
        std::fs::write(dir.join("binary.csv"), [0xFFu8, 0xFE, 0x00, 0x01]).unwrap();
        assert!(
            parse_class_map(&dir.join("binary.csv").display().to_string())
                .unwrap_err()
                .to_string()
                .contains("binary.csv")
        );
        std::fs::write(dir.join("huge.csv"), "a,MM\n".repeat(300_000)).unwrap();
        assert!(
            parse_class_map(&dir.join("huge.csv").display().to_string()).unwrap_err().to_string().contains("1 MiB")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
