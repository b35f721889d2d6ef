//! Jetson Nano and Orin Nano (feature `jetson`): GPIO lines of the header's character device
//! through gpio-cdev, and spidev, both through linux-embedded-hal's embedded-hal 1.0 types.
//! The v1 GPIO ABI sets no pull-ups: the button needs an external one (see the wiring page).

use crate::io::{Backend, DynInput, DynOutput, DynSpi, IoError};
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::{CdevPin, SpidevDevice};

#[derive(Debug)]
pub struct Jetson {
    chip: Chip,
    path: String,
}

const CONSUMER: &str = "melanoscope";

impl Jetson {
    pub fn new(path: &str) -> Result<Self, IoError> {
        Chip::new(path)
            .map(|chip| Self { chip, path: path.into() })
            .map_err(|e| IoError(format!("GPIO chip {path}: {e}")))
    }

    fn request(&mut self, pin: u32, flags: LineRequestFlags, what: &str) -> Result<CdevPin, IoError> {
        let fail = |e: &dyn std::fmt::Display| IoError(format!("{what} (line {pin} of {}): {e}", self.path));
        let line = self.chip.get_line(pin).map_err(|e| fail(&e))?;
        let handle = line.request(flags, 0, CONSUMER).map_err(|e| fail(&e))?;
        CdevPin::new(handle).map_err(|e| fail(&e))
    }
}

impl Backend for Jetson {
    fn output(&mut self, pin: u32, what: &str) -> Result<DynOutput, IoError> {
        let p = self.request(pin, LineRequestFlags::OUTPUT, what)?;
        Ok(DynOutput::new(p, &format!("{what} (line {pin})")))
    }

    fn input_pullup(&mut self, pin: u32, what: &str) -> Result<DynInput, IoError> {
        let p = self.request(pin, LineRequestFlags::INPUT, what)?;
        Ok(DynInput::new(p, &format!("{what} (line {pin})")))
    }

    fn spi(&mut self, device: &str, hz: u32) -> Result<DynSpi, IoError> {
        let mut dev = SpidevDevice::open(device).map_err(|e| IoError(format!("{device}: {e:?}")))?;
        let options = SpidevOptions::new().bits_per_word(8).max_speed_hz(hz).mode(SpiModeFlags::SPI_MODE_0).build();
        dev.configure(&options).map_err(|e| IoError(format!("{device}: {e}")))?;
        Ok(DynSpi::new(dev, device))
    }
}
