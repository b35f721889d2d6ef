//! Board support for the Melanoscope edge device behind embedded-hal 1.0 traits.
//!
//! Drivers here are generic over `embedded_hal::digital::OutputPin`, so the edge code never
//! names a board crate. At this stage: the status LEDs and a recording mock pin for host tests;
//! the Raspberry Pi (rppal) and Jetson (gpio-cdev) backends arrive with the boards issue.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(feature = "mock")]
pub mod mock;
pub mod status_leds;
