//! SGD with momentum and AdamW written over the VarStore's tensors, so that their state can be
//! saved and a run resumed exactly (tch's optimisers keep their state inside libtorch, out of
//! reach). Parameters fall into groups by name prefix, each with its own rate multiplier and
//! trainability, for linear probes, full fine-tuning and staged unfreezing.

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
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

/// The optimiser and its per-parameter state.
#[derive(Debug)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub weight_decay: f64,
    /// First match wins; parameters matching no group train at the full rate.
    pub groups: Vec<ParamGroup>,
    pub step: u64,
    /// Momentum buffer (SGD) or first moment (AdamW), and second moment (AdamW), by name.
    first: BTreeMap<String, Tensor>,
    second: BTreeMap<String, Tensor>,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, weight_decay: f64, groups: Vec<ParamGroup>) -> Self {
        Self { kind, weight_decay, groups, step: 0, first: BTreeMap::new(), second: BTreeMap::new() }
    }

    fn group(&self, name: &str) -> (f64, bool) {
        self.groups.iter().find(|g| name.starts_with(&g.prefix)).map_or((1.0, true), |g| (g.lr_scale, g.trainable))
    }

    /// The trainable parameters (BatchNorm running statistics are not), sorted by name.
    fn parameters(vs: &VarStore) -> Vec<(String, Tensor)> {
        let mut p: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        p.sort_by(|a, b| a.0.cmp(&b.0));
        p
    }

    /// Names of the parameters the groups leave frozen.
    pub fn frozen(&self, vs: &VarStore) -> Vec<String> {
        Self::parameters(vs).into_iter().map(|(n, _)| n).filter(|n| !self.group(n).1).collect()
    }

    /// Clears every gradient.
    pub fn zero_grad(&self, vs: &VarStore) {
        for (_, mut t) in Self::parameters(vs) {
            t.zero_grad();
        }
    }

    /// The gradients `backward` left on the trainable parameters (handles to the same storage).
    pub fn gradients(&self, vs: &VarStore) -> Vec<Tensor> {
        Self::parameters(vs)
            .into_iter()
            .filter(|(n, _)| self.group(n).1)
            .map(|(_, p)| p.grad())
            .filter(Tensor::defined)
            .collect()
    }

    /// One update at rate `lr` from the gradients `backward` left.
    pub fn apply(&mut self, vs: &VarStore, lr: f64) -> Result<(), OptimError> {
        self.step += 1;
        let step = self.step as f64;
        tch::no_grad(|| -> Result<(), OptimError> {
            for (name, mut p) in Self::parameters(vs) {
                let (scale, trainable) = self.group(&name);
                let g = p.grad();
                if !trainable || !g.defined() {
                    continue;
                }
                let lr = lr * scale;
                match self.kind {
                    OptimizerKind::Sgd { momentum, nesterov } => {
                        // Coupled L2 decay, as torch.optim.SGD.
                        let g = if self.weight_decay > 0.0 { g.f_add(&(&p * self.weight_decay))? } else { g };
                        let buf = match self.first.remove(&name) {
                            Some(b) => b.f_mul_scalar(momentum)?.f_add(&g)?,
                            None => g.copy(),
                        };
                        let update = if nesterov { g.f_add(&(&buf * momentum))? } else { buf.shallow_clone() };
                        let _ = p.f_sub_(&(update * lr))?;
                        self.first.insert(name, buf);
                    }
                    OptimizerKind::AdamW { beta1, beta2, eps } => {
                        // Decoupled decay (Loshchilov & Hutter), as torch.optim.AdamW.
                        if self.weight_decay > 0.0 {
                            let _ = p.f_mul_scalar_(1.0 - lr * self.weight_decay)?;
                        }
                        let m = match self.first.remove(&name) {
                            Some(m) => m.f_mul_scalar(beta1)?.f_add(&(&g * (1.0 - beta1)))?,
                            None => &g * (1.0 - beta1),
                        };
                        let g2 = g.f_mul(&g)?;
                        let v = match self.second.remove(&name) {
                            Some(v) => v.f_mul_scalar(beta2)?.f_add(&(g2 * (1.0 - beta2)))?,
                            None => g2 * (1.0 - beta2),
                        };
                        let m_hat = &m / (1.0 - beta1.powf(step));
                        let v_hat = &v / (1.0 - beta2.powf(step));
                        let _ = p.f_sub_(&(m_hat / (v_hat.f_sqrt()? + eps) * lr))?;
                        self.first.insert(name.clone(), m);
                        self.second.insert(name, v);
                    }
                }
            }
            Ok(())
        })
    }

    /// Writes the step and every buffer to `path` (safetensors), atomically.
    pub fn save(&self, path: &Path) -> Result<(), OptimError> {
        let err = |detail: String| OptimError::State { path: path.display().to_string(), detail };
        let mut named: Vec<(String, Tensor)> = Vec::new();
        named.push(("__step".into(), Tensor::from_slice(&[self.step as i64])));
        for (n, t) in &self.first {
            named.push((format!("first.{n}"), t.to_kind(Kind::Float)));
        }
        for (n, t) in &self.second {
            named.push((format!("second.{n}"), t.to_kind(Kind::Float)));
        }
        let tmp = melanoscope_shared::atomic::temp_path(path);
        Tensor::write_safetensors(&named, &tmp).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }

    /// Restores what [`Optimizer::save`] wrote.
    pub fn load(&mut self, path: &Path) -> Result<(), OptimError> {
        let err = |detail: String| OptimError::State { path: path.display().to_string(), detail };
        let tensors = Tensor::read_safetensors(path).map_err(|e| err(e.to_string()))?;
        let (mut first, mut second, mut step) = (BTreeMap::new(), BTreeMap::new(), None);
        for (name, t) in tensors {
            if name == "__step" {
                step = Some(t.f_int64_value(&[0]).map_err(|e| err(e.to_string()))? as u64);
            } else if let Some(n) = name.strip_prefix("first.") {
                first.insert(n.to_string(), t);
            } else if let Some(n) = name.strip_prefix("second.") {
                second.insert(n.to_string(), t);
            } else {
                return Err(err(format!("unexpected entry {name:?}")));
            }
        }
        self.step = step.ok_or_else(|| err("no __step entry".into()))?;
        (self.first, self.second) = (first, second);
        Ok(())
    }
}
