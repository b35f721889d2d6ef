//! Whole-slide images and plain images behind one reader, with µm/px from metadata (or an
//! explicit override) and the choice of pyramid level for a target magnification.

mod dicom_colour;
mod magnification;
mod ome_tiff;
mod reader;
mod tiled_tiff;

pub use magnification::{Magnification, MagnificationPresets};
pub use ome_tiff::{OmeError, OmeTiff, ome_spacing};
pub use reader::{LevelInfo, LevelPlan, Slide, SlideError, SpacingSource, is_plain_image, openslide_version};
pub use tiled_tiff::{TileError, TiledTiff};
