//! Whether clients of the control socket can slow the screening loop: frames per second of a
//! loop that polls the socket and preprocesses a 1920×1080 camera frame (resampled 0.5 → 1.0
//! µm/px, cut into fields, tensors written), first quiet, then while a slowloris client
//! trickles a byte every 50 ms and 1,000 silent connections are open. Prints one JSON line;
//! `ratio` is attacked / quiet frames per second in the same process (goal ≥ 0.95).

use melanoscope_edge::cases::control::ControlServer;
use melanoscope_edge::cases::requests::{Inbox, channel};
use melanoscope_shared::image::{PixelSpacing, RgbImage};
use melanoscope_shared::pipeline::{ExtractConfig, FieldExtractor};
use std::hint::black_box;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Each phase runs this long: past the request deadline, so that silent and trickling clients
/// are read, refused and dropped while the loop runs.
const PHASE: Duration = Duration::from_secs(5);
const SILENT: usize = 1000;

fn frame() -> RgbImage {
    let mut img = RgbImage::filled(1920, 1080, [236, 234, 240]).unwrap();
    for y in 0..1080 {
        for x in 0..1280 {
            let nucleus = ((x / 7) * 31 + (y / 7) * 17) % 11 == 0;
            img.put(x, y, if nucleus { [90, 50, 140] } else { [210, 130, 180] });
        }
    }
    img
}

/// Frames per second of the loop over `PHASE`, and the requests it took.
fn loop_rate(server: &Inbox, extractor: &mut FieldExtractor, img: &RgbImage) -> (f64, usize) {
    let spacing = PixelSpacing::isotropic(0.5).unwrap();
    let (mut requests, mut frames) = (0, 0u32);
    let t = Instant::now();
    while t.elapsed() < PHASE {
        while server.poll().is_some() {
            requests += 1;
        }
        black_box(extractor.process(black_box(img), spacing).unwrap().kept_count());
        frames += 1;
    }
    (f64::from(frames) / t.elapsed().as_secs_f64(), requests)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("melanoscope-control-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("control.sock");
    let (requests, server) = channel();
    let _control = ControlServer::bind(&path, requests).unwrap();
    let img = frame();
    let mut extractor = FieldExtractor::new(ExtractConfig::study(1.0)).unwrap();
    loop_rate(&server, &mut extractor, &img); // warm-up
    let (quiet, _) = loop_rate(&server, &mut extractor, &img);

    let stop = Arc::new(AtomicBool::new(false));
    let slowloris = std::thread::spawn({
        let (path, stop) = (path.clone(), stop.clone());
        move || {
            let mut reconnects = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = UnixStream::connect(&path) else { break };
                reconnects += 1;
                while !stop.load(Ordering::Relaxed) && s.write_all(b"s").is_ok() {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            reconnects
        }
    });
    let mut silent = Vec::with_capacity(SILENT);
    for _ in 0..SILENT {
        match UnixStream::connect(&path) {
            Ok(s) => silent.push(s),
            Err(e) => {
                eprintln!("stopped opening silent connections at {}: {e}", silent.len());
                break;
            }
        }
    }
    let (attacked, requests) = loop_rate(&server, &mut extractor, &img);
    stop.store(true, Ordering::Relaxed);
    let reconnects = slowloris.join().unwrap();
    println!(
        "{}",
        serde_json::json!({
            "bench": "control_stall",
            "frame": "1920x1080, 0.5 -> 1.0 um/px, fields and tensors",
            "seconds_per_phase": PHASE.as_secs(),
            "quiet_fps": quiet,
            "attacked_fps": attacked,
            "ratio": attacked / quiet,
            "silent_connections": silent.len(),
            "slowloris_connections": reconnects,
            "requests_taken_by_the_loop": requests,
        })
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
