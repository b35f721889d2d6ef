//! A push button on a GPIO input (to ground, with the pull-up on: pressed reads low),
//! debounced in software: a level counts only once it held for the debounce time, and a
//! press is reported once, on the stable falling edge.

use embedded_hal::digital::InputPin;

/// A debounced, active-low button polled with a millisecond clock.
#[derive(Debug)]
pub struct DebouncedButton<P> {
    pin: P,
    debounce_ms: u64,
    /// The level last read and since when it held.
    raw_low: bool,
    since_ms: u64,
    /// The accepted (debounced) level.
    stable_low: bool,
}

impl<P: InputPin> DebouncedButton<P> {
    pub fn new(pin: P, debounce_ms: u64) -> Self {
        Self { pin, debounce_ms, raw_low: false, since_ms: 0, stable_low: false }
    }

    /// Reads the pin at `now_ms`; true exactly once per press.
    pub fn poll(&mut self, now_ms: u64) -> Result<bool, P::Error> {
        let low = self.pin.is_low()?;
        if low != self.raw_low {
            self.raw_low = low;
            self.since_ms = now_ms;
        }
        if self.raw_low != self.stable_low && now_ms.saturating_sub(self.since_ms) >= self.debounce_ms {
            self.stable_low = self.raw_low;
            return Ok(self.stable_low);
        }
        Ok(false)
    }
}

#[cfg(all(test, feature = "mock"))]
mod tests {
    use super::*;
    use crate::mock::MockInput;

    #[test]
    fn bounces_are_ignored_and_a_press_counts_once() {
        // Contact bounce for 6 ms, then held for 100 ms, released with bounce.
        let levels: Vec<(u64, bool)> = vec![
            (0, true),
            (1, false),
            (2, true),
            (3, false),
            (5, true),
            (6, false),
            (106, true),
            (107, false),
            (109, true),
        ];
        let pin = MockInput::scripted(&levels);
        let mut b = DebouncedButton::new(pin, 20);
        let presses: Vec<u64> = (0..200).filter(|t| b.poll(*t).unwrap()).collect();
        assert_eq!(presses, vec![26], "one press, 20 ms after the contact settled at 6 ms");
        // A glitch shorter than the debounce time is no press.
        let mut b = DebouncedButton::new(MockInput::scripted(&[(0, true), (10, false), (15, true)]), 20);
        assert!((0..100).all(|t| !b.poll(t).unwrap()));
    }
}
