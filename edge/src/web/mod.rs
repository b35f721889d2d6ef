//! The web view (`[web]`): the live screen in any browser on this computer or the bench
//! network — the overlay as a stream, the verdict as text, the case controls, the case pages —
//! the way OpenFlexure's microscope server is driven from a page.
//!
//! It never slows the screen. It is a display sink: the loop copies each rendered frame into a
//! one-frame slot ([`LatestFrame`], drop-oldest) and goes on. An encoder thread makes one JPEG
//! of the newest frame (only while someone watches, at most [`STREAM_FPS`] a second) for all
//! viewers; each connection has its own thread, at most [`max handlers`](Shared::max_handlers)
//! at once (the next get 503 at once), at most `web.max_viewers` of them streams, and a viewer
//! that stops reading is dropped after [`http::WRITE_TIMEOUT`]. Case requests go through the
//! screen's request queue like the control socket's.

pub mod access;
pub mod files;
pub mod http;
pub mod page;
mod routes;

use crate::cases::requests::{Operator, Outbox};
use crate::config::EdgeConfig;
use crate::sinks::handoff::LatestFrame;
use crate::sinks::{DisplaySink, LiveStatus, SinkError};
use access::Access;
use http::{Response, read_request};
use melanoscope_shared::image::{RgbImage, encode_jpeg};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most stream frames a second (a colleague following the field; the encoder's share of a
/// board's CPU stays small).
pub const STREAM_FPS: u32 = 10;
/// Stream JPEG quality.
const JPEG_QUALITY: u8 = 80;
/// Connections served at once besides the streams (page, status, case requests).
const OTHER_CONNECTIONS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(
        "web.listen = \"{listen}\": cannot listen there; another program (or another screen) may hold \
         the port: stop it, or choose another port in web.listen"
    )]
    Bind { listen: String, source: std::io::Error },
    #[error("web.listen = \"{0}\": not an address and port")]
    Address(String),
    #[error("web.token is empty and the web view listens beyond this computer: no token could be generated")]
    Token(#[source] std::io::Error),
    #[error("the web view's threads")]
    Thread(#[source] std::io::Error),
}

/// What the web view serves and to whom, from `[web]` and the case and log settings.
#[derive(Debug, Clone)]
pub struct WebSettings {
    pub listen: SocketAddr,
    pub access: Access,
    /// The token was generated at this start (shown on the screen and in the log).
    pub generated_token: bool,
    pub max_viewers: usize,
    pub cases_dir: PathBuf,
    pub log_path: PathBuf,
    pub review_dir: Option<PathBuf>,
}

impl WebSettings {
    /// The settings `cfg` gives (a token generated when the address reaches beyond this
    /// computer and `web.token` is empty).
    pub fn of(cfg: &EdgeConfig) -> Result<Self, WebError> {
        let w = &cfg.web;
        let listen = w.address().map_err(|_| WebError::Address(w.listen.clone()))?;
        let mut token = w.token.clone();
        let generated_token = token.is_empty() && !listen.ip().is_loopback();
        if generated_token {
            token = access::generate_token().map_err(WebError::Token)?;
        }
        Ok(Self {
            listen,
            access: Access::new(Some(token), Some(w.viewer_token.clone()), w.read_only),
            generated_token,
            max_viewers: w.max_viewers,
            cases_dir: cfg.cases_dir(),
            log_path: cfg.log.path.clone(),
            review_dir: (!w.review_dir.as_os_str().is_empty()).then(|| w.review_dir.clone()),
        })
    }
}

/// What the web view counted.
#[derive(Debug, Default)]
pub struct Counters {
    pub viewers_refused: AtomicU64,
    pub viewers_dropped: AtomicU64,
    pub connections_refused: AtomicU64,
    pub unauthorized: AtomicU64,
    pub bad_requests: AtomicU64,
    pub frames_encoded: AtomicU64,
}

#[derive(Debug, Default)]
struct Jpeg {
    generation: u64,
    bytes: Arc<Vec<u8>>,
}

/// What the web view's threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    settings: WebSettings,
    frames: LatestFrame,
    jpeg: Mutex<Jpeg>,
    jpeg_ready: Condvar,
    live: Mutex<LiveStatus>,
    viewers: AtomicUsize,
    handlers: AtomicUsize,
    stop: AtomicBool,
    requests: Option<Outbox>,
    counters: Counters,
}

impl Shared {
    fn new(settings: WebSettings, requests: Option<Outbox>) -> Self {
        Self {
            settings,
            frames: LatestFrame::default(),
            jpeg: Mutex::default(),
            jpeg_ready: Condvar::new(),
            live: Mutex::default(),
            viewers: AtomicUsize::new(0),
            handlers: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            requests,
            counters: Counters::default(),
        }
    }

    fn status(&self) -> LiveStatus {
        self.live.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn max_handlers(&self) -> usize {
        self.settings.max_viewers + OTHER_CONNECTIONS
    }
}

/// The running web view; a display sink of the screen.
#[derive(Debug)]
pub struct WebView {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
}

impl WebView {
    /// Listens on `settings.listen` and starts serving. `operator`: the running screen's
    /// request queue (none: the case buttons answer that no screen is attached).
    pub fn start(settings: WebSettings, operator: Option<&Operator>) -> Result<Self, WebError> {
        let listen = settings.listen;
        let listener =
            TcpListener::bind(listen).map_err(|source| WebError::Bind { listen: listen.to_string(), source })?;
        let addr = listener.local_addr().map_err(|source| WebError::Bind { listen: listen.to_string(), source })?;
        let url = url_of(addr, settings.access.token());
        let shared = Arc::new(Shared::new(settings, operator.map(|o| o.requests.clone())));
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(name.into()).spawn(f).map(drop).map_err(WebError::Thread)
        };
        spawn(
            "web-encode",
            Box::new({
                let shared = shared.clone();
                move || encode_loop(&shared)
            }),
        )?;
        spawn(
            "web-accept",
            Box::new({
                let shared = shared.clone();
                move || accept_loop(&listener, &shared)
            }),
        )?;
        tracing::info!(url = %url, viewers = shared.settings.max_viewers, "web view listening");
        Ok(Self { shared, addr, url })
    }

    /// The address to open (with the token when one is asked).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Streams being watched now.
    pub fn viewers(&self) -> usize {
        self.shared.viewers.load(Ordering::SeqCst)
    }
}

/// The status a request would be answered with by a view with `settings` (no screen attached,
/// nothing served): the routing and access checks alone, for the fuzzer.
pub fn status_for(settings: WebSettings, head: &http::Head, body: &[u8]) -> u16 {
    let shared = Shared::new(settings, None);
    match routes::route(&shared, head, body) {
        routes::Outcome::Reply(r) => r.status,
        routes::Outcome::Stream => 200,
    }
}

/// `http://ADDRESS:PORT/`, with `?token=` when one is asked; a wildcard address is shown as
/// this computer's name.
fn url_of(addr: SocketAddr, token: Option<&str>) -> String {
    let host = if addr.ip().is_unspecified() {
        std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into())
    } else {
        addr.ip().to_string()
    };
    let query = token.map_or(String::new(), |t| format!("?token={t}"));
    format!("http://{host}:{}/{query}", addr.port())
}

impl DisplaySink for WebView {
    fn show(&mut self, frame: &RgbImage) -> Result<(), SinkError> {
        // A copy into the slot (the encoder keeps the newest, for viewers who join later).
        self.shared.frames.put(frame);
        Ok(())
    }

    fn name(&self) -> String {
        format!("web {}", self.addr)
    }

    fn status(&mut self, status: &LiveStatus) {
        let mut live = self.shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        if *live != *status {
            live.clone_from(status);
        }
    }
}

impl Drop for WebView {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.frames.close();
        self.shared.jpeg_ready.notify_all();
        // Wakes the acceptor from `accept` so that it sees the stop and closes the listener.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_millis(200));
    }
}

/// Encodes the newest frame for the viewers, while there are any, at most [`STREAM_FPS`] a
/// second. It keeps the newest frame, so that a viewer who joins while the screen is frozen
/// (no new frames) still sees what it shows.
fn encode_loop(shared: &Shared) {
    let period = Duration::from_secs(1) / STREAM_FPS;
    let (mut seen, mut encoded_generation) = (0, 0);
    let mut newest: Option<RgbImage> = None;
    let mut last: Option<Instant> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        if let Some((frame, generation)) = shared.frames.take_newer(seen, Duration::from_millis(100)) {
            seen = generation;
            if let Some(old) = newest.replace(frame) {
                shared.frames.give_back(old);
            }
        }
        let due = last.is_none_or(|t| t.elapsed() >= period);
        let watched = shared.viewers.load(Ordering::Relaxed) > 0;
        let Some(frame) = newest.as_ref().filter(|_| due && watched && encoded_generation < seen) else { continue };
        last = Some(Instant::now());
        encoded_generation = seen;
        match encode_jpeg(frame, JPEG_QUALITY) {
            Ok(bytes) => {
                let mut jpeg = shared.jpeg.lock().unwrap_or_else(PoisonError::into_inner);
                jpeg.generation += 1;
                jpeg.bytes = Arc::new(bytes);
                drop(jpeg);
                shared.counters.frames_encoded.fetch_add(1, Ordering::Relaxed);
                shared.jpeg_ready.notify_all();
            }
            Err(e) => {
                tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), "web view: a frame did not encode")
            }
        }
    }
}

/// Accepts connections until stopped, each served on a thread of its own (at most
/// [`Shared::max_handlers`] at once; the next are answered 503 at once).
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        if shared.handlers.fetch_add(1, Ordering::SeqCst) >= shared.max_handlers() {
            shared.handlers.fetch_sub(1, Ordering::SeqCst);
            shared.counters.connections_refused.fetch_add(1, Ordering::Relaxed);
            // Never waits on this client: a refusal that does not fit its buffer is dropped.
            let _ = stream.set_nonblocking(true);
            let _ = Response::text(503, "busy: too many connections; try again").write_to(&mut stream, false);
            continue;
        }
        let worker = shared.clone();
        let spawned = std::thread::Builder::new().name("web-conn".into()).spawn(move || {
            serve(&mut stream, &worker);
            worker.handlers.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            shared.handlers.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// One connection: one request, its answer (or the stream), closed.
fn serve(stream: &mut TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let (head, body) = match read_request(stream) {
        Ok(r) => r,
        Err(e) => {
            shared.counters.bad_requests.fetch_add(1, Ordering::Relaxed);
            let _ = Response::text(e.status(), e.to_string()).write_to(stream, false);
            return;
        }
    };
    match routes::route(shared, &head, &body) {
        routes::Outcome::Reply(r) => {
            let _ = r.write_to(stream, head.method == "HEAD");
        }
        routes::Outcome::Stream => stream_to(stream, shared),
    }
}

/// The MJPEG stream to one viewer until it leaves, stalls, or the view stops.
fn stream_to(stream: &mut TcpStream, shared: &Shared) {
    if shared.viewers.fetch_add(1, Ordering::SeqCst) >= shared.settings.max_viewers {
        shared.viewers.fetch_sub(1, Ordering::SeqCst);
        shared.counters.viewers_refused.fetch_add(1, Ordering::Relaxed);
        let text = format!("{} viewers are watching (web.max_viewers); try again later", shared.settings.max_viewers);
        let _ = Response::text(503, text).with("Retry-After", "10").write_to(stream, false);
        return;
    }
    let result = (|| -> std::io::Result<()> {
        stream.set_write_timeout(Some(http::WRITE_TIMEOUT))?;
        let mut head = http::status_line(200);
        head.push_str("Content-Type: multipart/x-mixed-replace; boundary=frame\r\n");
        for (name, value) in http::SECURITY_HEADERS {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        stream.write_all(head.as_bytes())?;
        let mut seen = 0;
        loop {
            let bytes = {
                let jpeg = shared.jpeg.lock().unwrap_or_else(PoisonError::into_inner);
                let (jpeg, _) = shared
                    .jpeg_ready
                    .wait_timeout_while(jpeg, Duration::from_secs(1), |j| {
                        j.generation <= seen && !shared.stop.load(Ordering::SeqCst)
                    })
                    .unwrap_or_else(PoisonError::into_inner);
                if shared.stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                if jpeg.generation <= seen {
                    continue;
                }
                seen = jpeg.generation;
                jpeg.bytes.clone()
            };
            let part = format!("--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", bytes.len());
            stream.write_all(part.as_bytes())?;
            stream.write_all(&bytes)?;
            stream.write_all(b"\r\n")?;
        }
    })();
    if let Err(e) = result {
        shared.counters.viewers_dropped.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(error = %e, "web view: a viewer left or stalled");
    }
    shared.viewers.fetch_sub(1, Ordering::SeqCst);
}

#[cfg(test)]
mod tests;
