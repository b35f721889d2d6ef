//! The board-independent I/O layer: [`IoError`], the type-erased pins and SPI device every
//! backend hands out ([`DynOutput`], [`DynInput`], [`DynSpi`]) and the [`Backend`] trait the
//! Raspberry Pi, Jetson and mock backends implement. Backends import this module only; the
//! factory that picks one ([`crate::board`]) imports them.

use embedded_hal::digital::{self, ErrorType, InputPin, OutputPin};
use embedded_hal::spi::{self, Operation, SpiDevice};

/// Any GPIO or SPI failure of a board backend, with what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IoError(pub String);

impl digital::Error for IoError {
    fn kind(&self) -> digital::ErrorKind {
        digital::ErrorKind::Other
    }
}

impl spi::Error for IoError {
    fn kind(&self) -> spi::ErrorKind {
        spi::ErrorKind::Other
    }
}

/// A board's output pin of any backend.
pub struct DynOutput(Box<dyn OutputPin<Error = IoError>>);
/// A board's input pin of any backend.
pub struct DynInput(Box<dyn InputPin<Error = IoError>>);
/// A board's SPI device of any backend.
pub struct DynSpi(Box<dyn SpiDevice<u8, Error = IoError>>);

macro_rules! opaque_debug {
    ($($t:ty),*) => {$(
        impl core::fmt::Debug for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    )*};
}
opaque_debug!(DynOutput, DynInput, DynSpi);

/// Adapts a backend's pin or device, turning its error into [`IoError`] with `what` it is.
struct Named<P> {
    inner: P,
    what: String,
}

impl<P> Named<P> {
    fn err(&self, e: impl core::fmt::Debug) -> IoError {
        IoError(format!("{}: {e:?}", self.what))
    }
}

impl<P> ErrorType for Named<P> {
    type Error = IoError;
}

impl<P: OutputPin> OutputPin for Named<P> {
    fn set_low(&mut self) -> Result<(), IoError> {
        self.inner.set_low().map_err(|e| self.err(e))
    }
    fn set_high(&mut self) -> Result<(), IoError> {
        self.inner.set_high().map_err(|e| self.err(e))
    }
}

impl<P: InputPin> InputPin for Named<P> {
    fn is_high(&mut self) -> Result<bool, IoError> {
        let r = self.inner.is_high();
        r.map_err(|e| self.err(e))
    }
    fn is_low(&mut self) -> Result<bool, IoError> {
        let r = self.inner.is_low();
        r.map_err(|e| self.err(e))
    }
}

impl<P: SpiDevice> spi::ErrorType for Named<P> {
    type Error = IoError;
}

impl<P: SpiDevice> SpiDevice for Named<P> {
    fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), IoError> {
        let r = self.inner.transaction(ops);
        r.map_err(|e| self.err(e))
    }
}

impl DynOutput {
    pub fn new<P: OutputPin + 'static>(pin: P, what: &str) -> Self {
        Self(Box::new(Named { inner: pin, what: what.into() }))
    }
}

impl DynInput {
    pub fn new<P: InputPin + 'static>(pin: P, what: &str) -> Self {
        Self(Box::new(Named { inner: pin, what: what.into() }))
    }
}

impl DynSpi {
    pub fn new<P: SpiDevice + 'static>(dev: P, what: &str) -> Self {
        Self(Box::new(Named { inner: dev, what: what.into() }))
    }
}

impl ErrorType for DynOutput {
    type Error = IoError;
}
impl OutputPin for DynOutput {
    fn set_low(&mut self) -> Result<(), IoError> {
        self.0.set_low()
    }
    fn set_high(&mut self) -> Result<(), IoError> {
        self.0.set_high()
    }
}
impl ErrorType for DynInput {
    type Error = IoError;
}
impl InputPin for DynInput {
    fn is_high(&mut self) -> Result<bool, IoError> {
        self.0.is_high()
    }
    fn is_low(&mut self) -> Result<bool, IoError> {
        self.0.is_low()
    }
}
impl spi::ErrorType for DynSpi {
    type Error = IoError;
}
impl SpiDevice for DynSpi {
    fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), IoError> {
        self.0.transaction(ops)
    }
}

/// The pins and devices of one backend.
pub trait Backend {
    fn output(&mut self, pin: u32, what: &str) -> Result<DynOutput, IoError>;
    fn input_pullup(&mut self, pin: u32, what: &str) -> Result<DynInput, IoError>;
    fn spi(&mut self, device: &str, hz: u32) -> Result<DynSpi, IoError>;
}

/// A pin that cannot fail (the host mocks' inputs and SPI).
impl From<core::convert::Infallible> for IoError {
    fn from(never: core::convert::Infallible) -> Self {
        match never {}
    }
}
