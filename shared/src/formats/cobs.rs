//! Consistent Overhead Byte Stuffing: removes every zero byte from a frame so that a single
//! 0x00 can delimit frames in the log, and a reader can resynchronise after a torn write.

use super::FormatError;
use alloc::vec::Vec;

/// COBS-encodes `data` (the result contains no zero byte; the delimiter is not appended).
pub fn cobs_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 254 + 2);
    let mut code_at = 0;
    out.push(0);
    let mut code: u8 = 1;
    for &b in data {
        if b == 0 {
            out[code_at] = code;
            code_at = out.len();
            out.push(0);
            code = 1;
        } else {
            out.push(b);
            code += 1;
            if code == 0xFF {
                out[code_at] = code;
                code_at = out.len();
                out.push(0);
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out
}

/// Decodes one COBS frame (without its delimiter).
pub fn cobs_decode(frame: &[u8]) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(frame.len());
    let mut i = 0;
    while i < frame.len() {
        let code = frame[i];
        if code == 0 {
            return Err(FormatError::Cobs { offset: i, problem: "zero byte inside a frame" });
        }
        let end = i + code as usize;
        if end > frame.len() {
            return Err(FormatError::Cobs { offset: i, problem: "block runs past the end of the frame" });
        }
        if let Some(z) = frame[i + 1..end].iter().position(|b| *b == 0) {
            return Err(FormatError::Cobs { offset: i + 1 + z, problem: "zero byte inside a frame" });
        }
        out.extend_from_slice(&frame[i + 1..end]);
        i = end;
        // A block shorter than 254 data bytes stands for a zero, except at the very end.
        if code < 0xFF && i < frame.len() {
            out.push(0);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors() {
        assert_eq!(cobs_encode(&[]), [1]);
        assert_eq!(cobs_encode(&[0]), [1, 1]);
        assert_eq!(cobs_encode(&[0x11, 0x22, 0x00, 0x33]), [3, 0x11, 0x22, 2, 0x33]);
        let long: Vec<u8> = (1..=254).collect();
        let enc = cobs_encode(&long);
        assert_eq!(enc[0], 0xFF);
        assert_eq!(enc.len(), 256);
        assert_eq!(cobs_decode(&enc).unwrap(), long);
        assert!(cobs_decode(&[5, 1]).is_err());
        assert!(cobs_decode(&[2, 0]).is_err());
    }

    proptest! {
        #[test]
        fn round_trip_without_zeros(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let enc = cobs_encode(&data);
            prop_assert!(!enc.contains(&0));
            prop_assert_eq!(cobs_decode(&enc).unwrap(), data);
        }
    }
}
