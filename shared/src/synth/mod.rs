//! Synthetic skin-lesion scenes and microscope camera frames rendered from them: the slides
//! the trainer's demo learns from and the frames the edge's tests screen come from one renderer.

pub mod frames;
mod lesion;
pub mod scene;

pub use lesion::Lesion;
