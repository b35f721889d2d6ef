//! The study's networks written with `tch`: ResNet50 and VGG19 (and ResNet18, lighter for the
//! edge), with torchvision's parameter names, any input size, and a forward pass that returns
//! the last convolutional feature map with the logits (CAM, Grad-CAM and the ONNX export need both).

mod resnet;
mod vgg;
mod weights;

pub use resnet::ResNet;
pub use vgg::Vgg19;
pub use weights::{LoadReport, WeightsError, load_weights};

use melanoscope_shared::choice::UnknownChoice;
use serde::{Deserialize, Serialize};
use std::fmt;
use tch::{Tensor, nn};

static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// How many [`TorchRng`] guards this thread holds.
    static HELD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// libtorch's random generator is process-wide: seeding and then initialising a network must
/// not interleave with another thread drawing from it (parallel tests, a grid), or the "same
/// seed" gives different weights. While a guard lives, this thread alone draws through the
/// trainer (network construction waits for it elsewhere).
#[derive(Debug)]
pub struct TorchRng {
    _guard: std::sync::MutexGuard<'static, ()>,
}

impl Drop for TorchRng {
    fn drop(&mut self) {
        HELD.with(|h| h.set(h.get().saturating_sub(1)));
    }
}

fn lock_rng() -> TorchRng {
    let guard = TORCH_RNG.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    HELD.with(|h| h.set(h.get() + 1));
    TorchRng { _guard: guard }
}

/// Seeds the generator and holds it until the guard is dropped.
pub fn seed_torch(seed: u64) -> TorchRng {
    let guard = lock_rng();
    tch::manual_seed(seed as i64);
    guard
}

/// Runs `f` holding the generator, unless this thread already holds it.
fn with_rng<T>(f: impl FnOnce() -> T) -> T {
    let _guard = (HELD.with(std::cell::Cell::get) == 0).then(lock_rng);
    f()
}

/// A `classes`-way `arch` on `device` with every tensor from `checkpoint` (a trainer checkpoint
/// or a whole torchvision state dict): what evaluation, explanation and export start from.
pub fn load_network(
    checkpoint: &std::path::Path,
    arch: Arch,
    classes: i64,
    device: tch::Device,
) -> Result<(nn::VarStore, Network), WeightsError> {
    let mut vs = nn::VarStore::new(device);
    let net = Network::new(&vs.root(), arch, classes);
    load_weights(&mut vs, checkpoint, &[])?;
    Ok((vs, net))
}

/// The architectures the trainer builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Arch {
    ResNet18,
    ResNet50,
    Vgg19,
}

impl Arch {
    pub const ALL: [Arch; 3] = [Arch::ResNet18, Arch::ResNet50, Arch::Vgg19];

    pub fn name(&self) -> &'static str {
        match self {
            Arch::ResNet18 => "resnet18",
            Arch::ResNet50 => "resnet50",
            Arch::Vgg19 => "vgg19",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownChoice> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownChoice::one_of("architecture", s, Self::ALL.map(|a| a.name())))
    }

    /// Parameter-name prefix of the classification layer a new task replaces.
    pub fn head_prefix(&self) -> &'static str {
        match self {
            Arch::ResNet18 | Arch::ResNet50 => "fc.",
            Arch::Vgg19 => "classifier.6.",
        }
    }
}

melanoscope_shared::from_str_by_parse!(Arch);

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What a forward pass gives.
#[derive(Debug)]
pub struct Output {
    /// The last convolutional feature map, N×C×h×w.
    pub features: Tensor,
    /// N×classes.
    pub logits: Tensor,
}

/// A network of one of the [`Arch`]s.
#[derive(Debug)]
pub enum Network {
    ResNet(Box<ResNet>),
    Vgg(Box<Vgg19>),
}

impl Network {
    /// Builds `arch` with a `classes`-way head, its variables under `p` (a VarStore's root for
    /// torchvision names).
    /// Initialisation draws from libtorch's generator while holding it (see [`seed_torch`]).
    pub fn new(p: &nn::Path, arch: Arch, classes: i64) -> Self {
        with_rng(|| match arch {
            Arch::ResNet18 => Network::ResNet(Box::new(ResNet::new(p, [2, 2, 2, 2], false, classes))),
            Arch::ResNet50 => Network::ResNet(Box::new(ResNet::new(p, [3, 4, 6, 3], true, classes))),
            Arch::Vgg19 => Network::Vgg(Box::new(Vgg19::new(p, classes))),
        })
    }

    /// Channels of the feature map.
    pub fn feature_channels(&self) -> i64 {
        match self {
            Network::ResNet(r) => r.feature_channels,
            Network::Vgg(v) => v.feature_channels,
        }
    }

    /// Forward pass; `train` switches BatchNorm statistics and dropout.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Output {
        let (features, logits) = match self {
            Network::ResNet(r) => r.forward_t(x, train),
            Network::Vgg(v) => v.forward_t(x, train),
        };
        Output { features, logits }
    }
}

#[cfg(test)]
mod tests;
