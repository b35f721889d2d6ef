//! Raspberry Pi 4 and 5 through rppal (feature `rpi`): BCM-numbered GPIO and the SPI0/SPI1
//! controllers (rppal picks the right GPIO block on the Pi 5's RP1).

use crate::description::BoardDescription;
use crate::io::{Backend, DynInput, DynOutput, DynSpi, IoError};
use rppal::gpio::Gpio;
use rppal::spi::{Bus, Mode, SimpleHalSpiDevice, SlaveSelect, Spi};

#[derive(Debug)]
pub struct Rpi {
    gpio: Gpio,
}

impl Rpi {
    pub fn new() -> Result<Self, IoError> {
        Gpio::new().map(|gpio| Self { gpio }).map_err(|e| IoError(format!("Raspberry Pi GPIO: {e}")))
    }

    fn pin(&self, pin: u32, what: &str) -> Result<rppal::gpio::Pin, IoError> {
        let n = u8::try_from(pin).map_err(|_| IoError(format!("{what}: GPIO{pin} does not exist")))?;
        self.gpio.get(n).map_err(|e| IoError(format!("{what} (GPIO{pin}): {e}")))
    }
}

impl Backend for Rpi {
    fn output(&mut self, pin: u32, what: &str) -> Result<DynOutput, IoError> {
        Ok(DynOutput::new(self.pin(pin, what)?.into_output_low(), &format!("{what} (GPIO{pin})")))
    }

    fn input_pullup(&mut self, pin: u32, what: &str) -> Result<DynInput, IoError> {
        Ok(DynInput::new(self.pin(pin, what)?.into_input_pullup(), &format!("{what} (GPIO{pin})")))
    }

    fn spi(&mut self, device: &str, hz: u32) -> Result<DynSpi, IoError> {
        let (bus, cs) =
            BoardDescription::spi_bus_cs(device).ok_or_else(|| IoError(format!("SPI device {device:?}")))?;
        let bus = match bus {
            0 => Bus::Spi0,
            1 => Bus::Spi1,
            2 => Bus::Spi2,
            3 => Bus::Spi3,
            4 => Bus::Spi4,
            5 => Bus::Spi5,
            6 => Bus::Spi6,
            other => return Err(IoError(format!("{device}: no SPI bus {other} on a Raspberry Pi"))),
        };
        let cs = match cs {
            0 => SlaveSelect::Ss0,
            1 => SlaveSelect::Ss1,
            2 => SlaveSelect::Ss2,
            other => return Err(IoError(format!("{device}: no chip select {other}"))),
        };
        let spi = Spi::new(bus, cs, hz, Mode::Mode0)
            .map_err(|e| IoError(format!("{device}: {e} (is SPI enabled in config.txt?)")))?;
        Ok(DynSpi::new(SimpleHalSpiDevice::new(spi), device))
    }
}
