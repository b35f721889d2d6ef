//! The record-log reader on arbitrary bytes: never panics, and every record it accepts
//! re-encodes to a frame that reads back as the same record. Each input is also framed as a
//! version byte (1 and 2) + payload + valid CRC inside COBS, so the payload decoder is reached too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_shared::formats::{cobs_encode, encode_log_frame, scan_log};

fn check(log: &[u8]) {
    let scan = scan_log(log);
    for (offset, record) in &scan.records {
        assert!(*offset < log.len());
        let frame = encode_log_frame(record).expect("an accepted record re-encodes");
        let again = scan_log(&frame);
        assert_eq!(again.records.len(), 1);
        assert_eq!(&again.records[0].1, record);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // Both record versions: 1 (no model identity) and 2.
    for version in [1u8, 2] {
        let mut body = vec![version];
        body.extend_from_slice(data);
        let crc = crc32fast::hash(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        let mut framed = cobs_encode(&body);
        framed.push(0);
        check(&framed);
    }
});
