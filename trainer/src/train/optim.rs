//! SGD with momentum and AdamW written over the VarStore's tensors, so that their state can be
//! saved and a run resumed exactly (tch's optimisers keep their state inside libtorch, out of
//! reach). Parameters fall into groups by name prefix, each with its own rate multiplier and
//! trainability, for linear probes, full fine-tuning and staged unfreezing.
//!
//! The trainable parameters live in one flat buffer (each parameter a view into it), and so do
//! the gradient and the optimiser state: an update is a dozen kernels whatever the number of
//! parameters. Per-parameter updates cost ResNet50 about two thousand kernel launches a step,
//! which on a GPU took longer than the convolutions (tch does not bind PyTorch's `_foreach`
//! and fused optimiser kernels, which solve the same problem).

use std::collections::BTreeMap;
use std::path::Path;
use tch::{Kind, Tensor, nn::VarStore};
use thiserror::Error;

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    Sgd { momentum: f64, nesterov: bool },
    AdamW { beta1: f64, beta2: f64, eps: f64 },
}

/// Parameters whose names start with `prefix` (the empty prefix matches all): their rate is
/// the schedule's times `lr_scale`; `trainable: false` freezes them.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamGroup {
    pub prefix: String,
    pub lr_scale: f64,
    pub trainable: bool,
}

#[derive(Debug, Error)]
pub enum OptimError {
    #[error("optimiser state {path}: {detail}")]
    State { path: String, detail: String },
    #[error("optimiser layout: {0}")]
    Layout(&'static str),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

/// Every parameter starts at a multiple of this many elements (512 bytes, the CUDA caching
/// allocator's own alignment): cuDNN's vectorised kernels fault on weights at odd addresses
/// ("misaligned address", seen with channels-last weights on an H100) or fall back to slow ones.
const ALIGN: i64 = 128;

/// Lays `pieces` (one per slot, each `numel` long) out at the slots' offsets in one tensor of
/// `total` elements, the gaps zero.
fn gather(pieces: &[Tensor], slots: &[Slot], total: i64) -> Result<Tensor, tch::TchError> {
    let Some(first) = pieces.first() else { return Ok(Tensor::zeros([0], (Kind::Float, tch::Device::Cpu))) };
    let zeros = first.f_new_zeros([ALIGN], (first.kind(), first.device()))?;
    let mut parts = Vec::with_capacity(2 * pieces.len());
    for (i, (piece, s)) in pieces.iter().zip(slots).enumerate() {
        parts.push(piece.shallow_clone());
        let end = slots.get(i + 1).map_or(total, |n| n.offset);
        let gap = end - s.offset - s.numel;
        if gap > 0 {
            parts.push(zeros.f_narrow(0, 0, gap)?);
        }
    }
    Tensor::f_cat(&parts, 0)
}

/// Where each trainable parameter sits in the flat buffers.
#[derive(Debug)]
struct Slot {
    name: String,
    /// The parameter itself (a handle; its data is the view into the flat buffer).
    param: Tensor,
    offset: i64,
    numel: i64,
    size: Vec<i64>,
    /// A 4-d weight stored channels-last: flat order is (O, kH, kW, I).
    channels_last: bool,
}

impl Slot {
    /// The slot's part of a flat buffer as a tensor of the parameter's shape (a view).
    fn view(&self, flat: &Tensor) -> Result<Tensor, tch::TchError> {
        let piece = flat.f_narrow(0, self.offset, self.numel)?;
        let s = &self.size;
        if self.channels_last {
            piece.f_view([s[0], s[2], s[3], s[1]])?.f_permute([0, 3, 1, 2])
        } else {
            piece.f_view(s.as_slice())
        }
    }
}

/// The flat buffers for one set of trainable parameters.
#[derive(Debug)]
struct Flat {
    /// The groups the layout was built for: the trainable set and the rates follow from them.
    groups: Vec<ParamGroup>,
    slots: Vec<Slot>,
    /// Runs of consecutive elements sharing a rate multiplier: (offset, length, lr_scale).
    segments: Vec<(i64, i64, f64)>,
    params: Tensor,
    first: Tensor,
    second: Option<Tensor>,
}

/// The optimiser and its state.
#[derive(Debug)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub weight_decay: f64,
    /// First match wins; parameters matching no group train at the full rate.
    pub groups: Vec<ParamGroup>,
    pub step: u64,
    /// State by name while no flat layout exists (new, loaded, or between layouts):
    /// momentum buffer (SGD) or first moment (AdamW), and second moment (AdamW).
    first: BTreeMap<String, Tensor>,
    second: BTreeMap<String, Tensor>,
    flat: Option<Flat>,
}

fn is_channels_last(t: &Tensor) -> bool {
    let s = t.size();
    s.len() == 4 && s[1] > 1 && t.stride() == [s[1] * s[2] * s[3], 1, s[3] * s[1], s[1]]
}

/// `t` as a 1-d tensor in the slot's memory order (a view when the layout allows).
fn flatten(t: &Tensor, channels_last: bool) -> Result<Tensor, tch::TchError> {
    if channels_last { t.f_permute([0, 2, 3, 1])?.f_reshape([-1]) } else { t.f_reshape([-1]) }
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, weight_decay: f64, groups: Vec<ParamGroup>) -> Self {
        Self { kind, weight_decay, groups, step: 0, first: BTreeMap::new(), second: BTreeMap::new(), flat: None }
    }

    fn group(&self, name: &str) -> (f64, bool) {
        self.groups.iter().find(|g| name.starts_with(&g.prefix)).map_or((1.0, true), |g| (g.lr_scale, g.trainable))
    }

    /// The parameters autograd tracks (BatchNorm running statistics are not), sorted by name.
    fn parameters(vs: &VarStore) -> Vec<(String, Tensor)> {
        let mut p: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        p.sort_by(|a, b| a.0.cmp(&b.0));
        p
    }

    /// The parameters the groups train, sorted by name.
    fn trainable(&self, vs: &VarStore) -> Vec<(String, Tensor)> {
        Self::parameters(vs).into_iter().filter(|(n, _)| self.group(n).1).collect()
    }

    /// Names of the parameters the groups leave frozen.
    pub fn frozen(&self, vs: &VarStore) -> Vec<String> {
        Self::parameters(vs).into_iter().map(|(n, _)| n).filter(|n| !self.group(n).1).collect()
    }

    /// Clears every gradient `backward` accumulated on the parameters.
    pub fn zero_grad(&self, vs: &VarStore) {
        for (_, mut t) in Self::parameters(vs) {
            t.zero_grad();
        }
    }

    /// Moves the flat state back into the by-name maps (before a new layout or a save).
    fn unflatten_state(&mut self) {
        let Some(flat) = self.flat.take() else { return };
        for s in &flat.slots {
            if let Ok(t) = s.view(&flat.first) {
                self.first.insert(s.name.clone(), t.copy());
            }
            if let Some(Ok(t)) = flat.second.as_ref().map(|v| s.view(v)) {
                self.second.insert(s.name.clone(), t.copy());
            }
        }
    }

    /// The flat layout for the groups as they are now, built (and the parameters moved into
    /// it) when there is none or the groups changed (staged unfreezing, another rate). Steps
    /// with unchanged groups reuse it without looking at the VarStore again.
    fn layout(&mut self, vs: &VarStore) -> Result<&mut Flat, OptimError> {
        let current = self.flat.as_ref().is_some_and(|f| f.groups == self.groups);
        if !current {
            let params = self.trainable(vs);
            self.unflatten_state();
            let mut slots = Vec::with_capacity(params.len());
            let mut pieces = Vec::with_capacity(params.len());
            let (mut first, mut second) = (Vec::new(), Vec::new());
            let mut segments: Vec<(i64, i64, f64)> = Vec::new();
            let mut offset = 0i64;
            let adam = matches!(self.kind, OptimizerKind::AdamW { .. });
            for (name, p) in &params {
                let cl = is_channels_last(p);
                let numel = p.numel() as i64;
                let piece = flatten(p, cl)?.f_detach()?;
                // Missing state is zero: the first update then equals the formulas' start.
                let state = |m: &BTreeMap<String, Tensor>| -> Result<Tensor, tch::TchError> {
                    match m.get(name) {
                        Some(t) => flatten(&t.f_view(p.size().as_slice())?, cl)?
                            .f_to_device(p.device())?
                            .f_to_kind(Kind::Float),
                        None => piece.f_zeros_like(),
                    }
                };
                first.push(state(&self.first)?);
                if adam {
                    second.push(state(&self.second)?);
                }
                pieces.push(piece);
                let scale = self.group(name).0;
                // Segments cover the padding too (zero parameters with zero gradients stay zero).
                match segments.last_mut() {
                    Some(last) if last.2 == scale => last.1 = offset + numel - last.0,
                    _ => segments.push((offset, numel, scale)),
                }
                slots.push(Slot {
                    name: name.clone(),
                    param: p.shallow_clone(),
                    offset,
                    numel,
                    size: p.size(),
                    channels_last: cl,
                });
                offset = (offset + numel + ALIGN - 1) / ALIGN * ALIGN;
            }
            let total = offset;
            let flat_params = if pieces.is_empty() {
                Tensor::zeros([0], (Kind::Float, vs.device()))
            } else {
                gather(&pieces, &slots, total)?
            };
            let cat = |v: &[Tensor]| if v.is_empty() { flat_params.f_zeros_like() } else { gather(v, &slots, total) };
            let (first, second) = (cat(&first)?, if adam { Some(cat(&second)?) } else { None });
            // Each parameter becomes a view of the flat buffer, in its own memory format.
            for ((_, p), s) in params.iter().zip(&slots) {
                p.shallow_clone().f_set_data(&s.view(&flat_params)?)?;
            }
            self.first.clear();
            self.second.clear();
            let groups = self.groups.clone();
            return Ok(self.flat.insert(Flat { groups, slots, segments, params: flat_params, first, second }));
        }
        self.flat.as_mut().ok_or(OptimError::Layout("no flat layout"))
    }

    /// The gradient of `loss` with respect to the trainable parameters, as one flat tensor in
    /// the layout's order (nothing is accumulated on the parameters' `.grad`).
    pub fn flat_gradient(&mut self, vs: &VarStore, loss: &Tensor) -> Result<Tensor, OptimError> {
        let flat = self.layout(vs)?;
        let params: Vec<&Tensor> = flat.slots.iter().map(|s| &s.param).collect();
        if params.is_empty() {
            return Ok(flat.params.zeros_like());
        }
        let grads = Tensor::f_run_backward(&[loss], &params, false, false)?;
        let pieces =
            grads.iter().zip(&flat.slots).map(|(g, s)| flatten(g, s.channels_last)).collect::<Result<Vec<_>, _>>()?;
        Ok(gather(&pieces, &flat.slots, flat.params.size()[0])?)
    }

    /// One update at rate `lr` from the gradients `backward` left on the parameters.
    pub fn apply(&mut self, vs: &VarStore, lr: f64) -> Result<(), OptimError> {
        let flat = self.layout(vs)?;
        let mut pieces = Vec::with_capacity(flat.slots.len());
        for s in &flat.slots {
            let g = s.param.grad();
            pieces.push(if g.defined() {
                flatten(&g, s.channels_last)?
            } else {
                flat.params.narrow(0, s.offset, s.numel).zeros_like()
            });
        }
        let grad = if pieces.is_empty() {
            flat.params.zeros_like()
        } else {
            gather(&pieces, &flat.slots, flat.params.size()[0])?
        };
        self.apply_flat(vs, &grad, lr)
    }

    /// One update at rate `lr` from a gradient laid out as [`Optimizer::flat_gradient`] returns.
    pub fn apply_flat(&mut self, vs: &VarStore, grad: &Tensor, lr: f64) -> Result<(), OptimError> {
        self.step += 1;
        let step = self.step as f64;
        let (kind, wd) = (self.kind, self.weight_decay);
        let flat = self.layout(vs)?;
        tch::no_grad(|| -> Result<(), OptimError> {
            let p = &mut flat.params;
            match kind {
                OptimizerKind::Sgd { momentum, nesterov } => {
                    // Coupled L2 decay, as torch.optim.SGD.
                    let g = if wd > 0.0 { grad.f_add(&p.f_mul_scalar(wd)?)? } else { grad.shallow_clone() };
                    let _ = flat.first.f_mul_scalar_(momentum)?.f_add_(&g)?;
                    let update = if nesterov {
                        g.f_add(&flat.first.f_mul_scalar(momentum)?)?
                    } else {
                        flat.first.shallow_clone()
                    };
                    for &(off, len, scale) in &flat.segments {
                        let _ = p
                            .f_narrow(0, off, len)?
                            .f_sub_(&update.f_narrow(0, off, len)?.f_mul_scalar(lr * scale)?)?;
                    }
                }
                OptimizerKind::AdamW { beta1, beta2, eps } => {
                    // Decoupled decay (Loshchilov & Hutter), as torch.optim.AdamW.
                    if wd > 0.0 {
                        for &(off, len, scale) in &flat.segments {
                            let _ = p.f_narrow(0, off, len)?.f_mul_scalar_(1.0 - lr * scale * wd)?;
                        }
                    }
                    let Some(second) = flat.second.as_mut() else {
                        return Err(OptimError::Layout("an AdamW layout without a second moment"));
                    };
                    let _ = flat.first.f_mul_scalar_(beta1)?.f_add_(&grad.f_mul_scalar(1.0 - beta1)?)?;
                    let _ = second.f_mul_scalar_(beta2)?.f_add_(&grad.f_mul(grad)?.f_mul_scalar(1.0 - beta2)?)?;
                    let m_hat = flat.first.f_div_scalar(1.0 - beta1.powf(step))?;
                    let v_hat = second.f_div_scalar(1.0 - beta2.powf(step))?;
                    let update = m_hat.f_div(&v_hat.f_sqrt()?.f_add_scalar(eps)?)?;
                    for &(off, len, scale) in &flat.segments {
                        let _ = p
                            .f_narrow(0, off, len)?
                            .f_sub_(&update.f_narrow(0, off, len)?.f_mul_scalar(lr * scale)?)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Writes the step and every buffer to `path` (safetensors, by parameter name), atomically.
    pub fn save(&self, path: &Path) -> Result<(), OptimError> {
        let err = |detail: String| OptimError::State { path: path.display().to_string(), detail };
        let mut named: Vec<(String, Tensor)> = Vec::new();
        named.push(("__step".into(), Tensor::from_slice(&[self.step as i64])));
        type Named = Vec<(String, Tensor)>;
        let (mut first, mut second): (Named, Named) = (
            self.first.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect(),
            self.second.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect(),
        );
        if let Some(flat) = &self.flat {
            for s in &flat.slots {
                first.push((
                    s.name.clone(),
                    s.view(&flat.first).map_err(|e| err(melanoscope_shared::errors::error_chain(&e)))?,
                ));
                if let Some(v) = &flat.second {
                    second.push((
                        s.name.clone(),
                        s.view(v).map_err(|e| err(melanoscope_shared::errors::error_chain(&e)))?,
                    ));
                }
            }
        }
        first.sort_by(|a, b| a.0.cmp(&b.0));
        second.sort_by(|a, b| a.0.cmp(&b.0));
        for (n, t) in first {
            named.push((format!("first.{n}"), t.to_kind(Kind::Float).to_device(tch::Device::Cpu).contiguous()));
        }
        for (n, t) in second {
            named.push((format!("second.{n}"), t.to_kind(Kind::Float).to_device(tch::Device::Cpu).contiguous()));
        }
        let tmp = melanoscope_shared::atomic::temp_path(path);
        Tensor::write_safetensors(&named, &tmp).map_err(|e| err(melanoscope_shared::errors::error_chain(&e)))?;
        std::fs::rename(&tmp, path).map_err(|e| err(melanoscope_shared::errors::error_chain(&e)))
    }

    /// Restores what [`Optimizer::save`] wrote.
    pub fn load(&mut self, path: &Path) -> Result<(), OptimError> {
        let err = |detail: String| OptimError::State { path: path.display().to_string(), detail };
        let tensors = Tensor::read_safetensors(path).map_err(|e| err(melanoscope_shared::errors::error_chain(&e)))?;
        let (mut first, mut second, mut step) = (BTreeMap::new(), BTreeMap::new(), None);
        for (name, t) in tensors {
            if name == "__step" {
                step =
                    Some(t.f_int64_value(&[0]).map_err(|e| err(melanoscope_shared::errors::error_chain(&e)))? as u64);
            } else if let Some(n) = name.strip_prefix("first.") {
                first.insert(n.to_string(), t);
            } else if let Some(n) = name.strip_prefix("second.") {
                second.insert(n.to_string(), t);
            } else {
                return Err(err(format!("unexpected entry {name:?}")));
            }
        }
        self.step = step.ok_or_else(|| err("no __step entry".into()))?;
        (self.first, self.second, self.flat) = (first, second, None);
        Ok(())
    }
}
