//! The bundle-metadata decoder on arbitrary bytes: never panics, and anything it accepts
//! re-encodes to the identical bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_shared::formats::ModelBundleMeta;

fuzz_target!(|data: &[u8]| {
    if let Ok(meta) = ModelBundleMeta::decode(data) {
        let bytes = meta.encode().expect("accepted metadata re-encodes");
        assert_eq!(ModelBundleMeta::decode(&bytes).expect("re-encoded metadata decodes"), meta);
    }
});
