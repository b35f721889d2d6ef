//! Opening a board from its description: LEDs, the debounced button and the SPI display's
//! device and pins, as embedded-hal 1.0 objects the edge drives without naming a board crate.
//! Each backend sits behind its feature (`rpi`, `jetson`, `mock`); without it, opening a board
//! of that kind returns an error naming the feature.

use crate::button::DebouncedButton;
use crate::description::BoardDescription;
use crate::status_leds::StatusLeds;
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

/// The SPI display's device and pins.
#[derive(Debug)]
pub struct DisplayIo {
    pub spi: DynSpi,
    pub dc: DynOutput,
    pub reset: DynOutput,
    pub backlight: Option<DynOutput>,
}

/// Everything a board description wires up.
#[derive(Debug)]
pub struct BoardIo {
    pub name: String,
    pub leds: Option<StatusLeds<DynOutput, DynOutput, DynOutput>>,
    pub button: Option<DebouncedButton<DynInput>>,
    pub display: Option<DisplayIo>,
}

/// The pins and devices of one backend.
pub trait Backend {
    fn output(&mut self, pin: u32, what: &str) -> Result<DynOutput, IoError>;
    fn input_pullup(&mut self, pin: u32, what: &str) -> Result<DynInput, IoError>;
    fn spi(&mut self, device: &str, hz: u32) -> Result<DynSpi, IoError>;
}

/// Opens what `d` describes with `backend`.
pub fn open_with(d: &BoardDescription, backend: &mut dyn Backend) -> Result<BoardIo, IoError> {
    let leds = match &d.leds {
        Some(l) => Some(StatusLeds::new(
            backend.output(l.green, "green LED")?,
            backend.output(l.red, "red LED")?,
            backend.output(l.amber, "amber LED")?,
        )),
        None => None,
    };
    let button = match &d.button {
        Some(b) => Some(DebouncedButton::new(backend.input_pullup(b.pin, "button")?, b.debounce_ms)),
        None => None,
    };
    let display = match &d.display {
        Some(w) => {
            let mut backlight = match w.backlight {
                Some(p) => Some(backend.output(p, "display backlight")?),
                None => None,
            };
            if let Some(b) = backlight.as_mut() {
                b.set_high()?;
            }
            Some(DisplayIo {
                spi: backend.spi(&w.spi_device, w.spi_hz)?,
                dc: backend.output(w.dc, "display D/C")?,
                reset: backend.output(w.reset, "display reset")?,
                backlight,
            })
        }
        None => None,
    };
    Ok(BoardIo { name: d.name.clone(), leds, button, display })
}

/// Opens the board `d` describes with its backend; a backend this build lacks is an error
/// naming the feature to build with.
pub fn open(d: &BoardDescription) -> Result<BoardIo, IoError> {
    match d.backend.as_str() {
        "rpi" => open_rpi(d),
        "jetson" => open_jetson(d),
        "mock" => open_mock(d),
        other => Err(IoError(format!("unknown board backend {other:?}"))),
    }
}

#[cfg(feature = "rpi")]
fn open_rpi(d: &BoardDescription) -> Result<BoardIo, IoError> {
    open_with(d, &mut crate::rpi::Rpi::new()?)
}

#[cfg(not(feature = "rpi"))]
fn open_rpi(d: &BoardDescription) -> Result<BoardIo, IoError> {
    Err(IoError(format!("board {:?} needs the Raspberry Pi backend: build with `--features rpi`", d.name)))
}

#[cfg(feature = "jetson")]
fn open_jetson(d: &BoardDescription) -> Result<BoardIo, IoError> {
    let chip = d.gpio_chip.as_deref().unwrap_or("/dev/gpiochip0");
    open_with(d, &mut crate::jetson::Jetson::new(chip)?)
}

#[cfg(not(feature = "jetson"))]
fn open_jetson(d: &BoardDescription) -> Result<BoardIo, IoError> {
    Err(IoError(format!("board {:?} needs the Jetson backend: build with `--features jetson`", d.name)))
}

#[cfg(feature = "mock")]
fn open_mock(d: &BoardDescription) -> Result<BoardIo, IoError> {
    open_with(d, &mut crate::mock::MockBackend::default())
}

#[cfg(not(feature = "mock"))]
fn open_mock(d: &BoardDescription) -> Result<BoardIo, IoError> {
    Err(IoError(format!("board {:?} is a host mock: build with `--features mock`", d.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_without_their_feature_name_it() {
        let d = BoardDescription::parse("b.toml", "name = \"Pi\"\nbackend = \"rpi\"\n").unwrap();
        #[cfg(not(feature = "rpi"))]
        assert!(open(&d).unwrap_err().to_string().contains("--features rpi"));
        let _ = &d;
        let j = BoardDescription::parse(
            "b.toml",
            "name = \"J\"\nbackend = \"jetson\"\ngpio_chip = \"/dev/gpiochip-none\"\n",
        )
        .unwrap();
        let e = open(&j).unwrap_err().to_string();
        #[cfg(not(feature = "jetson"))]
        assert!(e.contains("--features jetson"), "{e}");
        #[cfg(feature = "jetson")]
        assert!(e.contains("/dev/gpiochip-none"), "{e}");
    }
}
