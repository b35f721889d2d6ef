//! Class activation maps of a batch. CAM weights the last feature map's channels with the
//! linear classifier's row for the class, which is exact only for a global-average-pooled
//! linear head (ResNet). Grad-CAM weights them with the spatial mean of the class score's
//! gradient and works for any head (VGG19's three linear layers too); for a GAP-linear head
//! the two coincide, which the tests check. The map arithmetic is `shared`'s, as on the edge.

use super::ExplainError;
use crate::model::{Arch, Network};
use melanoscope_shared::cam::{FeatureMap, class_activation_map, grad_cam};
use tch::{Device, Kind, Tensor, nn::VarStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CamMethod {
    Cam,
    GradCam,
}

impl CamMethod {
    /// CAM where the head allows it, Grad-CAM otherwise.
    pub fn default_for(arch: Arch) -> Self {
        match arch {
            Arch::ResNet18 | Arch::ResNet50 => CamMethod::Cam,
            Arch::Vgg19 => CamMethod::GradCam,
        }
    }
}

/// One patch's class probabilities and its map for the explained class (feature-grid
/// resolution, 0..1 after ReLU and min–max scaling).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchCam {
    pub probs: Vec<f32>,
    pub map: Vec<f32>,
    pub height: usize,
    pub width: usize,
}

/// How feature channels are weighted.
enum Weighting {
    /// The classifier's weights, classes × channels.
    Head(Vec<f32>),
    /// The class score's gradients, shaped like the batch's feature maps.
    Gradients(Vec<f32>),
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>, tch::TchError> {
    Vec::<f32>::try_from(t.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?.f_contiguous()?.f_flatten(0, -1)?)
}

/// Probabilities and the `class` map of every image of `x` (N×3×S×S), in eval mode.
pub fn explain_batch(
    net: &Network,
    vs: &VarStore,
    arch: Arch,
    x: &Tensor,
    class: usize,
    method: CamMethod,
) -> Result<Vec<PatchCam>, ExplainError> {
    let head: Option<Vec<f32>> = match (method, arch) {
        (CamMethod::Cam, Arch::Vgg19) => {
            return Err(ExplainError::Unsupported(
                "CAM needs a global-average-pooled linear head (ResNet); use Grad-CAM for VGG19".into(),
            ));
        }
        (CamMethod::Cam, _) => {
            let name = format!("{}weight", arch.head_prefix());
            let w = vs
                .variables()
                .remove(&name)
                .ok_or_else(|| ExplainError::Unsupported(format!("no {name} in the model")))?;
            Some(to_vec(&w)?)
        }
        (CamMethod::GradCam, _) => None,
    };
    let out = match method {
        CamMethod::Cam => tch::no_grad(|| net.forward_t(x, false)),
        CamMethod::GradCam => net.forward_t(x, false),
    };
    let probs = out.logits.f_softmax(-1, Kind::Float)?;
    let k = probs.size().last().copied().unwrap_or(0) as usize;
    if class >= k {
        return Err(ExplainError::Unsupported(format!("class {class} out of range; the model has {k} classes")));
    }
    let weighting = match head {
        Some(weights) => Weighting::Head(weights),
        None => {
            // Each image's score depends on its own features only, so one backward of the sum
            // gives every image's gradient.
            let score = out.logits.f_select(1, class as i64)?.f_sum(Kind::Float)?;
            let mut g = Tensor::f_run_backward(&[&score], &[&out.features], false, false)?;
            Weighting::Gradients(to_vec(&g.remove(0))?)
        }
    };
    let size = out.features.size();
    let [n, c, h, w] = size[..] else {
        return Err(ExplainError::Unsupported(format!("feature map of shape {size:?}; expected N×C×H×W")));
    };
    let (n, c, h, w) = (n as usize, c as usize, h as usize, w as usize);
    let features = to_vec(&out.features.f_detach()?)?;
    let probs = to_vec(&probs.f_detach()?)?;
    let per = c * h * w;
    (0..n)
        .map(|i| {
            let fm = FeatureMap::new(&features[i * per..(i + 1) * per], c, h, w)?;
            let map = match &weighting {
                Weighting::Head(weights) => class_activation_map(&fm, weights, class)?,
                Weighting::Gradients(g) => grad_cam(&fm, &g[i * per..(i + 1) * per])?,
            };
            Ok(PatchCam { probs: probs[i * k..(i + 1) * k].to_vec(), map, height: h, width: w })
        })
        .collect()
}
