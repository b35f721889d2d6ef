//! Three status LEDs: green (nevus), red (melanoma suspected), amber (uncertain or a gate).

use embedded_hal::digital::OutputPin;

/// Which LED should be lit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indicator {
    Off,
    Green,
    Red,
    Amber,
}

/// Drives three LEDs so that at most one is lit.
#[derive(Debug)]
pub struct StatusLeds<G, R, A> {
    green: G,
    red: R,
    amber: A,
    shown: Option<Indicator>,
}

impl<G, R, A, E> StatusLeds<G, R, A>
where
    G: OutputPin<Error = E>,
    R: OutputPin<Error = E>,
    A: OutputPin<Error = E>,
{
    pub fn new(green: G, red: R, amber: A) -> Self {
        Self { green, red, amber, shown: None }
    }

    /// Lights `indicator` and turns the others off. Pins are only written when the
    /// indicator changes, so a steady verdict does not toggle GPIO every frame.
    /// The lit LED is switched off before the new one goes on, so two never glow together.
    pub fn show(&mut self, indicator: Indicator) -> Result<(), E> {
        if self.shown == Some(indicator) {
            return Ok(());
        }
        // Forget the state until every write succeeded: a failed write is retried next time.
        self.shown = None;
        if indicator != Indicator::Green {
            self.green.set_low()?;
        }
        if indicator != Indicator::Red {
            self.red.set_low()?;
        }
        if indicator != Indicator::Amber {
            self.amber.set_low()?;
        }
        match indicator {
            Indicator::Green => self.green.set_high()?,
            Indicator::Red => self.red.set_high()?,
            Indicator::Amber => self.amber.set_high()?,
            Indicator::Off => {}
        }
        self.shown = Some(indicator);
        Ok(())
    }

    /// Gives the pins back.
    pub fn release(self) -> (G, R, A) {
        (self.green, self.red, self.amber)
    }
}

#[cfg(all(test, feature = "mock"))]
mod tests {
    use super::*;
    use crate::mock::{MockBus, PinEvent};

    #[test]
    fn melanoma_lights_red_only_and_steady_verdicts_do_not_rewrite() {
        let bus = MockBus::default();
        let mut leds = StatusLeds::new(bus.pin("green"), bus.pin("red"), bus.pin("amber"));
        leds.show(Indicator::Green).unwrap();
        leds.show(Indicator::Red).unwrap();
        leds.show(Indicator::Red).unwrap();
        let events = bus.events();
        let after_green = &events[3..];
        assert_eq!(
            after_green,
            &[PinEvent::Low("green"), PinEvent::Low("amber"), PinEvent::High("red")],
            "red verdict: others off first, then red on; repeated verdict writes nothing"
        );
        assert_eq!((bus.level("red"), bus.level("green"), bus.level("amber")), (Some(true), Some(false), Some(false)));
    }

    #[test]
    fn failed_write_is_reported_and_retried() {
        let bus = MockBus::default();
        let mut leds = StatusLeds::new(bus.pin("green"), bus.pin("red"), bus.pin("amber"));
        bus.fail_next_write();
        assert!(leds.show(Indicator::Amber).is_err());
        leds.show(Indicator::Amber).unwrap();
        assert_eq!(bus.level("amber"), Some(true));
    }
}
