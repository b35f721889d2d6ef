//! The whole model-bundle decoder (envelope, metadata, ONNX hash, reference fields, other
//! forms) and the signature check on arbitrary bytes: never panics; anything accepted
//! re-encodes to the same bundle, its signature check answers without panicking, and each of
//! its forms can be chosen. Inputs are also sealed as version 1 and 2 with a valid CRC, so
//! the fuzzer reaches the payload decoder behind them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_shared::formats::ModelFile;

fn check(bytes: &[u8]) {
    let Ok(file) = ModelFile::decode(bytes) else { return };
    let again = file.encode().expect("an accepted bundle re-encodes");
    assert_eq!(ModelFile::decode(&again).expect("a re-encoded bundle decodes"), file);
    let key = file.signature.as_ref().map(|s| s.public_key).unwrap_or([0; 32]);
    let _ = file.verify_signature(&[key], false);
    let _ = file.verify_signature(&[], true);
    for name in file.forms() {
        let one = file.form(Some(name)).expect("a listed form can be chosen");
        assert_eq!(one.meta.quantization.form(), name);
        one.encode().expect("a chosen form is a valid one-form bundle");
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    for version in [1u8, 2] {
        let mut sealed = b"MSCM".to_vec();
        sealed.extend_from_slice(&[version, 0]);
        sealed.extend_from_slice(data);
        let crc = crc32fast::hash(&sealed);
        sealed.extend_from_slice(&crc.to_le_bytes());
        check(&sealed);
    }
});
