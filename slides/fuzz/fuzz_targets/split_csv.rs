//! The patient split file on arbitrary bytes: never panics; a split it accepts puts each
//! patient in one partition.
#![no_main]

#[path = "scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;
use melanoscope_slides::split::PatientSplit;

fuzz_target!(|data: &[u8]| {
    let path = scratch::scratch_file("split.csv", data);
    if let Ok(split) = PatientSplit::load(&path) {
        let total: usize = split.counts().values().sum();
        assert!(total <= data.len());
    }
});
