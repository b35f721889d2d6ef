//! Board description files: which GPIO drives which LED, where the button is, and how the SPI
//! display is wired, one TOML file per supported board (`boards/boards/*.toml`), validated on
//! load so a wrong pin is reported before anything is driven.

use serde::Deserialize;
use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DescriptionError {
    #[error("{file}: {detail}")]
    Parse { file: String, detail: String },
    #[error("{file}: `{key}` is {value}; expected {expected}")]
    Invalid { file: String, key: String, value: String, expected: String },
}

/// LED pins (BCM numbers on a Pi, line offsets of `gpio_chip` on a Jetson).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedPins {
    pub green: u32,
    pub red: u32,
    pub amber: u32,
}

/// A push button to ground (the internal or an external pull-up holds it high).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonPin {
    pub pin: u32,
    pub debounce_ms: u64,
}

/// An SPI TFT: the SPI device and the data/command, reset and backlight pins.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayWiring {
    /// `/dev/spidevB.C` (Jetson); on a Pi the bus and chip select are taken from it.
    pub spi_device: String,
    pub spi_hz: u32,
    pub dc: u32,
    pub reset: u32,
    pub backlight: Option<u32>,
}

/// Which backend drives a board's pins (`backend` in a board file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoardBackend {
    /// Raspberry Pi 4/5 through rppal (feature `rpi`).
    Rpi,
    /// Jetson through the GPIO character device and spidev (feature `jetson`).
    Jetson,
    /// Host mocks that record every call (feature `mock`).
    Mock,
}

/// One board.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardDescription {
    pub name: String,
    pub backend: BoardBackend,
    /// GPIO character device of the header's lines (Jetson).
    pub gpio_chip: Option<String>,
    pub leds: Option<LedPins>,
    pub button: Option<ButtonPin>,
    pub display: Option<DisplayWiring>,
}

impl BoardDescription {
    pub fn load(path: &Path) -> Result<Self, DescriptionError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| DescriptionError::Parse { file: file.clone(), detail: e.to_string() })?;
        Self::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Self, DescriptionError> {
        let d: BoardDescription =
            toml::from_str(text).map_err(|e| DescriptionError::Parse { file: file.into(), detail: e.to_string() })?;
        d.validate(file)?;
        Ok(d)
    }

    /// (SPI bus, chip select) from `/dev/spidevB.C`.
    pub fn spi_bus_cs(device: &str) -> Option<(u8, u8)> {
        let rest = device.strip_prefix("/dev/spidev")?;
        let (b, c) = rest.split_once('.')?;
        Some((b.parse().ok()?, c.parse().ok()?))
    }

    fn validate(&self, file: &str) -> Result<(), DescriptionError> {
        let bad = |key: &str, value: String, expected: &str| DescriptionError::Invalid {
            file: file.into(),
            key: key.into(),
            value,
            expected: expected.into(),
        };
        let max_pin = match self.backend {
            BoardBackend::Rpi => 27,
            BoardBackend::Jetson => 511,
            BoardBackend::Mock => 1023,
        };
        if self.backend == BoardBackend::Jetson && self.gpio_chip.is_none() {
            return Err(bad("gpio_chip", "missing".into(), "the GPIO character device, e.g. /dev/gpiochip0"));
        }
        let mut used: Vec<(&str, u32)> = Vec::new();
        if let Some(l) = &self.leds {
            used.extend([("leds.green", l.green), ("leds.red", l.red), ("leds.amber", l.amber)]);
        }
        if let Some(b) = &self.button {
            used.push(("button.pin", b.pin));
            if !(1..=500).contains(&b.debounce_ms) {
                return Err(bad("button.debounce_ms", b.debounce_ms.to_string(), "1 to 500 ms"));
            }
        }
        if let Some(d) = &self.display {
            used.extend([("display.dc", d.dc), ("display.reset", d.reset)]);
            if let Some(b) = d.backlight {
                used.push(("display.backlight", b));
            }
            if Self::spi_bus_cs(&d.spi_device).is_none() {
                return Err(bad("display.spi_device", format!("{:?}", d.spi_device), "/dev/spidevB.C"));
            }
            if !(100_000..=80_000_000).contains(&d.spi_hz) {
                return Err(bad("display.spi_hz", d.spi_hz.to_string(), "100 kHz to 80 MHz"));
            }
        }
        for (i, (key, pin)) in used.iter().enumerate() {
            if *pin > max_pin {
                return Err(bad(key, pin.to_string(), &format!("a GPIO of this board (0 to {max_pin})")));
            }
            if let Some((other, _)) = used[..i].iter().find(|(_, p)| p == pin) {
                return Err(bad(key, pin.to_string(), &format!("a pin not already used by {other}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_board_files_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("boards");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let d = BoardDescription::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(d.leds.is_some() && d.button.is_some() && d.display.is_some(), "{}", path.display());
            n += 1;
        }
        assert_eq!(n, 4, "Pi 4, Pi 5, Jetson Nano, Jetson Orin Nano");
    }

    #[test]
    fn bad_pins_are_named() {
        let base = "name = \"x\"\nbackend = \"rpi\"\n[leds]\ngreen = 17\nred = 27\namber = 22\n";
        assert!(BoardDescription::parse("x.toml", base).is_ok());
        let e = BoardDescription::parse("x.toml", &base.replace("amber = 22", "amber = 17")).unwrap_err().to_string();
        assert!(e.contains("leds.amber") && e.contains("leds.green"), "{e}");
        let e = BoardDescription::parse("x.toml", &base.replace("red = 27", "red = 40")).unwrap_err().to_string();
        assert!(e.contains("leds.red") && e.contains("0 to 27"), "{e}");
        let e = BoardDescription::parse("x.toml", &base.replace("backend = \"rpi\"", "backend = \"jetson\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("gpio_chip"), "{e}");
        let e = BoardDescription::parse("x.toml", &format!("{base}colour = 1\n")).unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
        assert_eq!(BoardDescription::spi_bus_cs("/dev/spidev1.0"), Some((1, 0)));
        let e = BoardDescription::parse("x.toml", &base.replace("backend = \"rpi\"", "backend = \"beaglebone\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("backend") && e.contains("beaglebone"), "{e}");
        assert!(e.contains("rpi") && e.contains("jetson") && e.contains("mock"), "{e}");
    }
}
