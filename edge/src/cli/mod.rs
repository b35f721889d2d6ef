//! The command line's subcommands beyond the one-liners in `main.rs`.

pub mod alloc_count;
pub mod bench;
pub mod calibrate;
pub mod screen;
