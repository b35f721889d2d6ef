//! The bundle-metadata decoder on arbitrary bytes: never panics, and anything it accepts
//! re-encodes to metadata that decodes the same. Half of the inputs are given a valid header
//! and CRC, so the fuzzer reaches the postcard decoder and the field validation behind them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_shared::formats::ModelBundleMeta;

fn check(bytes: &[u8]) {
    if let Ok(meta) = ModelBundleMeta::decode(bytes) {
        let again = meta.encode().expect("accepted metadata re-encodes");
        assert_eq!(ModelBundleMeta::decode(&again).expect("re-encoded metadata decodes"), meta);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = b"MSCB\x01\x00".to_vec();
    sealed.extend_from_slice(data);
    let crc = crc32fast::hash(&sealed);
    sealed.extend_from_slice(&crc.to_le_bytes());
    check(&sealed);
});
