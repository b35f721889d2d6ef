//! Frames from a byte stream: concatenated JPEGs (MJPEG, as `rpicam-vid --codec mjpeg -o -`
//! writes) or packed RGB24 frames of a known size.
//!
//! JPEG frames are delimited by walking the marker segments (so an EXIF thumbnail's end marker
//! inside APP1 does not end the frame) and scanning entropy-coded data for the end marker.

use super::{Frame, FrameSource, SourceError, decode_into_spare};
use melanoscope_shared::image::{FrameBounds, RgbImage};
use std::io::Read;

/// Largest JPEG frame accepted (a 4K frame at high quality is under 4 MB).
const MAX_FRAME_BYTES: usize = 32 << 20;

/// Where the next complete JPEG lies in the buffer.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// Bytes `start..end` hold one frame.
    Frame { start: usize, end: usize },
    /// Need more bytes; everything before `keep_from` can be dropped.
    More { keep_from: usize },
    /// The bytes before `resume` are not a JPEG (bad segment, or a frame over the cap).
    Bad { resume: usize, detail: String },
}

/// Finds JPEG frames in a growing buffer, resuming where the last call stopped, so that each
/// byte is looked at about once however the stream is cut into reads (rescanning the whole
/// buffer on every read made a long frame quadratic), and refusing a frame once it passes
/// [`MAX_FRAME_BYTES`], inside entropy-coded data too.
#[derive(Debug, Default)]
struct Splitter {
    /// The current frame's start marker, once found.
    start: Option<usize>,
    /// Where scanning resumes.
    pos: usize,
    /// Inside entropy-coded data (after a start-of-scan segment).
    in_scan: bool,
}

impl Splitter {
    /// The caller dropped the first `n` bytes of the buffer.
    fn drained(&mut self, n: usize) {
        self.start = self.start.map(|s| s.saturating_sub(n));
        self.pos = self.pos.saturating_sub(n);
    }

    fn reset(&mut self) {
        *self = Splitter::default();
    }

    fn scan(&mut self, buf: &[u8]) -> Scan {
        let start = match self.start {
            Some(s) => s,
            None => {
                // A start marker may straddle the previous end: look from one byte back.
                let from = self.pos.saturating_sub(1).min(buf.len());
                let Some(p) = buf[from..].windows(2).position(|w| w == [0xFF, 0xD8]) else {
                    self.pos = buf.len();
                    // Keep a trailing 0xFF: it may begin the next start marker.
                    return Scan::More { keep_from: buf.len().saturating_sub(1) };
                };
                self.start = Some(from + p);
                self.pos = from + p + 2;
                self.in_scan = false;
                from + p
            }
        };
        let outcome = self.walk(buf, start);
        if !matches!(outcome, Scan::More { .. }) {
            self.reset();
        } else if buf.len() - start > MAX_FRAME_BYTES {
            // Over the cap while still incomplete (e.g. endless entropy-coded data): drop all
            // of it, not just its start marker, so that it is not scanned again.
            self.reset();
            return Scan::Bad { resume: buf.len(), detail: format!("frame longer than {MAX_FRAME_BYTES} bytes") };
        }
        outcome
    }

    /// Walks the segments of the frame beginning at `start` from `self.pos`.
    fn walk(&mut self, buf: &[u8], start: usize) -> Scan {
        let mut i = self.pos;
        let more = |this: &mut Self, at: usize| {
            this.pos = at;
            Scan::More { keep_from: start }
        };
        loop {
            if self.in_scan {
                // Entropy-coded data: FF 00 is a stuffed byte, FF D0-D7 restart markers.
                loop {
                    let Some(j) = buf.get(i..).and_then(|rest| rest.iter().position(|b| *b == 0xFF)) else {
                        return more(self, buf.len().max(i));
                    };
                    i += j;
                    let Some(&m) = buf.get(i + 1) else { return more(self, i) };
                    if m == 0x00 || (0xD0..=0xD7).contains(&m) || m == 0xFF {
                        i += if m == 0xFF { 1 } else { 2 };
                        continue;
                    }
                    self.in_scan = false;
                    break;
                }
            }
            let (Some(&ff), Some(&m)) = (buf.get(i), buf.get(i + 1)) else { return more(self, i) };
            if ff != 0xFF {
                return Scan::Bad {
                    resume: start + 2,
                    detail: format!("byte {:#04x} where a marker was expected", ff),
                };
            }
            match m {
                0xFF => i += 1,
                0xD9 => return Scan::Frame { start, end: i + 2 },
                0xD8 => return Scan::Bad { resume: i, detail: "a new frame began before the last one ended".into() },
                0x01 | 0xD0..=0xD7 => i += 2,
                _ => {
                    let (Some(&hi), Some(&lo)) = (buf.get(i + 2), buf.get(i + 3)) else { return more(self, i) };
                    let len = usize::from(u16::from_be_bytes([hi, lo]));
                    if len < 2 {
                        return Scan::Bad { resume: start + 2, detail: format!("segment {m:#04x} of length {len}") };
                    }
                    i += 2 + len;
                    if m == 0xDA {
                        self.in_scan = true;
                    }
                }
            }
            if i - start > MAX_FRAME_BYTES {
                return Scan::Bad {
                    resume: i.min(buf.len()),
                    detail: format!("frame longer than {MAX_FRAME_BYTES} bytes"),
                };
            }
            if i > buf.len() {
                // A segment runs past what has arrived: resume at its end once it is here.
                return more(self, i);
            }
        }
    }
}

/// Concatenated JPEG frames from a reader (standard input).
#[derive(Debug)]
pub struct MjpegStream<R> {
    reader: R,
    name: String,
    buf: Vec<u8>,
    chunk: Vec<u8>,
    splitter: Splitter,
    bounds: FrameBounds,
    delivered: u64,
    eof: bool,
    /// A frame the loop handed back, decoded into next.
    spare: Option<RgbImage>,
}

impl<R: Read> MjpegStream<R> {
    /// Frames of at most `bounds` (by their header) from `reader`, named `name` in errors.
    pub fn new(reader: R, name: &str, bounds: FrameBounds) -> Self {
        Self {
            reader,
            name: name.into(),
            buf: Vec::new(),
            chunk: vec![0; 1 << 16],
            splitter: Splitter::default(),
            bounds,
            delivered: 0,
            eof: false,
            spare: None,
        }
    }

    fn drain(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.splitter.drained(n);
    }
}

impl<R: Read> FrameSource for MjpegStream<R> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        loop {
            match self.splitter.scan(&self.buf) {
                Scan::Frame { start, end } => {
                    let decoded = decode_into_spare(&self.buf[start..end], &mut self.spare, self.bounds, &self.name);
                    self.drain(end);
                    let image = decoded?;
                    let index = self.delivered;
                    self.delivered += 1;
                    return Ok(Some(Frame { image, index, origin: self.name.clone() }));
                }
                Scan::Bad { resume, detail } => {
                    self.drain(resume);
                    return Err(SourceError::Corrupt { origin: self.name.clone(), detail });
                }
                Scan::More { keep_from } => {
                    self.drain(keep_from);
                    if self.eof {
                        return Ok(None);
                    }
                    let n = self.reader.read(&mut self.chunk).map_err(|e| SourceError::Disconnected {
                        device: self.name.clone(),
                        detail: melanoscope_shared::errors::error_chain(&e),
                    })?;
                    if n == 0 {
                        self.eof = true;
                    }
                    self.buf.extend_from_slice(&self.chunk[..n]);
                }
            }
        }
    }

    fn describe(&self) -> String {
        format!("MJPEG stream on {}", self.name)
    }

    fn recycle(&mut self, image: RgbImage) {
        self.spare = Some(image);
    }
}

/// Packed RGB24 frames of `width` x `height` from a reader.
#[derive(Debug)]
pub struct RawStream<R> {
    reader: R,
    name: String,
    width: u32,
    height: u32,
    delivered: u64,
    /// A frame's buffer the loop handed back, read into next.
    spare: Vec<u8>,
}

impl<R: Read> RawStream<R> {
    pub fn new(reader: R, name: &str, width: u32, height: u32) -> Self {
        Self { reader, name: name.into(), width, height, delivered: 0, spare: Vec::new() }
    }
}

impl<R: Read> FrameSource for RawStream<R> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let mut data = std::mem::take(&mut self.spare);
        data.resize(self.width as usize * self.height as usize * 3, 0);
        let mut filled = 0;
        while filled < data.len() {
            match self.reader.read(&mut data[filled..]) {
                Ok(0) if filled == 0 => return Ok(None),
                Ok(0) => {
                    return Err(SourceError::Corrupt {
                        origin: self.name.clone(),
                        detail: format!("stream ended {filled} bytes into a {}-byte frame", data.len()),
                    });
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(SourceError::Disconnected {
                        device: self.name.clone(),
                        detail: melanoscope_shared::errors::error_chain(&e),
                    });
                }
            }
        }
        let image = RgbImage::from_raw(self.width, self.height, data).map_err(|e| SourceError::Corrupt {
            origin: self.name.clone(),
            detail: melanoscope_shared::errors::error_chain(&e),
        })?;
        let index = self.delivered;
        self.delivered += 1;
        Ok(Some(Frame { image, index, origin: self.name.clone() }))
    }

    fn describe(&self) -> String {
        format!("raw RGB24 {}x{} stream on {}", self.width, self.height, self.name)
    }

    fn recycle(&mut self, image: RgbImage) {
        self.spare = image.into_raw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use melanoscope_shared::image::encode_jpeg;

    fn jpeg(rgb: [u8; 3]) -> Vec<u8> {
        encode_jpeg(&RgbImage::filled(32, 24, rgb).unwrap(), 90).unwrap()
    }

    /// A reader that hands out at most `step` bytes a call, as a pipe does.
    struct Trickle(std::io::Cursor<Vec<u8>>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }

    /// A frame handed back is where the next one is decoded (no new frame buffer per frame),
    /// and a corrupt frame in between keeps the buffer for the one after.
    #[test]
    fn recycled_frames_are_decoded_into() {
        let mut bytes = jpeg([200, 20, 20]);
        // A frame whose header says it has no width: delimited, but not decodable.
        let mut bad = jpeg([0, 0, 0]);
        let sof = bad.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline JPEG has SOF0");
        bad[sof + 7..sof + 9].copy_from_slice(&[0, 0]);
        bytes.extend(bad);
        bytes.extend(jpeg([20, 200, 20]));
        let mut s = MjpegStream::new(std::io::Cursor::new(bytes), "pipe", FrameBounds::HARD);
        let first = s.next_frame().unwrap().unwrap();
        let at = first.image.as_raw().as_ptr();
        s.recycle(first.image);
        assert!(matches!(s.next_frame(), Err(SourceError::Corrupt { .. })));
        let second = s.next_frame().unwrap().unwrap();
        assert_eq!(second.image.as_raw().as_ptr(), at, "the recycled buffer was not reused");
        assert!(second.image.get(16, 12).unwrap()[1] > 150, "the second frame's pixels");
        let mut raw = vec![9u8; 4 * 2 * 3];
        raw.extend(vec![7u8; 4 * 2 * 3]);
        let mut r = RawStream::new(std::io::Cursor::new(raw), "raw", 4, 2);
        let first = r.next_frame().unwrap().unwrap();
        let at = first.image.as_raw().as_ptr();
        r.recycle(first.image);
        let second = r.next_frame().unwrap().unwrap();
        assert_eq!((second.image.as_raw().as_ptr(), second.image.as_raw()[0]), (at, 7));
    }

    #[test]
    fn frames_split_across_reads_garbage_and_thumbnails() {
        let (a, b) = (jpeg([200, 30, 30]), jpeg([30, 30, 200]));
        // An APP1 segment carrying an "EXIF thumbnail" with its own end marker.
        let mut with_thumb = a[..2].to_vec();
        let thumb = [0xFF, 0xD8, 0xFF, 0xD9];
        with_thumb.extend_from_slice(&[0xFF, 0xE1, 0x00, (2 + thumb.len()) as u8]);
        with_thumb.extend_from_slice(&thumb);
        with_thumb.extend_from_slice(&a[2..]);
        let mut stream = b"noise".to_vec();
        stream.extend_from_slice(&with_thumb);
        stream.extend_from_slice(&b);
        // A corrupt frame: start marker, then a byte that is no marker.
        stream.extend_from_slice(&[0xFF, 0xD8, 0x12, 0x34]);
        stream.extend_from_slice(&a);
        for step in [1, 7, 4096] {
            let mut s =
                MjpegStream::new(Trickle(std::io::Cursor::new(stream.clone()), step), "stdin", FrameBounds::HARD);
            let f0 = s.next_frame().unwrap().unwrap();
            assert_eq!((f0.index, f0.image.width()), (0, 32));
            assert!(f0.image.get(5, 5).unwrap()[0] > 150, "first frame is the red one");
            let f1 = s.next_frame().unwrap().unwrap();
            assert!(f1.image.get(5, 5).unwrap()[2] > 150, "second frame is the blue one");
            assert!(matches!(s.next_frame(), Err(SourceError::Corrupt { .. })), "step {step}");
            assert_eq!(s.next_frame().unwrap().unwrap().index, 2, "resynchronised after the corrupt frame");
            assert!(s.next_frame().unwrap().is_none());
        }
    }

    /// Zeros after a start-of-scan never end a frame: dropped at the cap, in one pass, and the
    /// frame after them is found (the whole 300 MB is never held: a reader of zeros is used).
    #[test]
    fn endless_entropy_coded_data_is_dropped_at_the_cap() {
        struct Zeros(usize);
        impl Read for Zeros {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0);
                buf[..n].fill(0);
                self.0 -= n;
                Ok(n)
            }
        }
        let head: &[u8] = &[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02];
        let zeros = 2 * MAX_FRAME_BYTES + 12_345;
        let tail = jpeg([10, 200, 10]);
        let reader = head.chain(Zeros(zeros)).chain(tail.as_slice());
        let mut s = MjpegStream::new(reader, "stdin", FrameBounds::HARD);
        let e = s.next_frame().unwrap_err().to_string();
        assert!(e.contains("longer than"), "{e}");
        assert!(s.buf.capacity() <= MAX_FRAME_BYTES + (2 << 20), "buffer capacity {}", s.buf.capacity());
        let f = s.next_frame().unwrap().unwrap();
        assert!(f.image.get(5, 5).unwrap()[1] > 150, "the frame after the zeros");
        assert!(s.next_frame().unwrap().is_none());
    }

    /// A JPEG whose header declares a frame beyond the camera's bounds is refused undecoded.
    #[test]
    fn oversized_frames_are_refused_by_their_header() {
        let mut bytes = encode_jpeg(&RgbImage::filled(96, 24, [9, 9, 9]).unwrap(), 90).unwrap();
        bytes.extend(jpeg([200, 20, 20]));
        let mut s = MjpegStream::new(std::io::Cursor::new(bytes), "stdin", FrameBounds::camera(32, 24));
        let e = s.next_frame().unwrap_err();
        assert!(matches!(e, SourceError::Oversized { .. }), "{e}");
        assert!(e.to_string().contains("96x24") && e.to_string().contains("64x48"), "{e}");
        assert_eq!(s.next_frame().unwrap().unwrap().image.width(), 32);
    }

    #[test]
    fn raw_frames_and_a_torn_last_frame() {
        let mut bytes = vec![10u8; 4 * 2 * 3];
        bytes.extend_from_slice(&[20u8; 4 * 2 * 3]);
        bytes.extend_from_slice(&[1, 2, 3]);
        let mut s = RawStream::new(std::io::Cursor::new(bytes), "stdin", 4, 2);
        assert_eq!(s.next_frame().unwrap().unwrap().image.get(0, 0), Some([10; 3]));
        assert_eq!(s.next_frame().unwrap().unwrap().image.get(3, 1), Some([20; 3]));
        let e = s.next_frame().unwrap_err().to_string();
        assert!(e.contains("3 bytes into a 24-byte frame"), "{e}");
        assert!(s.next_frame().unwrap().is_none());
    }
}
