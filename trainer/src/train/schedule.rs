//! Learning rate: linear warm-up from 0, then cosine decay to a floor.

/// The schedule over `total_steps` optimiser steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    pub base_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    /// The rate at the end, as a fraction of `base_lr`.
    pub final_fraction: f64,
}

impl LrSchedule {
    /// The rate for (0-based) `step`.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let t = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        let floor = self.base_lr * self.final_fraction;
        floor + (self.base_lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_follows_a_cosine_to_the_floor() {
        let s = LrSchedule { base_lr: 0.1, warmup_steps: 10, total_steps: 110, final_fraction: 0.01 };
        assert!((s.lr(0) - 0.01).abs() < 1e-12);
        assert!((s.lr(4) - 0.05).abs() < 1e-12);
        assert!((s.lr(10) - 0.1).abs() < 1e-12, "peak right after warm-up");
        // Half-way through the decay: the mean of peak and floor.
        assert!((s.lr(60) - (0.1 + 0.001) / 2.0).abs() < 1e-12);
        assert!((s.lr(110) - 0.001).abs() < 1e-12);
        assert!((s.lr(500) - 0.001).abs() < 1e-12, "stays at the floor");
        assert!((10..110).all(|k| s.lr(k + 1) <= s.lr(k)), "monotone after warm-up");
    }
}
