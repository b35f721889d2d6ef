//! Explanations: CAM and Grad-CAM of patches, the study's figure panels, and for a whole slide a
//! stitched probability heatmap, a CAM mosaic and regions of interest (PNG and QuPath GeoJSON),
//! with localisation scores against ground-truth lesion masks where a slide has one.

pub mod cam;
pub mod panels;
pub mod regions;
pub mod run;
pub mod slide_map;

#[cfg(test)]
mod tests;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ExplainError {
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    Cam(#[from] melanoscope_shared::cam::CamError),
    #[error(transparent)]
    Image(#[from] melanoscope_shared::image::ImageError),
    #[error(transparent)]
    Slide(#[from] melanoscope_slides::slide::SlideError),
    #[error("{path}: {detail}")]
    Io { path: std::path::PathBuf, detail: String },
}
