//! A control-socket request line on arbitrary bytes: never panics; whatever parses is written
//! back by `Request::line` as a line that parses to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_edge::cases::control::Request;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    if let Ok(request) = Request::parse(&line) {
        assert_eq!(Request::parse(&request.line()), Ok(request));
    }
});
