//! Board descriptions on arbitrary text: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_boards::description::BoardDescription;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = BoardDescription::parse("board.toml", text);
    }
});
