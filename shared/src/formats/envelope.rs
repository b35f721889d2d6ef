//! Framing shared by the formats: `[magic?][version][postcard payload][crc32 LE]`, the CRC
//! covering everything before it, and an exact (no trailing bytes) postcard decode.

use super::FormatError;
use alloc::format;
use alloc::vec::Vec;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(bytes);
    h.finalize()
}

/// `header ++ postcard(value) ++ crc32(header ++ payload)`.
pub(crate) fn seal<T: Serialize>(what: &'static str, header: &[u8], value: &T) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::from(header);
    let payload = postcard::to_allocvec(value).map_err(|e| FormatError::Encode { what, detail: format!("{e}") })?;
    out.extend_from_slice(&payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Checks the trailing CRC and returns the bytes it covers.
pub(crate) fn open<'a>(what: &'static str, bytes: &'a [u8], min: usize) -> Result<&'a [u8], FormatError> {
    if bytes.len() < min + 4 {
        return Err(FormatError::Truncated { what, len: bytes.len(), min: min + 4 });
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let computed = crc32(body);
    if stored != computed {
        return Err(FormatError::Checksum { what, stored, computed });
    }
    Ok(body)
}

/// Decodes exactly one postcard value from `payload`.
pub(crate) fn decode_exact<T: DeserializeOwned>(what: &'static str, payload: &[u8]) -> Result<T, FormatError> {
    let (value, rest) =
        postcard::take_from_bytes::<T>(payload).map_err(|e| FormatError::Decode { what, detail: format!("{e}") })?;
    if !rest.is_empty() {
        return Err(FormatError::TrailingBytes { what, extra: rest.len() });
    }
    Ok(value)
}

/// The payload of `magic ++ version (u16 LE) ++ payload ++ crc32`, after checking the magic
/// (first, so a foreign file is named as such), the CRC and that the version is in
/// `versions` (the older ones this build still reads, and its own): the version found, and
/// its payload.
pub(crate) fn open_any_version<'a>(
    what: &'static str,
    bytes: &'a [u8],
    magic: [u8; 4],
    versions: core::ops::RangeInclusive<u16>,
) -> Result<(u16, &'a [u8]), FormatError> {
    if bytes.len() >= 4 && bytes[..4] != magic {
        let found = [bytes[0], bytes[1], bytes[2], bytes[3]];
        return Err(FormatError::BadMagic { what, found, expected: magic });
    }
    let body = open(what, bytes, 6)?;
    let found = u16::from_le_bytes([body[4], body[5]]);
    if !versions.contains(&found) {
        return Err(FormatError::UnsupportedVersion { what, found, supported: *versions.end() });
    }
    Ok((found, &body[6..]))
}

/// `magic ++ version (u16 LE) ++ postcard(value) ++ crc32`.
pub(crate) fn seal_versioned<T: Serialize>(
    what: &'static str,
    magic: [u8; 4],
    version: u16,
    value: &T,
) -> Result<Vec<u8>, FormatError> {
    let mut header = Vec::with_capacity(6);
    header.extend_from_slice(&magic);
    header.extend_from_slice(&version.to_le_bytes());
    seal(what, &header, value)
}
