//! A replay's truth file (`frames.csv`) on arbitrary bytes: never panics; an accepted one
//! judges any frames without panicking, each frame judged once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_edge::truth::{FrameRow, Truth};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(truth) = Truth::parse(Path::new("frames.csv"), data) else { return };
    let rows: Vec<FrameRow> = ["a.jpg", "/x/MM-0.jpg", ""]
        .iter()
        .enumerate()
        .map(|(i, f)| FrameRow {
            frame: i as u64,
            file: (*f).into(),
            verdict: "NEVUS".into(),
            probability: Some(0.1),
            frame_probability: Some(0.1),
            tissue_fields: 1,
        })
        .collect();
    if let Ok(table) = truth.judge(&rows) {
        assert_eq!(table.total, rows.len());
        assert!(table.right <= table.total);
    }
});
