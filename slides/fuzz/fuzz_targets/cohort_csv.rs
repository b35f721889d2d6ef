//! The cohort file parser on arbitrary text: never panics; every slide it accepts has ids, and
//! every row it sets aside says why.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_slides::cohort::parse_cohort;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((slides, rejected)) = parse_cohort(text, std::path::Path::new("/cohort"), false) {
        assert!(slides.iter().all(|s| !s.slide_id.is_empty() && !s.patient_id.is_empty()));
        assert!(rejected.iter().all(|r| !r.problems.is_empty()));
    }
});
