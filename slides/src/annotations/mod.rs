//! Pathologist-delineated regions: QuPath GeoJSON, ASAP XML and Aperio ImageScope XML read into
//! one region list in level-0 pixels, validated against the slide, classified as included or
//! excluded (holes, negative regions, exclusion class names) and optionally mapped to lesion
//! labels, then rasterised once per slide so patching asks a table, not a polygon.

mod geojson;
mod geometry;
mod labels;
mod raster;
mod xml;

pub use geometry::{Point, Shape};
pub use labels::{LabelMapError, RegionLabelMap};
pub use raster::{CellOverlap, RegionRaster};

use crate::cohort::Lesion;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Class names that mark areas to leave out by default (compared without case).
pub const DEFAULT_EXCLUDE_CLASSES: [&str; 9] =
    ["Artifact", "Artefact", "Ink", "Pen", "Marker", "Exclusion", "Exclude", "Ignore", "Background"];

/// The file formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnnotationFormat {
    QuPathGeoJson,
    AsapXml,
    AperioXml,
}

/// A region as read from a file, before it is checked and classified.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRegion {
    /// 1-based position in the file, used in every message about it.
    pub index: usize,
    pub name: Option<String>,
    pub class_name: Option<String>,
    /// Flagged as a negative (exclusion) region by the file itself (Aperio `NegativeROA`).
    pub negative: bool,
    pub shapes: Vec<Shape>,
}

impl RawRegion {
    /// "region 3 ("Tumour", class "MM")", for messages.
    pub fn describe(&self) -> String {
        let mut s = format!("region {}", self.index);
        match (&self.name, &self.class_name) {
            (Some(n), Some(c)) => s.push_str(&format!(" ({n:?}, class {c:?})")),
            (Some(n), None) => s.push_str(&format!(" ({n:?})")),
            (None, Some(c)) => s.push_str(&format!(" (class {c:?})")),
            (None, None) => {}
        }
        s
    }
}

/// What a parser found: the regions with an area, and how many objects it passed over.
#[derive(Debug)]
struct Parsed {
    regions: Vec<RawRegion>,
    ignored: usize,
}

/// Whether a region's area is patched or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RegionRole {
    Include,
    Exclude,
}

/// A checked region.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub raw: RawRegion,
    pub role: RegionRole,
    /// The lesion its class maps to (with a label map; exclusions have none).
    pub label: Option<Lesion>,
}

/// The checked regions of one slide.
#[derive(Debug, Clone)]
pub struct SlideAnnotations {
    pub source: PathBuf,
    pub format: AnnotationFormat,
    pub regions: Vec<Region>,
    /// Objects that hold no area (points, lines) or are not annotations (QuPath detections).
    pub ignored_objects: usize,
}

impl SlideAnnotations {
    pub fn included(&self) -> usize {
        self.regions.iter().filter(|r| r.role == RegionRole::Include).count()
    }

    pub fn excluded(&self) -> usize {
        self.regions.iter().filter(|r| r.role == RegionRole::Exclude).count()
    }
}

/// How regions are classified and kept.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationPolicy {
    /// Classes whose regions are removed (compared without case).
    pub exclude_classes: Vec<String>,
    /// When set, the only classes patched; any other class is an error.
    pub include_classes: Option<Vec<String>>,
    /// When set, patch labels come from region classes through this map.
    pub region_labels: Option<RegionLabelMap>,
    /// A patch is kept when at least this fraction of it lies inside one included region.
    pub min_overlap: f32,
}

impl Default for AnnotationPolicy {
    fn default() -> Self {
        Self {
            exclude_classes: DEFAULT_EXCLUDE_CLASSES.iter().map(|s| s.to_string()).collect(),
            include_classes: None,
            region_labels: None,
            min_overlap: 0.5,
        }
    }
}

impl AnnotationPolicy {
    /// A short, stable description, so a resumed run redoes slides patched under other settings.
    pub fn fingerprint(&self) -> String {
        format!(
            "overlap={};exclude={};include={};labels={}",
            self.min_overlap,
            self.exclude_classes.join("|"),
            self.include_classes.as_ref().map_or("*".into(), |v| v.join("|")),
            self.region_labels.as_ref().map_or("none".into(), RegionLabelMap::fingerprint)
        )
    }

    fn is_excluded_class(&self, class: &str) -> bool {
        self.exclude_classes.iter().any(|c| c.eq_ignore_ascii_case(class.trim()))
    }
}

#[derive(Debug, Error)]
pub enum AnnotationError {
    #[error("annotation file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("annotation file {path}: not valid {format}: {detail}")]
    Malformed { path: PathBuf, format: &'static str, detail: String },
    #[error("annotation file {path}: unknown format: {detail}")]
    UnknownFormat { path: PathBuf, detail: String },
    #[error("annotation file {path} has {} problem(s):\n  {}", problems.len(), problems.join("\n  "))]
    Invalid { path: PathBuf, problems: Vec<String> },
    #[error("annotation file {path}: no included region with an area (found {found} region(s))")]
    NothingIncluded { path: PathBuf, found: usize },
    #[error("annotation file {path}: {count} regions; at most {max} can be rasterised")]
    TooMany { path: PathBuf, count: usize, max: usize },
}

/// The annotation file lying beside `slide`: `<stem>.geojson`, `<stem>.json`, `<stem>.xml`, or the
/// slide's whole file name with `.geojson`/`.xml` added (as QuPath and ImageScope save them).
pub fn find_beside(slide: &Path) -> Option<PathBuf> {
    let dir = slide.parent()?;
    let stem = slide.file_stem()?.to_string_lossy();
    let name = slide.file_name()?.to_string_lossy();
    [
        format!("{stem}.geojson"),
        format!("{stem}.json"),
        format!("{stem}.xml"),
        format!("{name}.geojson"),
        format!("{name}.xml"),
    ]
    .into_iter()
    .map(|f| dir.join(f))
    .find(|p| p.is_file())
}

/// Reads `path` (format told by its content), checks every region against a slide of
/// `width`×`height` level-0 pixels and classifies it under `policy`.
pub fn load_annotations(
    path: &Path,
    width: u64,
    height: u64,
    policy: &AnnotationPolicy,
) -> Result<SlideAnnotations, AnnotationError> {
    // 256 MiB: a QuPath export of a whole slide's cells is tens of MB.
    let bytes = melanoscope_shared::bounded::read_bounded(path, 256 << 20)
        .map_err(|e| AnnotationError::Read { path: path.into(), source: e.into_io() })?;
    let text = String::from_utf8_lossy(&bytes);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let (format, parsed) = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        (AnnotationFormat::QuPathGeoJson, geojson::parse(trimmed))
    } else if trimmed.starts_with('<') {
        match xml::parse(trimmed) {
            Ok((format, parsed)) => (format, Ok(parsed)),
            Err(xml::XmlError::Malformed(detail)) => {
                return Err(AnnotationError::Malformed { path: path.into(), format: "XML", detail });
            }
            Err(xml::XmlError::UnknownRoot(root)) => {
                return Err(AnnotationError::UnknownFormat {
                    path: path.into(),
                    detail: format!(
                        "XML root element <{root}>; expected <ASAP_Annotations> (ASAP) or <Annotations> (Aperio ImageScope)"
                    ),
                });
            }
            Err(xml::XmlError::Content(problems)) => {
                return Err(AnnotationError::Invalid { path: path.into(), problems });
            }
        }
    } else {
        return Err(AnnotationError::UnknownFormat {
            path: path.into(),
            detail: "expected QuPath GeoJSON (starting with { or [) or XML (starting with <)".into(),
        });
    };
    let parsed = parsed.map_err(|e| match e {
        geojson::GeoJsonError::Malformed(detail) => {
            AnnotationError::Malformed { path: path.into(), format: "JSON", detail }
        }
        geojson::GeoJsonError::Content(problems) => AnnotationError::Invalid { path: path.into(), problems },
    })?;
    classify(path, format, parsed.regions, parsed.ignored, width, height, policy)
}

fn classify(
    path: &Path,
    format: AnnotationFormat,
    raw: Vec<RawRegion>,
    ignored_objects: usize,
    width: u64,
    height: u64,
    policy: &AnnotationPolicy,
) -> Result<SlideAnnotations, AnnotationError> {
    let mut problems = Vec::new();
    let mut regions = Vec::new();
    // An annotation file made for another slide usually shows as coordinates far outside this
    // one; say so once with both sizes instead of once per vertex.
    let (mut max_x, mut max_y) = (0.0f64, 0.0f64);
    for r in &raw {
        for p in r.shapes.iter().flat_map(Shape::points) {
            (max_x, max_y) = (max_x.max(p.x), max_y.max(p.y));
        }
    }
    let tol = 1.0;
    if max_x > width as f64 * 1.25 + tol || max_y > height as f64 * 1.25 + tol {
        problems.push(format!(
            "coordinates reach ({max_x:.0}, {max_y:.0}) but the slide is {width}x{height} level-0 pixels: \
             is this the annotation file of another slide?"
        ));
    }
    for r in raw {
        let what = r.describe();
        for (i, shape) in r.shapes.iter().enumerate() {
            let part = if r.shapes.len() > 1 { format!("{what}, polygon {}", i + 1) } else { what.clone() };
            for p in geometry::check_shape(shape) {
                problems.push(format!("{part}: {p}"));
            }
            if let Some(p) = shape
                .points()
                .find(|p| p.x < -tol || p.y < -tol || p.x > width as f64 + tol || p.y > height as f64 + tol)
            {
                problems.push(format!(
                    "{part}: vertex ({:.1}, {:.1}) lies outside the slide (0..{width}, 0..{height} level-0 pixels)",
                    p.x, p.y
                ));
            }
        }
        let class = r.class_name.as_deref().map(str::trim).filter(|c| !c.is_empty());
        let excluded = r.negative || class.is_some_and(|c| policy.is_excluded_class(c));
        let mut label = None;
        if !excluded {
            if let Some(map) = &policy.region_labels {
                match class.and_then(|c| map.get(c)) {
                    Some(l) => label = Some(l),
                    None => problems.push(format!(
                        "{what}: {} is not in the region label map ({}) nor an exclusion class ({})",
                        class.map_or("no class".to_string(), |c| format!("class {c:?}")),
                        map.known_classes().join(", "),
                        policy.exclude_classes.join(", ")
                    )),
                }
            }
            if let Some(include) = &policy.include_classes
                && !class.is_some_and(|c| include.iter().any(|i| i.eq_ignore_ascii_case(c)))
            {
                problems.push(format!(
                    "{what}: {} is neither an included class ({}) nor an exclusion class ({})",
                    class.map_or("no class".to_string(), |c| format!("class {c:?}")),
                    include.join(", "),
                    policy.exclude_classes.join(", ")
                ));
            }
        }
        let role = if excluded { RegionRole::Exclude } else { RegionRole::Include };
        regions.push(Region { raw: r, role, label });
    }
    if !problems.is_empty() {
        return Err(AnnotationError::Invalid { path: path.into(), problems });
    }
    if regions.len() >= raster::MAX_REGIONS {
        return Err(AnnotationError::TooMany { path: path.into(), count: regions.len(), max: raster::MAX_REGIONS - 1 });
    }
    if !regions.iter().any(|r| r.role == RegionRole::Include) {
        return Err(AnnotationError::NothingIncluded { path: path.into(), found: regions.len() });
    }
    Ok(SlideAnnotations { source: path.into(), format, regions, ignored_objects })
}

#[cfg(test)]
mod scene_tests;
#[cfg(test)]
mod tests;
