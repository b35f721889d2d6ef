//! Opening a board from its description: LEDs, the debounced button and the SPI display's
//! device and pins, as embedded-hal 1.0 objects the edge drives without naming a board crate.
//! Each backend sits behind its feature (`rpi`, `jetson`, `mock`); without it, opening a board
//! of that kind returns an error naming the feature.

use crate::button::DebouncedButton;
use crate::description::{BoardBackend, BoardDescription};
use crate::io::{Backend, DynInput, DynOutput, DynSpi, IoError};
use crate::status_leds::StatusLeds;
use embedded_hal::digital::OutputPin;

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
    match d.backend {
        BoardBackend::Rpi => open_rpi(d),
        BoardBackend::Jetson => open_jetson(d),
        BoardBackend::Mock => open_mock(d),
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
