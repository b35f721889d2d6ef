//! Host mocks: pins that record every call on a shared bus, for asserting pin sequences.

use embedded_hal::digital::{self, ErrorType, OutputPin, StatefulOutputPin};
use std::cell::RefCell;
use std::rc::Rc;

/// One recorded pin write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinEvent {
    High(&'static str),
    Low(&'static str),
}

#[derive(Debug, Default)]
struct BusState {
    events: Vec<PinEvent>,
    fail_next: bool,
}

/// The shared record of every mock pin made from it.
#[derive(Debug, Clone, Default)]
pub struct MockBus {
    state: Rc<RefCell<BusState>>,
}

impl MockBus {
    /// A new output pin called `name` on this bus.
    pub fn pin(&self, name: &'static str) -> MockPin {
        MockPin { name, bus: self.clone(), high: false }
    }

    /// Every write so far, in order.
    pub fn events(&self) -> Vec<PinEvent> {
        self.state.borrow().events.clone()
    }

    /// The last level written to `name` (true = high), if any.
    pub fn level(&self, name: &str) -> Option<bool> {
        self.state.borrow().events.iter().rev().find_map(|e| match e {
            PinEvent::High(n) if *n == name => Some(true),
            PinEvent::Low(n) if *n == name => Some(false),
            _ => None,
        })
    }

    /// Makes the next write on any pin fail (a GPIO driver error).
    pub fn fail_next_write(&self) {
        self.state.borrow_mut().fail_next = true;
    }
}

/// The error a mock pin reports when told to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("mock pin {0}: injected write failure")]
pub struct MockPinError(pub &'static str);

impl digital::Error for MockPinError {
    fn kind(&self) -> digital::ErrorKind {
        digital::ErrorKind::Other
    }
}

/// An output pin that records its writes on a [`MockBus`].
#[derive(Debug)]
pub struct MockPin {
    name: &'static str,
    bus: MockBus,
    high: bool,
}

impl MockPin {
    fn write(&mut self, high: bool) -> Result<(), MockPinError> {
        let mut s = self.bus.state.borrow_mut();
        if std::mem::take(&mut s.fail_next) {
            return Err(MockPinError(self.name));
        }
        s.events.push(if high { PinEvent::High(self.name) } else { PinEvent::Low(self.name) });
        self.high = high;
        Ok(())
    }
}

impl ErrorType for MockPin {
    type Error = MockPinError;
}

impl OutputPin for MockPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.write(false)
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.write(true)
    }
}

impl StatefulOutputPin for MockPin {
    fn is_set_high(&mut self) -> Result<bool, Self::Error> {
        Ok(self.high)
    }

    fn is_set_low(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.high)
    }
}
