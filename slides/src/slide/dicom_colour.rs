//! DICOM slides whose JPEG frames are coded as YCbCr but labelled `RGB`. OpenSlide decodes
//! frames in the colour space the DICOM header names, so such a slide (the DICOM conversion of
//! CMU-1-Small-Region is one) comes back as raw Y/Cb/Cr values: glass reads (243, 128, 128), the
//! background test sees no glass, and every field looks like tissue. The JPEG frames themselves
//! say how they were coded (JFIF, Adobe APP14, component ids); where that contradicts the label,
//! the slide's pixels are converted.

use std::io::Read;
use std::path::Path;

/// How much of the file is searched for the first frame: the header and the frame table of a
/// large slide fit well within it.
const SEARCH_BYTES: u64 = 8 << 20;

/// Whether the slide at `path`, labelled `photometric`, holds JPEG frames coded as YCbCr under
/// an `RGB` label. `false` whenever it cannot be told (no JPEG frame found, another label).
pub fn ycbcr_labelled_rgb(path: &Path, photometric: &str) -> bool {
    if photometric.trim() != "RGB" {
        return false;
    }
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(SEARCH_BYTES).read_to_end(&mut head));
    if read.is_err() {
        return false;
    }
    // The encapsulated pixel data (7FE0,0010), then its first frame's SOI marker.
    let Some(pixel_data) = find(&head, &[0xE0, 0x7F, 0x10, 0x00]) else { return false };
    let Some(soi) = find(&head[pixel_data..], &[0xFF, 0xD8, 0xFF]) else { return false };
    jpeg_is_ycbcr(&head[pixel_data + soi..]).unwrap_or(false)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether a baseline/progressive JPEG of three components is coded as YCbCr, by libjpeg's
/// rules: a JFIF marker means YCbCr; an Adobe marker's transform flag decides; else components
/// named 'R', 'G', 'B' mean RGB and anything else YCbCr. `None`: not a 3-component JPEG.
fn jpeg_is_ycbcr(jpeg: &[u8]) -> Option<bool> {
    let mut at = 2; // past SOI
    let (mut jfif, mut adobe_transform) = (false, None);
    while at + 4 <= jpeg.len() {
        if jpeg[at] != 0xFF {
            return None;
        }
        let marker = jpeg[at + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let body = jpeg.get(at + 4..at + 2 + len)?;
        match marker {
            0xE0 => jfif |= body.starts_with(b"JFIF\0"),
            0xEE if body.starts_with(b"Adobe") => adobe_transform = body.get(11).copied(),
            0xC0..=0xC2 => {
                let components = usize::from(*body.get(5)?);
                if components != 3 {
                    return None;
                }
                let ids: Vec<u8> = (0..3).map(|i| body.get(6 + 3 * i).copied()).collect::<Option<_>>()?;
                return Some(if jfif {
                    true
                } else if let Some(t) = adobe_transform {
                    t != 0
                } else {
                    ids != b"RGB"
                });
            }
            0xD9 | 0xDA => return None,
            _ => {}
        }
        at += 2 + len;
    }
    None
}

/// Full-range YCbCr (JPEG's) to RGB.
pub fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (f32::from(y), f32::from(cb) - 128.0, f32::from(cr) - 128.0);
    let c = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    [c(y + 1.402 * cr), c(y - 0.344_136 * cb - 0.714_136 * cr), c(y + 1.772 * cb)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG header up to its SOF0: optional JFIF / Adobe markers, then three components.
    fn header(jfif: bool, adobe: Option<u8>, ids: [u8; 3]) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        if jfif {
            j.extend_from_slice(&[0xFF, 0xE0, 0, 16]);
            j.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        }
        if let Some(t) = adobe {
            j.extend_from_slice(&[0xFF, 0xEE, 0, 14]);
            j.extend_from_slice(b"Adobe\0\x64\0\0\0\0");
            j.push(t);
        }
        j.extend_from_slice(&[0xFF, 0xC0, 0, 17, 8, 0, 16, 0, 16, 3]);
        for id in ids {
            j.extend_from_slice(&[id, 0x11, 0]);
        }
        j
    }

    #[test]
    fn the_frames_own_markers_decide_the_colour_space() {
        assert_eq!(jpeg_is_ycbcr(&header(false, None, [1, 2, 3])), Some(true));
        assert_eq!(jpeg_is_ycbcr(&header(true, None, *b"RGB")), Some(true));
        assert_eq!(jpeg_is_ycbcr(&header(false, None, *b"RGB")), Some(false));
        assert_eq!(jpeg_is_ycbcr(&header(false, Some(0), [1, 2, 3])), Some(false));
        assert_eq!(jpeg_is_ycbcr(&header(false, Some(1), *b"RGB")), Some(true));
        // Truncated or not a JPEG: undecided, never a panic.
        let h = header(true, None, [1, 2, 3]);
        for cut in 0..h.len() {
            assert_eq!(jpeg_is_ycbcr(&h[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn glass_and_stain_convert_to_their_rgb() {
        assert_eq!(ycbcr_to_rgb(243, 128, 128), [243, 243, 243]);
        // Eosin pink: red above green, blue between.
        let [r, g, b] = ycbcr_to_rgb(180, 135, 160);
        assert!(r > b && b > g, "{r} {g} {b}");
    }
}
