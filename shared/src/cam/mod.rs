//! Class activation maps: CAM from a last-layer feature map and classifier weights,
//! Grad-CAM from feature-map gradients, bilinear upsampling to the field, a perceptual
//! colormap and an alpha-blended overlay.

mod colormap;
mod map;
mod overlay;

pub use colormap::{Colormap, viridis};
pub use map::{CamError, FeatureMap, class_activation_map, grad_cam, normalize_map, upsample_bilinear};
pub use overlay::overlay;
