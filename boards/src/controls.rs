//! What the screening loop drives, whatever wires it: the status LEDs ([`Indicators`]) and the
//! freeze button ([`FreezeButton`]), both failing with the board's [`IoError`]. Implemented for
//! the embedded-hal drivers of this crate on any pins whose error converts into [`IoError`]
//! (every backend's, the mocks'), for `Option` (a board without them), and by [`NoIndicators`]
//! and [`NoButton`] for a desktop run.

use crate::button::{DebouncedButton, Press};
use crate::io::IoError;
use crate::status_leds::{Indicator, StatusLeds};
use embedded_hal::digital::{InputPin, OutputPin};

/// Status LEDs.
pub trait Indicators {
    fn show(&mut self, indicator: Indicator) -> Result<(), IoError>;
}

/// The freeze/snapshot button (a long press opens or closes a case).
pub trait FreezeButton {
    /// True once per press, polled with a millisecond clock.
    fn pressed(&mut self, now_ms: u64) -> Result<bool, IoError>;

    /// A press told apart by length (buttons that cannot tell report every press as short).
    fn press(&mut self, now_ms: u64) -> Result<Option<Press>, IoError> {
        Ok(self.pressed(now_ms)?.then_some(Press::Short))
    }
}

impl<G, R, A, E> Indicators for StatusLeds<G, R, A>
where
    G: OutputPin<Error = E>,
    R: OutputPin<Error = E>,
    A: OutputPin<Error = E>,
    E: Into<IoError>,
{
    fn show(&mut self, indicator: Indicator) -> Result<(), IoError> {
        StatusLeds::show(self, indicator).map_err(Into::into)
    }
}

impl<P> FreezeButton for DebouncedButton<P>
where
    P: InputPin,
    P::Error: Into<IoError>,
{
    fn pressed(&mut self, now_ms: u64) -> Result<bool, IoError> {
        self.poll(now_ms).map_err(Into::into)
    }

    fn press(&mut self, now_ms: u64) -> Result<Option<Press>, IoError> {
        self.poll_press(now_ms).map_err(Into::into)
    }
}

impl<T: Indicators> Indicators for Option<T> {
    fn show(&mut self, indicator: Indicator) -> Result<(), IoError> {
        self.as_mut().map_or(Ok(()), |t| t.show(indicator))
    }
}

impl<T: FreezeButton> FreezeButton for Option<T> {
    fn pressed(&mut self, now_ms: u64) -> Result<bool, IoError> {
        self.as_mut().map_or(Ok(false), |t| t.pressed(now_ms))
    }

    fn press(&mut self, now_ms: u64) -> Result<Option<Press>, IoError> {
        self.as_mut().map_or(Ok(None), |t| t.press(now_ms))
    }
}

/// No LEDs (a board description without them, or a desktop run).
#[derive(Debug, Default)]
pub struct NoIndicators;

impl Indicators for NoIndicators {
    fn show(&mut self, _: Indicator) -> Result<(), IoError> {
        Ok(())
    }
}

/// No button.
#[derive(Debug, Default)]
pub struct NoButton;

impl FreezeButton for NoButton {
    fn pressed(&mut self, _: u64) -> Result<bool, IoError> {
        Ok(false)
    }
}

#[cfg(all(test, feature = "mock"))]
mod tests {
    use super::*;
    use crate::mock::{MockBus, MockInput};

    #[test]
    fn a_failed_led_write_is_an_io_error_naming_the_pin() {
        let bus = MockBus::default();
        let mut leds = StatusLeds::new(bus.pin("green"), bus.pin("red"), bus.pin("amber"));
        bus.fail_next_write();
        let e = Indicators::show(&mut leds, Indicator::Red).unwrap_err();
        assert!(e.to_string().contains("green"), "{e}");
        Indicators::show(&mut leds, Indicator::Red).unwrap();
        assert_eq!(bus.level("red"), Some(true));
        let mut none: Option<StatusLeds<crate::mock::MockPin, crate::mock::MockPin, crate::mock::MockPin>> = None;
        assert!(none.show(Indicator::Amber).is_ok());
        let mut button = DebouncedButton::new(MockInput::scripted(&[(0, true), (5, false)]), 2);
        assert!((0..20).any(|t| FreezeButton::pressed(&mut button, t).unwrap()));
        assert!(!NoButton.pressed(0).unwrap());
    }
}
