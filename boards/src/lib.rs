//! Board support for the Melanoscope edge device behind embedded-hal 1.0 traits.
//!
//! Drivers here are generic over embedded-hal 1.0 traits, so the edge code never names a board
//! crate: status LEDs, a debounced button, board description files (pins of LEDs, button and SPI
//! display) and their backends: Raspberry Pi 4/5 (rppal, feature `rpi`), Jetson Nano/Orin Nano
//! (gpio-cdev and spidev through linux-embedded-hal, feature `jetson`) and host mocks that
//! record every call (feature `mock`).
//!
//! Layers: `io` (the [`io::IoError`] every pin fails with, type-erased pins and the
//! [`io::Backend`] trait) is what the backends (`rpi`, `jetson`, `mock`) implement; `board`
//! picks a backend from a description and wires it; `controls` is what the edge drives.
//! Errors: typed (`thiserror`), one per concern.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod board;
pub mod button;
pub mod controls;
pub mod description;
pub mod io;
#[cfg(feature = "jetson")]
pub mod jetson;
#[cfg(feature = "mock")]
pub mod mock;
#[cfg(feature = "rpi")]
pub mod rpi;
pub mod status_leds;
