//! The record-log reader on arbitrary bytes: never panics, and every record it accepts
//! re-encodes to a frame that reads back as the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_shared::formats::{encode_log_frame, scan_log};

fuzz_target!(|data: &[u8]| {
    let scan = scan_log(data);
    for (offset, record) in &scan.records {
        assert!(*offset < data.len());
        let frame = encode_log_frame(record).expect("an accepted record re-encodes");
        let again = scan_log(&frame);
        assert_eq!(again.records.len(), 1);
        assert_eq!(&again.records[0].1, record);
    }
});
