//! The MJPEG splitter against a hostile stream, beside a normal one of the same length, in
//! one process: a start-of-image and start-of-scan followed by 300 MB of zeros (a frame that
//! never ends), then a valid frame. Prints JSON: seconds, MB/s and peak resident memory of
//! each, and their ratios.
//!
//! `cargo run --release -p melanoscope-edge --example hostile_stream [MB]`

use melanoscope_edge::source::{FrameSource, MjpegStream, SourceError};
use melanoscope_shared::image::{FrameBounds, RgbImage, encode_jpeg};
use std::io::Read;
use std::time::Instant;

/// `n` bytes of `byte`, without holding them.
struct Fill(u8, usize);

impl Read for Fill {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.1);
        buf[..n].fill(self.0);
        self.1 -= n;
        Ok(n)
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}

/// Reads every frame of `reader`; (frames, refused, seconds).
fn drain(reader: impl Read) -> (u64, u64, f64) {
    let mut s = MjpegStream::new(reader, "bench", FrameBounds::camera(1920, 1080));
    let t = Instant::now();
    let (mut frames, mut refused) = (0, 0);
    loop {
        match s.next_frame() {
            Ok(Some(f)) => {
                frames += 1;
                s.recycle(f.image);
            }
            Ok(None) => break,
            Err(SourceError::Corrupt { .. } | SourceError::Oversized { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    (frames, refused, t.elapsed().as_secs_f64())
}

fn main() {
    let mb: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(300);
    let frame = RgbImage::filled(1920, 1080, [180, 120, 170]).expect("frame");
    let jpeg = encode_jpeg(&frame, 85).expect("jpeg");
    // Normal first (peak memory only grows): as many real frames as fill the same byte
    // count, decoded, streamed from one copy.
    let count = (mb << 20) / jpeg.len();
    let normal = std::iter::repeat_n(jpeg.as_slice(), count)
        .fold(Box::new(std::io::empty()) as Box<dyn Read>, |r, j| Box::new(r.chain(j)));
    let (nf, _, ns) = drain(normal);
    let normal_rss = peak_rss_mib();
    let head: &[u8] = &[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02];
    let hostile = head.chain(Fill(0, mb << 20)).chain(jpeg.as_slice());
    let (hf, hr, hs) = drain(hostile);
    let hostile_rss = peak_rss_mib();
    let report = serde_json::json!({
        "bytes": mb << 20,
        "normal": { "frames": nf, "seconds": ns, "mb_per_s": mb as f64 / ns, "peak_rss_mib": normal_rss },
        "hostile_zeros_after_sos": {
            "frames": hf, "refused": hr, "seconds": hs, "mb_per_s": mb as f64 / hs, "peak_rss_mib": hostile_rss,
        },
        "hostile_over_normal_seconds": hs / ns,
        "hostile_over_normal_peak_rss": hostile_rss / normal_rss.max(1e-9),
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
