//! The MJPEG splitter and frame decoder on arbitrary byte streams, cut into reads of every
//! size the first byte picks: never panics, never hands out a frame beyond the bounds, and
//! ends (each call consumes input or ends the stream).
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_edge::source::{FrameSource, MjpegStream};
use melanoscope_shared::image::FrameBounds;
use std::io::Read;

/// Hands out at most `step` bytes a read, as a pipe does.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.1).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else { return };
    let bounds = FrameBounds::camera(64, 48);
    let mut s = MjpegStream::new(Trickle(stream, usize::from(step).max(1)), "fuzz", bounds);
    // Every call consumes at least one byte or ends: more calls than bytes means a loop.
    for _ in 0..=stream.len() + 1 {
        match s.next_frame() {
            Ok(Some(f)) => {
                assert!(f.image.width() <= bounds.max_width && f.image.height() <= bounds.max_height);
                s.recycle(f.image);
            }
            Ok(None) => return,
            Err(_) => {}
        }
    }
    panic!("the splitter did not end on {} bytes", stream.len());
});
