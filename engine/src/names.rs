//! The names of the exported graph's tensors. The trainer's exporter writes them, the quantiser
//! and the agreement report read them back, and the engine and the edge's analyser look them
//! up: one spelling for all (a mismatch once broke VGG19's Grad-CAM agreement silently).

/// The input batch of normalised N×3×S×S fields.
pub const INPUT: &str = "input";
/// Class scores before the softmax, N×classes.
pub const LOGITS: &str = "logits";
/// The last convolutional feature map, N×C×H×W (what CAMs are drawn from).
pub const FEATURES: &str = "features";
/// VGG19's Grad-CAM channel weights, N×classes×C (its head is not linear in pooled features).
pub const GRAD_CAM_WEIGHTS: &str = "grad_cam_weights";
/// The prefix of the linear head's parameters (`fc.weight`, `fc.bias`).
pub const HEAD: &str = "fc";
/// The linear head's weight, classes×channels.
pub const HEAD_WEIGHT: &str = "fc.weight";
/// The f16 export's transposed head weight, channels×classes.
pub const HEAD_WEIGHT_T: &str = "fc.weight_t";
