//! `melanoscope-edge bench --views`: what the desktop window and the web view add to a screened
//! frame. The loop — decode, analysis, render at the frame's size, then the sinks — runs in
//! interleaved rounds of four set-ups in one process: no sink (the baseline), the window (on the
//! `$DISPLAY` given, e.g. Xvfb), the web view streaming to 8 viewers in this process, and the
//! same with one viewer that never reads and 50 stream requests refused. Figures are medians
//! and ratios against the baseline of the same run.

use anyhow::Result;
use melanoscope_edge::screen::analyse::Analyzer;
use melanoscope_edge::screen::render::{Renderer, ScreenState};
use melanoscope_edge::sinks::{DisplaySink, LiveStatus, WindowSink};
use melanoscope_edge::web::access::Access;
use melanoscope_edge::web::{WebSettings, WebView};
use melanoscope_shared::image::{RgbImage, decode_rgb_into};
use melanoscope_shared::run_files::edge_bench::{ViewSetup, ViewsCost};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Viewers that read the stream, and stream requests made beyond the cap.
const VIEWERS: usize = 8;
const REFUSED: usize = 50;
const ROUNDS: usize = 3;

/// In-process viewers of a web view's stream: each reads parts as fast as they come.
struct Viewers {
    stop: Arc<AtomicBool>,
    parts: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Viewers {
    fn start(addr: SocketAddr, n: usize) -> Result<Self> {
        let (stop, parts) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let mut threads = Vec::new();
        for _ in 0..n {
            let mut s = TcpStream::connect(addr)?;
            s.set_read_timeout(Some(Duration::from_millis(500)))?;
            s.write_all(b"GET /stream.mjpg HTTP/1.1\r\nHost: bench\r\n\r\n")?;
            let (stop, parts) = (stop.clone(), parts.clone());
            threads.push(std::thread::spawn(move || {
                let mut r = BufReader::new(s);
                let mut line = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    line.clear();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) => return,
                        Ok(_) => {}
                        Err(_) => continue,
                    }
                    if let Some(n) = line.strip_prefix(b"Content-Length: ") {
                        let len: usize = String::from_utf8_lossy(n).trim().parse().unwrap_or(0);
                        let mut skip = vec![0u8; len + 2];
                        if r.read_exact(&mut skip).is_ok() {
                            parts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        Ok(Self { stop, parts, threads })
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        self.parts.load(Ordering::Relaxed)
    }
}

/// One frame through the loop and `sinks`; its milliseconds.
fn frame_ms(
    jpeg: &[u8],
    frame: &mut RgbImage,
    analyzer: &mut Analyzer,
    renderer: &mut Renderer,
    sinks: &mut [&mut dyn DisplaySink],
) -> Result<f64> {
    let t = Instant::now();
    decode_rgb_into(jpeg, frame)?;
    let analysis = analyzer.analyse(frame)?;
    let decision = &analyzer.bundle().file.meta.decision;
    let state = ScreenState {
        frame: analyzer.corrected(),
        verdict: None,
        probability: analysis.probability,
        threshold: decision.threshold,
        fields: &analysis.fields,
        positive: usize::from(decision.positive_class),
        restarted: false,
        status: "bench --views",
        warning: None,
    };
    let canvas = renderer.render(&state);
    let status = LiveStatus { frame: 0, probability: analysis.probability, ..LiveStatus::default() };
    for sink in sinks.iter_mut() {
        sink.status(&status);
        sink.show(canvas)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

/// The views' cost on `jpeg` (`per_round` frames per set-up and round).
pub fn views_cost(jpeg: &[u8], analyzer: &mut Analyzer, per_round: usize) -> Result<ViewsCost> {
    let mut frame = RgbImage::filled(1, 1, [0; 3])?;
    decode_rgb_into(jpeg, &mut frame)?;
    let mut renderer = Renderer::new(frame.width(), frame.height(), 0.0)?;
    let mut window = WindowSink::open(frame.width(), frame.height(), false, None);
    let dir = std::env::temp_dir().join(format!("melanoscope-bench-views-{}", std::process::id()));
    let settings = WebSettings {
        listen: "127.0.0.1:0".parse()?,
        access: Access::new(None, None, true),
        generated_token: false,
        // The eight viewers and the stalled one.
        max_viewers: VIEWERS + 1,
        cases_dir: dir.join("cases"),
        log_path: dir.join("screening.log"),
        review_dir: None,
    };
    let mut web = WebView::start(settings, None)?;
    let addr = web.local_addr();
    let viewers = Viewers::start(addr, VIEWERS)?;
    // Warm-up: buffers at the frame's size, viewers connected.
    frame_ms(jpeg, &mut frame, analyzer, &mut renderer, &mut [])?;
    let names = ["window", "web view, 8 viewers", "web view, 8 viewers + 1 stalled + 50 refused"];
    let mut times: [Vec<f64>; 4] = Default::default();
    let (mut refused, mut delivered) = (0u64, [0u64; 2]);
    for _ in 0..ROUNDS {
        for _ in 0..per_round {
            times[0].push(frame_ms(jpeg, &mut frame, analyzer, &mut renderer, &mut [])?);
        }
        if let Ok(w) = window.as_mut() {
            for _ in 0..per_round {
                times[1].push(frame_ms(jpeg, &mut frame, analyzer, &mut renderer, &mut [w])?);
            }
        }
        for (i, attacked) in [(2, false), (3, true)] {
            // A viewer that asks for the stream and never reads; 50 more asking beyond the cap.
            let stalled = attacked.then(|| TcpStream::connect(addr)).transpose()?;
            if let Some(mut s) = stalled.as_ref() {
                s.write_all(b"GET /stream.mjpg HTTP/1.1\r\nHost: bench\r\n\r\n")?;
            }
            let attempts = attacked.then(|| {
                std::thread::spawn(move || {
                    (0..REFUSED)
                        .filter(|_| {
                            let Ok(mut s) = TcpStream::connect(addr) else { return false };
                            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                            let _ = s.write_all(b"GET /stream.mjpg HTTP/1.1\r\nHost: bench\r\n\r\n");
                            let mut head = [0u8; 12];
                            s.read_exact(&mut head).is_ok() && head.ends_with(b"503")
                        })
                        .count() as u64
                })
            });
            let before = viewers.parts.load(Ordering::Relaxed);
            for _ in 0..per_round {
                times[i].push(frame_ms(jpeg, &mut frame, analyzer, &mut renderer, &mut [&mut web])?);
            }
            delivered[i - 2] += viewers.parts.load(Ordering::Relaxed) - before;
            if let Some(a) = attempts {
                refused += a.join().unwrap_or(0);
            }
            drop(stalled);
        }
    }
    let dropped = web.counters().viewers_dropped.load(Ordering::Relaxed);
    viewers.finish();
    let none_ms = median(&times[0]);
    let mut setups = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let setup = name.to_string();
        if i == 0
            && let Err(e) = &window
        {
            setups.push(ViewSetup::Skipped { setup, skipped: melanoscope_shared::errors::error_chain(e) });
            continue;
        }
        let median_ms = median(&times[i + 1]);
        setups.push(ViewSetup::Timed {
            setup,
            median_ms,
            over_none: median_ms / none_ms.max(1e-9),
            frames_to_viewers: (i > 0).then(|| delivered[i - 1]),
            refused: (i == 2).then_some(refused),
            dropped: (i == 2).then_some(dropped),
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ViewsCost { frames_each: ROUNDS * per_round, none_ms, setups })
}

fn median(v: &[f64]) -> f64 {
    melanoscope_shared::metrics::median(v).unwrap_or(0.0)
}
