use melanoscope_shared::image::{DEFAULT_UPSAMPLE_TOLERANCE, PixelSpacing, RgbImage, load_rgb};
use openslide_rs::{Address, OpenSlide, Region, Size};
use serde::Serialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SlideError {
    #[error("{path}: file does not exist")]
    Missing { path: PathBuf },
    #[error(
        "{path}: DICOM whole-slide images need OpenSlide 4.x; the linked OpenSlide is {version}. \
         Install the OpenSlide 4 library (e.g. the `openslide-bin` wheel) and rebuild, or convert the slide"
    )]
    DicomNeedsOpenSlide4 { path: PathBuf, version: String },
    #[error(
        "{path}: OpenSlide cannot open it (supported: Aperio SVS, DICOM (OpenSlide 4), Hamamatsu NDPI, MIRAX, Leica SCN, tiled TIFF, OME-TIFF, and PNG/JPEG/TIFF images with an explicit µm/px)"
    )]
    Unsupported { path: PathBuf, source: Cause },
    #[error("{path}: no µm/px in the slide's metadata; give um_per_px in the cohort file or --um-per-px")]
    NoSpacing { path: PathBuf, source: Cause },
    #[error("{path}: plain images carry no reliable µm/px; give um_per_px in the cohort file or --um-per-px")]
    PlainImageNeedsSpacing { path: PathBuf },
    #[error("{path}: µm/px {value} is not a finite positive number")]
    BadSpacing { path: PathBuf, value: f64 },
    #[error(
        "{path}: target {target} µm/px is finer than the scan ({native} µm/px native); \
         a scan cannot be enlarged to a higher magnification"
    )]
    TooFine { path: PathBuf, target: f64, native: f64 },
    #[error("{path}: reading level {level} at ({x}, {y}) size {w}x{h} failed")]
    Read { path: PathBuf, level: u32, x: u64, y: u64, w: u32, h: u32, source: Cause },
    #[error("{path}")]
    Image { path: PathBuf, source: melanoscope_shared::image::ImageError },
    /// A size from the file that no slide has (a damaged or hostile header), refused before
    /// the memory is taken.
    #[error("{path}: {detail}; larger than any glass slide (a damaged or hostile header?)")]
    TooLarge { path: PathBuf, detail: String },
    /// The caller stopped the work (its time budget ran out).
    #[error("{path}: stopped: {reason}")]
    Stopped { path: PathBuf, reason: String },
}

/// The library error under a slide error (OpenSlide's, the TIFF decoder's, the image code's),
/// or a description where the problem has no other cause. Its text is part of the slide
/// error's message: the slide errors become report text (`report.json`) on their own.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

impl SlideError {
    /// An image-processing failure while working on the slide at `path`.
    pub fn image(path: &Path, source: melanoscope_shared::image::ImageError) -> Self {
        SlideError::Image { path: path.to_path_buf(), source }
    }
}

/// Where a slide's µm/px came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SpacingSource {
    Metadata,
    Override,
}

/// One pyramid level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LevelInfo {
    pub width: u64,
    pub height: u64,
    pub downsample: f64,
}

/// How to read a target µm/px: from `level`, then shrink by `scale` (≥ 1, or 1 within tolerance).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LevelPlan {
    pub level: u32,
    pub level_um_per_px: f64,
    pub target_um_per_px: f64,
    /// Level pixels per output pixel.
    pub scale: f64,
}

enum Backend {
    OpenSlide(Box<OpenSlide>),
    Plain(RgbImage),
    Ome(Box<super::ome_tiff::OmeTiff>),
}

/// A slide opened for reading.
pub struct Slide {
    path: PathBuf,
    backend: Backend,
    levels: Vec<LevelInfo>,
    spacing: PixelSpacing,
    spacing_source: SpacingSource,
    vendor: String,
    tile_width: u32,
    /// Direct tile reads, for plain tiled TIFF pyramids whose pixels match OpenSlide's.
    direct: Option<super::tiled_tiff::TiledTiff>,
    /// DICOM frames coded as YCbCr under an `RGB` label: OpenSlide's pixels are converted.
    ycbcr_labelled_rgb: bool,
}

impl std::fmt::Debug for Slide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slide")
            .field("path", &self.path)
            .field("vendor", &self.vendor)
            .field("levels", &self.levels)
            .field("spacing", &self.spacing)
            .field("direct_tiles", &self.direct.is_some())
            .finish()
    }
}

/// Version of the linked OpenSlide library.
pub fn openslide_version() -> String {
    OpenSlide::version().unwrap_or_else(|_| "unknown".into())
}

fn is_dicom(path: &Path) -> bool {
    // DICOM Part 10: a 128-byte preamble, then "DICM".
    let mut head = [0u8; 132];
    std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).is_ok()
        && &head[128..] == b"DICM"
}

/// Plain images (PNG, JPEG: patch files, photomicrographs) are read whole, at a spacing the
/// caller supplies; everything else goes to OpenSlide.
pub fn is_plain_image(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
}

impl Slide {
    /// Opens `path`; `um_per_px` overrides (or, for plain images and slides without metadata,
    /// supplies) the spacing.
    pub fn open(path: &Path, um_per_px: Option<f64>) -> Result<Self, SlideError> {
        Self::open_with_fallback(path, um_per_px, None)
    }

    /// Opens `path`: `um_per_px` (a cohort's column) overrides the slide's own spacing;
    /// `fallback` (`patch --um-per-px`) is used only where the slide has none (plain images,
    /// slides without the metadata) — it never replaces an OME-TIFF's or a scanner's own.
    pub fn open_with_fallback(path: &Path, um_per_px: Option<f64>, fallback: Option<f64>) -> Result<Self, SlideError> {
        let p = || path.to_path_buf();
        if !path.exists() {
            return Err(SlideError::Missing { path: p() });
        }
        for v in [um_per_px, fallback].into_iter().flatten() {
            if !(v.is_finite() && v > 0.0) {
                return Err(SlideError::BadSpacing { path: p(), value: v });
            }
        }
        if is_plain_image(path) {
            let Some(v) = um_per_px.or(fallback) else { return Err(SlideError::PlainImageNeedsSpacing { path: p() }) };
            let img = load_rgb(path).map_err(|e| SlideError::image(path, e))?;
            let levels = vec![LevelInfo { width: img.width().into(), height: img.height().into(), downsample: 1.0 }];
            return Ok(Self {
                path: p(),
                backend: Backend::Plain(img),
                levels,
                spacing: PixelSpacing { x: v, y: v },
                spacing_source: SpacingSource::Override,
                vendor: "image".into(),
                tile_width: 256,
                direct: None,
                ycbcr_labelled_rgb: false,
            });
        }
        match super::ome_tiff::OmeTiff::open_if_ome(path) {
            Ok(Some(ome)) => return Self::open_ome(path, ome, um_per_px, fallback),
            Ok(None) => {}
            Err(e) => return Err(SlideError::Unsupported { path: p(), source: format!("OME-TIFF: {e}").into() }),
        }
        let version = openslide_version();
        let osr = match OpenSlide::new(path) {
            Ok(o) => o,
            Err(e) if is_dicom(path) && !version.starts_with('4') => {
                tracing::debug!(error = %melanoscope_shared::errors::Chain(&e), "OpenSlide refused a DICOM file");
                return Err(SlideError::DicomNeedsOpenSlide4 { path: p(), version });
            }
            Err(e) => return Err(SlideError::Unsupported { path: p(), source: e.into() }),
        };
        let levels = (0..osr.level_count())
            .map(|l| {
                let size =
                    osr.level_dimensions(l).map_err(|e| SlideError::Unsupported { path: p(), source: e.into() })?;
                let downsample =
                    osr.level_downsample(l).map_err(|e| SlideError::Unsupported { path: p(), source: e.into() })?;
                Ok(LevelInfo { width: size.w.into(), height: size.h.into(), downsample })
            })
            .collect::<Result<Vec<_>, SlideError>>()?;
        if levels.is_empty() {
            return Err(SlideError::Unsupported { path: p(), source: "no pyramid levels".into() });
        }
        let read_mpp = |name: &str| osr.property_value(name).ok().and_then(|v| v.trim().parse::<f64>().ok());
        let (spacing, spacing_source) = match (um_per_px, read_mpp("openslide.mpp-x"), read_mpp("openslide.mpp-y")) {
            (Some(v), _, _) => (PixelSpacing { x: v, y: v }, SpacingSource::Override),
            (None, Some(x), Some(y)) => {
                let s = PixelSpacing::new(x, y).map_err(|e| SlideError::NoSpacing { path: p(), source: e.into() })?;
                (s, SpacingSource::Metadata)
            }
            _ => match fallback {
                Some(v) => (PixelSpacing { x: v, y: v }, SpacingSource::Override),
                None => return Err(SlideError::NoSpacing { path: p(), source: "openslide.mpp-x/y missing".into() }),
            },
        };
        let vendor = osr.property_value("openslide.vendor").unwrap_or_else(|_| "unknown".into());
        let tile_width = osr
            .property_value("openslide.level[0].tile-width")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|t| *t > 0)
            .unwrap_or(256);
        // TIFF-based formats (the synthetic slides carry an Aperio-style description); the probe
        // below decides whether their tiles can be read directly.
        let direct = if vendor == "generic-tiff" || vendor == "aperio" {
            let sizes: Vec<(u64, u64)> = levels.iter().map(|l| (l.width, l.height)).collect();
            super::tiled_tiff::TiledTiff::open(&p(), &sizes)
        } else {
            None
        };
        let ycbcr_labelled_rgb = vendor == "dicom"
            && osr
                .property_value("dicom.PhotometricInterpretation")
                .is_ok_and(|v| super::dicom_colour::ycbcr_labelled_rgb(path, &v));
        if ycbcr_labelled_rgb {
            tracing::warn!(path = %path.display(), "DICOM frames are YCbCr-coded JPEG labelled RGB; converting their colours");
        }
        let mut slide = Self {
            ycbcr_labelled_rgb,
            path: p(),
            backend: Backend::OpenSlide(Box::new(osr)),
            levels,
            spacing,
            spacing_source,
            vendor,
            tile_width,
            direct,
        };
        // Trust the direct path only where it gives OpenSlide's pixels: compare one region that
        // spans a tile corner on every level.
        if slide.direct.is_some() {
            let agrees = (0..slide.levels.len() as u32).all(|level| {
                let l = slide.levels[level as usize];
                let (w, h) = ((l.width.min(300)) as u32, (l.height.min(300)) as u32);
                let (x, y) = (u64::from(w / 3), u64::from(h / 3));
                let x0 = (x as f64 * l.downsample) as u64;
                let y0 = (y as f64 * l.downsample) as u64;
                match (slide.read_rgb_openslide(level, x0, y0, w, h), slide.direct_read(level, x0, y0, w, h)) {
                    (Ok(a), Some(Ok(b))) => a == b,
                    // A level the direct path leaves to OpenSlide.
                    (_, None) => true,
                    _ => false,
                }
            });
            if !agrees {
                tracing::debug!(path = %slide.path.display(), "direct TIFF tiles differ from OpenSlide; using OpenSlide");
                slide.direct = None;
            }
        }
        Ok(slide)
    }

    /// An OME-TIFF, read by [`super::ome_tiff`]: µm/px from its OME-XML unless overridden.
    fn open_ome(
        path: &Path,
        ome: super::ome_tiff::OmeTiff,
        um_per_px: Option<f64>,
        fallback: Option<f64>,
    ) -> Result<Self, SlideError> {
        let p = || path.to_path_buf();
        let (spacing, spacing_source) = match (um_per_px, ome.spacing(), fallback) {
            (Some(v), _, _) | (None, None, Some(v)) => (PixelSpacing { x: v, y: v }, SpacingSource::Override),
            (None, Some(s), _) => (s, SpacingSource::Metadata),
            (None, None, None) => {
                return Err(SlideError::NoSpacing {
                    path: p(),
                    source: "the OME-XML has no PhysicalSizeX/PhysicalSizeY".into(),
                });
            }
        };
        let sizes = ome.level_sizes();
        let (w0, h0) = sizes[0];
        let levels = sizes
            .iter()
            .map(|&(w, h)| LevelInfo {
                width: w.into(),
                height: h.into(),
                // As OpenSlide defines it: the mean of the two axes' ratios.
                downsample: (f64::from(w0) / f64::from(w) + f64::from(h0) / f64::from(h)) / 2.0,
            })
            .collect();
        Ok(Self {
            path: p(),
            backend: Backend::Ome(Box::new(ome)),
            levels,
            spacing,
            spacing_source,
            vendor: "ome-tiff".into(),
            tile_width: 256,
            direct: None,
            ycbcr_labelled_rgb: false,
        })
    }

    /// Whether regions are assembled from the TIFF's tiles directly (else through OpenSlide).
    pub fn has_direct_tiles(&self) -> bool {
        self.direct.is_some()
    }

    /// The region from the TIFF's tiles, where that gives exactly OpenSlide's pixels: on levels
    /// with a whole-number downsample, at level-0 positions on that level's pixel grid. Elsewhere
    /// (a level whose size was rounded, or a fractional level position) OpenSlide interpolates,
    /// and `None` leaves the read to it.
    fn direct_read(
        &self,
        level: u32,
        x0: u64,
        y0: u64,
        w: u32,
        h: u32,
    ) -> Option<Result<RgbImage, super::tiled_tiff::TileError>> {
        let d = self.direct.as_ref()?;
        let ds = self.levels.get(level as usize)?.downsample;
        let whole = ds.round();
        if (ds - whole).abs() > 1e-9 || whole < 1.0 {
            return None;
        }
        let step = whole as u64;
        if !x0.is_multiple_of(step) || !y0.is_multiple_of(step) {
            return None;
        }
        Some(d.read(level, x0 / step, y0 / step, w, h))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn vendor(&self) -> &str {
        &self.vendor
    }

    /// A correction applied to every pixel read, for the report (`None`: the pixels as stored).
    pub fn colour_correction(&self) -> Option<&'static str> {
        self.ycbcr_labelled_rgb.then_some("DICOM frames coded as YCbCr but labelled RGB: converted to RGB")
    }

    /// Level-0 tile width of the scan (256 when the format does not say); a patch grid that
    /// starts on a tile boundary reads fewer tiles per patch.
    pub fn tile_width(&self) -> u32 {
        self.tile_width
    }

    pub fn levels(&self) -> &[LevelInfo] {
        &self.levels
    }

    /// Level-0 µm/px.
    pub fn spacing(&self) -> PixelSpacing {
        self.spacing
    }

    pub fn spacing_source(&self) -> SpacingSource {
        self.spacing_source
    }

    /// Level-0 µm/px as one number (the coarser axis, so no axis is enlarged).
    pub fn native_um_per_px(&self) -> f64 {
        self.spacing.x.max(self.spacing.y)
    }

    /// Chooses the coarsest level that is still at least as fine as `target_um` (so reading it
    /// and shrinking never enlarges), and refuses targets finer than the scan beyond the tolerance.
    pub fn plan_level(&self, target_um: f64) -> Result<LevelPlan, SlideError> {
        let native = self.native_um_per_px();
        if !(target_um.is_finite() && target_um > 0.0) {
            return Err(SlideError::BadSpacing { path: self.path.clone(), value: target_um });
        }
        if target_um < native * (1.0 - DEFAULT_UPSAMPLE_TOLERANCE) {
            return Err(SlideError::TooFine { path: self.path.clone(), target: target_um, native });
        }
        let mut best = LevelPlan { level: 0, level_um_per_px: native, target_um_per_px: target_um, scale: 1.0 };
        for (i, l) in self.levels.iter().enumerate() {
            let um = native * l.downsample;
            if um <= target_um * (1.0 + 1e-6) && um >= best.level_um_per_px {
                best.level = i as u32;
                best.level_um_per_px = um;
            }
        }
        best.scale = (target_um / best.level_um_per_px).max(1.0);
        Ok(best)
    }

    /// Reads `w`x`h` pixels of `level` whose top-left is at level-0 (`x0`, `y0`), as RGB. Areas
    /// outside the scan (transparent in OpenSlide) come back white, like glass.
    /// Plain tiled TIFFs are assembled from their tiles directly, with OpenSlide's pixels.
    pub fn read_rgb(&self, level: u32, x0: u64, y0: u64, w: u32, h: u32) -> Result<RgbImage, SlideError> {
        if w > 0
            && h > 0
            && let Some(r) = self.direct_read(level, x0, y0, w, h)
        {
            return r.map_err(|e| SlideError::Read {
                path: self.path.clone(),
                level,
                x: x0,
                y: y0,
                w,
                h,
                source: e.into(),
            });
        }
        self.read_rgb_openslide(level, x0, y0, w, h)
    }

    /// [`Slide::read_rgb`] always through OpenSlide's `read_region` (the benchmark's baseline).
    pub fn read_rgb_openslide(&self, level: u32, x0: u64, y0: u64, w: u32, h: u32) -> Result<RgbImage, SlideError> {
        let err = |source: Cause| SlideError::Read { path: self.path.clone(), level, x: x0, y: y0, w, h, source };
        if w == 0 || h == 0 {
            return Err(err("empty region".into()));
        }
        match &self.backend {
            Backend::Plain(img) => {
                if level != 0 {
                    return Err(err("plain images have one level".into()));
                }
                // Like OpenSlide: the part outside the image is white (glass).
                let mut out = RgbImage::filled(w, h, [255; 3]).map_err(|e| err(e.into()))?;
                let (iw, ih) = (u64::from(img.width()), u64::from(img.height()));
                if x0 < iw && y0 < ih {
                    let cw = (iw - x0).min(u64::from(w)) as u32;
                    let ch = (ih - y0).min(u64::from(h)) as u32;
                    let inside = img.crop(x0 as u32, y0 as u32, cw, ch).map_err(|e| err(e.into()))?;
                    for row in 0..ch {
                        let src = inside.row(row);
                        let start = row as usize * w as usize * 3;
                        out.as_raw_mut()[start..start + src.len()].copy_from_slice(src);
                    }
                }
                Ok(out)
            }
            Backend::Ome(ome) => {
                let ds =
                    self.levels.get(level as usize).map(|l| l.downsample).ok_or_else(|| err("no such level".into()))?;
                let (x, y) = ((x0 as f64 / ds) as u64, (y0 as f64 / ds) as u64);
                ome.read(level as usize, x, y, w, h).map_err(|e| err(e.into()))
            }
            Backend::OpenSlide(osr) => {
                let (x, y) =
                    (u32::try_from(x0).map_err(|e| err(e.into()))?, u32::try_from(y0).map_err(|e| err(e.into()))?);
                let region = Region { size: Size { w, h }, level, address: Address { x, y } };
                let argb = osr.read_region(&region).map_err(|e| err(e.into()))?;
                let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
                // Premultiplied BGRA bytes on little-endian: un-premultiply over white.
                for px in argb.chunks_exact(4) {
                    let (b, g, r, a) = (u32::from(px[0]), u32::from(px[1]), u32::from(px[2]), u32::from(px[3]));
                    let over_white = |c: u32| (c + (255 - a)).min(255) as u8;
                    if self.ycbcr_labelled_rgb && a == 255 {
                        // Frames are opaque; only the area outside the scan is transparent.
                        rgb.extend_from_slice(&super::dicom_colour::ycbcr_to_rgb(r as u8, g as u8, b as u8));
                    } else {
                        rgb.extend_from_slice(&[over_white(r), over_white(g), over_white(b)]);
                    }
                }
                RgbImage::from_raw(w, h, rgb).map_err(|e| err(e.into()))
            }
        }
    }
}
