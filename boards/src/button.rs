//! A push button on a GPIO input (to ground, with the pull-up on: pressed reads low),
//! debounced in software: a level counts only once it held for the debounce time, and a
//! press is reported once, on the stable falling edge. With a long-press time set, a press is
//! told apart by how long it is held: short ones are reported on release, a long one once when
//! it has been held that long (the user feels it take without letting go).

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
    /// Long-press time, when presses are told apart by length.
    long_ms: Option<u64>,
    /// When the current (debounced) press began, and whether it was reported as long.
    pressed_at: u64,
    long_reported: bool,
}

/// A press, told apart by how long it was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    Short,
    Long,
}

impl<P: InputPin> DebouncedButton<P> {
    pub fn new(pin: P, debounce_ms: u64) -> Self {
        Self {
            pin,
            debounce_ms,
            raw_low: false,
            since_ms: 0,
            stable_low: false,
            long_ms: None,
            pressed_at: 0,
            long_reported: false,
        }
    }

    /// Tells presses held `long_ms` or more apart from short ones ([`Self::poll_press`]).
    pub fn with_long_press(mut self, long_ms: u64) -> Self {
        self.long_ms = Some(long_ms);
        self
    }

    /// Reads the pin at `now_ms`: a press once per press. Without a long-press time every
    /// press is short and reported on its falling edge (as [`Self::poll`]); with one, a short
    /// press is reported on release and a long one as soon as it has been held that long.
    pub fn poll_press(&mut self, now_ms: u64) -> Result<Option<Press>, P::Error> {
        let was_low = self.stable_low;
        let edge = self.poll(now_ms)?;
        let Some(long_ms) = self.long_ms else { return Ok(edge.then_some(Press::Short)) };
        if edge {
            self.pressed_at = now_ms;
            self.long_reported = false;
            return Ok(None);
        }
        if self.stable_low && !self.long_reported && now_ms.saturating_sub(self.pressed_at) >= long_ms {
            self.long_reported = true;
            return Ok(Some(Press::Long));
        }
        if was_low && !self.stable_low {
            // Released: short unless it was already reported as long.
            return Ok((!self.long_reported).then_some(Press::Short));
        }
        Ok(None)
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

    #[test]
    fn long_and_short_presses_are_told_apart() {
        // Held 100 ms (short), then 2000 ms (long), with 10 ms debounce and a 1500 ms long press.
        let levels = [(0, true), (10, false), (110, true), (300, false), (2300, true)];
        let mut b = DebouncedButton::new(MockInput::scripted(&levels), 10).with_long_press(1500);
        let presses: Vec<(u64, Press)> = (0..2600).filter_map(|t| b.poll_press(t).unwrap().map(|p| (t, p))).collect();
        assert_eq!(presses, vec![(120, Press::Short), (1810, Press::Long)], "long once, no short on its release");
        // Without a long-press time: short on the falling edge, as before.
        let mut b = DebouncedButton::new(MockInput::scripted(&levels), 10);
        let presses: Vec<(u64, Press)> = (0..2600).filter_map(|t| b.poll_press(t).unwrap().map(|p| (t, p))).collect();
        assert_eq!(presses, vec![(20, Press::Short), (310, Press::Short)]);
    }
}
