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

impl From<MockPinError> for crate::io::IoError {
    fn from(e: MockPinError) -> Self {
        crate::io::IoError(format!("mock pin {} failed", e.0))
    }
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

/// An input pin whose level follows a script of (time, high) steps, read with the time set by
/// [`MockInput::at`] or advanced one millisecond per read.
#[derive(Debug, Clone)]
pub struct MockInput {
    script: Vec<(u64, bool)>,
    now: u64,
    reads: u64,
}

impl MockInput {
    /// Level `high` from each time on; high (released, pulled up) before the first step.
    pub fn scripted(steps: &[(u64, bool)]) -> Self {
        Self { script: steps.to_vec(), now: 0, reads: 0 }
    }

    /// Always at one level.
    pub fn constant(high: bool) -> Self {
        Self::scripted(&[(0, high)])
    }

    fn high(&self) -> bool {
        self.script.iter().rev().find(|(t, _)| *t <= self.now).is_none_or(|(_, h)| *h)
    }
}

impl ErrorType for MockInput {
    type Error = core::convert::Infallible;
}

impl digital::InputPin for MockInput {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.is_low()?)
    }

    fn is_low(&mut self) -> Result<bool, Self::Error> {
        // Reads follow the clock of the debouncer: one read per millisecond.
        self.now = self.reads;
        self.reads += 1;
        Ok(!self.high())
    }
}

/// One recorded SPI transaction: the bytes written, with the level of the data/command pin
/// (read from the bus's pin events) at the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiWrite {
    pub data_mode: bool,
    pub bytes: Vec<u8>,
}

/// An SPI device that records every write, and knows the D/C pin's level from the bus.
#[derive(Debug, Clone)]
pub struct MockSpi {
    bus: MockBus,
    dc: &'static str,
    writes: Rc<RefCell<Vec<SpiWrite>>>,
}

impl MockSpi {
    pub fn new(bus: &MockBus, dc: &'static str) -> Self {
        Self { bus: bus.clone(), dc, writes: Rc::default() }
    }

    /// Every write so far.
    pub fn writes(&self) -> Vec<SpiWrite> {
        self.writes.borrow().clone()
    }

    /// Forgets the writes so far.
    pub fn clear(&self) {
        self.writes.borrow_mut().clear();
    }
}

impl embedded_hal::spi::ErrorType for MockSpi {
    type Error = core::convert::Infallible;
}

impl embedded_hal::spi::SpiDevice for MockSpi {
    fn transaction(&mut self, ops: &mut [embedded_hal::spi::Operation<'_, u8>]) -> Result<(), Self::Error> {
        let data_mode = self.bus.level(self.dc).unwrap_or(false);
        for op in ops {
            if let embedded_hal::spi::Operation::Write(bytes) = op {
                self.writes.borrow_mut().push(SpiWrite { data_mode, bytes: bytes.to_vec() });
            }
        }
        Ok(())
    }
}

/// A delay that only adds up what it was asked to wait (tests never sleep).
#[derive(Debug, Clone, Default)]
pub struct MockDelay {
    pub total_ns: u64,
}

impl embedded_hal::delay::DelayNs for MockDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.total_ns += u64::from(ns);
    }
}

/// The "mock" board backend: every pin on one [`MockBus`], the button released, SPI recorded.
#[derive(Debug, Clone, Default)]
pub struct MockBackend {
    pub bus: MockBus,
    pub spi: Option<MockSpi>,
}

/// Short names on the bus for what the board opens.
fn bus_name(what: &str) -> &'static str {
    match what {
        "green LED" => "green",
        "red LED" => "red",
        "amber LED" => "amber",
        "display D/C" => "dc",
        "display reset" => "rst",
        "display backlight" => "backlight",
        _ => "other",
    }
}

impl crate::io::Backend for MockBackend {
    fn output(&mut self, _pin: u32, what: &str) -> Result<crate::io::DynOutput, crate::io::IoError> {
        Ok(crate::io::DynOutput::new(self.bus.pin(bus_name(what)), what))
    }

    fn input_pullup(&mut self, _pin: u32, what: &str) -> Result<crate::io::DynInput, crate::io::IoError> {
        Ok(crate::io::DynInput::new(MockInput::constant(true), what))
    }

    fn spi(&mut self, device: &str, _hz: u32) -> Result<crate::io::DynSpi, crate::io::IoError> {
        let spi = MockSpi::new(&self.bus, "dc");
        self.spi = Some(spi.clone());
        Ok(crate::io::DynSpi::new(spi, device))
    }
}
