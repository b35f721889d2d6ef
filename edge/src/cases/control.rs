//! The running `screen`'s control channel: a Unix socket (owner and group may connect) over
//! which `melanoscope-edge case open ID` / `case close` / `case status` — typed on a keyboard,
//! or a barcode scanner's keystrokes in a terminal — reach the screening loop. One line a
//! request (`open ID`, `close`, `status`, `freeze`, `snapshot`), one line back (`ok …` or
//! `error …`). Connections are read on threads of their own, a few at a time, and a client
//! that does not send its whole line within a deadline is dropped; what is read goes to the
//! screen's request queue ([`super::requests`]), which the loop polls between frames.

use super::requests::Outbox;
pub use super::requests::{Reply, Request, UnknownRequest};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Longest request line read (a case id is at most 64 bytes).
const MAX_REQUEST: usize = 256;
/// How long a client waits for the screen's answer (the screen answers between frames).
const TIMEOUT: Duration = Duration::from_secs(6);
/// How long a connected client has to send its whole request line: clients send it at once;
/// one that trickles it (a byte at a time) or sends nothing is answered and dropped.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Connections read at once; more are answered "busy" at once and closed, so that silent
/// connections cost the device at most this many threads and sockets.
pub const MAX_CONNECTIONS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {path}")]
    Io { path: String, source: std::io::Error },
    #[error("control socket {path}: another screen process is listening on it")]
    InUse { path: String },
    #[error(
        "control socket {path}: no screen process is listening; start `melanoscope-edge screen` \
         (or the service) with this site file"
    )]
    NotRunning { path: String, source: std::io::Error },
    #[error("{0}")]
    Refused(String),
}

/// The listening end, kept by the screening loop. Connections are accepted and read on
/// threads of their own; the loop only takes requests already read, so no client (silent,
/// trickling or thousands at once) can hold a frame or the watchdog's ping.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
}

impl ControlServer {
    /// Listens at `path` (its folder created), readable and writable by owner and group. A
    /// socket file left by a process that died is replaced; one that answers is refused.
    /// Requests go to `requests`.
    pub fn bind(path: &Path, requests: Outbox) -> Result<Self, ControlError> {
        let err = |source| ControlError::Io { path: path.display().to_string(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(ControlError::InUse { path: path.display().to_string() });
            }
            std::fs::remove_file(path).map_err(err)?;
        }
        let listener = UnixListener::bind(path).map_err(err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
        let stop = Arc::new(AtomicBool::new(false));
        std::thread::Builder::new()
            .name("control-accept".into())
            .spawn({
                let (stop, socket) = (stop.clone(), path.display().to_string());
                move || accept_loop(&listener, &requests, &stop, &socket)
            })
            .map_err(err)?;
        Ok(Self { path: path.to_path_buf(), stop })
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor from `accept` so that it sees the stop and closes the listener.
        // Not joined: with the socket file already removed nothing can wake it, and a stop
        // must not hang on that.
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Accepts connections until `stop`, each read on a thread of its own (at most
/// [`MAX_CONNECTIONS`] at once; the next are answered "busy").
fn accept_loop(listener: &UnixListener, send: &Outbox, stop: &AtomicBool, socket: &str) {
    let reading = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), %socket, "control socket");
                continue;
            }
        };
        if reading.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            reading.fetch_sub(1, Ordering::SeqCst);
            Reply::socket(stream).line(Err(&Busy));
            continue;
        }
        let (send, count) = (send.clone(), reading.clone());
        let spawned = std::thread::Builder::new().name("control-read".into()).spawn(move || {
            let read = read_request(&stream);
            count.fetch_sub(1, Ordering::SeqCst);
            let reply = Reply::socket(stream);
            match read {
                Ok(request) => send.offer(request, reply),
                Err(why) => reply.line(Err(&why)),
            }
        });
        if let Err(e) = spawned {
            reading.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), %socket, "control socket: no thread for a client");
        }
    }
}

/// More clients than the screen reads at once.
#[derive(Debug, thiserror::Error)]
#[error("busy: {MAX_CONNECTIONS} other clients are being read; try again")]
struct Busy;

/// Why a connection's request could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("no whole request line within {} ms", REQUEST_DEADLINE.as_millis())]
    Deadline,
    #[error("request longer than {MAX_REQUEST} bytes")]
    TooLong,
    #[error("the client closed the connection before a whole request line")]
    Closed,
    #[error(transparent)]
    Io(std::io::Error),
    #[error(transparent)]
    Unknown(#[from] UnknownRequest),
}

/// One request line from `stream`, read within [`REQUEST_DEADLINE`] in all.
fn read_request(mut stream: &UnixStream) -> Result<Request, ReadError> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut line = Vec::with_capacity(64);
    let mut buf = [0u8; 64];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Deadline);
        }
        stream.set_read_timeout(Some(left)).map_err(ReadError::Io)?;
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(ReadError::Closed),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(ReadError::Deadline);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        line.extend_from_slice(&buf[..n]);
        if let Some(end) = line.iter().position(|&b| b == b'\n') {
            line.truncate(end);
            return Ok(Request::parse(&String::from_utf8_lossy(&line))?);
        }
        if line.len() >= MAX_REQUEST {
            return Err(ReadError::TooLong);
        }
    }
}

/// Sends `request` to the screen listening at `path` and returns its answer (`Err` for an
/// `error …` answer, with the screen's reason). A "busy" answer (other clients being read) is
/// tried again until [`TIMEOUT`].
pub fn send(path: &Path, request: &Request) -> Result<String, ControlError> {
    let given_up = Instant::now() + TIMEOUT;
    loop {
        let line = exchange(path, request)?;
        let line = line.trim_end();
        match line.split_once(' ').unwrap_or((line, "")) {
            ("ok", text) => return Ok(text.to_string()),
            ("error", why) if why.starts_with("busy") && Instant::now() < given_up => {
                std::thread::sleep(Duration::from_millis(100));
            }
            ("error", why) => return Err(ControlError::Refused(why.to_string())),
            _ => return Err(ControlError::Refused(format!("the screen answered {line:?}; expected ok or error"))),
        }
    }
}

/// One request line out, one answer line back.
fn exchange(path: &Path, request: &Request) -> Result<String, ControlError> {
    let p = || path.display().to_string();
    let mut stream = UnixStream::connect(path).map_err(|source| ControlError::NotRunning { path: p(), source })?;
    let io = |source| ControlError::Io { path: p(), source };
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.write_all(format!("{}\n", request.line()).as_bytes()).map_err(io)?;
    let mut line = String::new();
    BufReader::new((&stream).take(4096)).read_line(&mut line).map_err(io)?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::CaseError;
    use crate::cases::desk::Answer;
    use crate::cases::requests::{Inbox, Refusal, channel};

    /// A server at `path` and the queue its requests go to.
    fn serve(path: &Path) -> (ControlServer, Inbox) {
        let (out, inbox) = channel();
        (ControlServer::bind(path, out).unwrap(), inbox)
    }

    /// A request over the socket reaches the server, its answer the client; a second server on
    /// the same path is refused while the first listens; the socket is owner-and-group only.
    #[test]
    fn a_request_round_trips_and_a_live_socket_is_not_taken_over() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("ctl");
        let path = dir.join("control.sock");
        let (server, inbox) = serve(&path);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(matches!(ControlServer::bind(&path, channel().0), Err(ControlError::InUse { .. })));
        assert!(inbox.poll().is_none(), "nothing waiting");
        let client = std::thread::spawn({
            let path = path.clone();
            move || send(&path, &Request::Open("S1".into()))
        });
        let (request, reply) = next_request(&inbox);
        assert_eq!(request, Request::Open("S1".into()));
        reply.send(Err(Refusal::Case(CaseError::AlreadyOpen { open: "S0".into(), wanted: "S1".into() })));
        let answer = client.join().unwrap().unwrap_err().to_string();
        assert!(answer.contains("case S0 is open"), "{answer}");
        drop(server);
        assert!(!path.exists(), "the socket file is removed with the server");
        let e = send(&path, &Request::Status).unwrap_err().to_string();
        assert!(e.contains("no screen process is listening"), "{e}");
        // A socket file left by a dead process is replaced.
        std::fs::write(&path, b"").unwrap();
        let again = ControlServer::bind(&path, channel().0);
        assert!(again.is_ok(), "{again:?}");
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A client that sends far more than a request, with no line end: the server reads its
    /// first 256 bytes, answers with an error, and is free for the next request.
    #[test]
    fn an_endless_request_is_cut_and_answered() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("ctl-long");
        let path = dir.join("control.sock");
        let (_server, inbox) = serve(&path);
        let client = std::thread::spawn({
            let path = path.clone();
            move || {
                let mut stream = UnixStream::connect(&path).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                // The server may close before reading it all; that is the point.
                let _ = stream.write_all(&vec![b'o'; 100_000]);
                let mut answer = String::new();
                let _ = BufReader::new(&stream).read_line(&mut answer);
                answer
            }
        });
        let started = Instant::now();
        while !client.is_finished() && started.elapsed() < Duration::from_secs(10) {
            assert!(inbox.poll().is_none(), "an endless line is no request");
            std::thread::yield_now();
        }
        let answer = client.join().unwrap();
        assert!(answer.starts_with("error "), "{answer:?}");
        assert!(answer.len() < 1024, "the answer quotes a bounded part of the line: {} bytes", answer.len());
        let second = std::thread::spawn({
            let path = path.clone();
            move || send(&path, &Request::Status)
        });
        let (request, reply) = next_request(&inbox);
        assert_eq!(request, Request::Status);
        reply.send(Ok(Answer::Status { case: None, frames: 0 }));
        assert_eq!(second.join().unwrap().unwrap(), "no case open (0 frames read)");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Waits (yielding) until the server has read a request.
    fn next_request(inbox: &Inbox) -> (Request, Reply) {
        loop {
            if let Some(r) = inbox.poll() {
                return r;
            }
            std::thread::yield_now();
        }
    }

    /// A client that has sent half a line: polling does not read it (the loop never waits on
    /// a client), and it is not given up while it is within the deadline; the rest of its
    /// line makes the request. Before, `poll` read it with a 500 ms time-out inside the loop
    /// and answered an error.
    #[test]
    fn polling_never_reads_a_trickling_client() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("ctl-trickle");
        let path = dir.join("control.sock");
        let (server, inbox) = serve(&path);
        let (go_on, wait) = std::sync::mpsc::channel::<()>();
        let client = std::thread::spawn({
            let path = path.clone();
            move || {
                let mut stream = UnixStream::connect(&path).unwrap();
                stream.write_all(b"sta").unwrap();
                wait.recv().unwrap();
                stream.write_all(b"tus\n").unwrap();
                let mut answer = String::new();
                BufReader::new(&stream).read_line(&mut answer).unwrap();
                answer
            }
        });
        for _ in 0..100 {
            assert!(inbox.poll().is_none(), "half a line is no request yet");
        }
        go_on.send(()).unwrap();
        let (request, reply) = next_request(&inbox);
        assert_eq!(request, Request::Status);
        reply.send(Ok(Answer::Status { case: None, frames: 3 }));
        assert_eq!(client.join().unwrap(), "ok no case open (3 frames read)\n");
        drop(server);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Forty silent connections: at most [`MAX_CONNECTIONS`] are read (the rest answered
    /// "busy" at once), each dropped at the request deadline, and a real client's request —
    /// retried while busy — still reaches the screen while the silent ones stay connected.
    #[test]
    fn silent_connections_are_capped_and_a_real_client_gets_through() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("ctl-silent");
        let path = dir.join("control.sock");
        let (server, inbox) = serve(&path);
        let silent: Vec<UnixStream> = (0..40).map(|_| UnixStream::connect(&path).unwrap()).collect();
        let mut busy = 0;
        let mut dropped_at_deadline = 0;
        for s in &silent {
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            let mut answer = String::new();
            BufReader::new(s).read_line(&mut answer).unwrap();
            if answer.starts_with("error busy") {
                busy += 1;
            } else if answer.contains("no whole request line") {
                dropped_at_deadline += 1;
            } else {
                panic!("unexpected answer to a silent client: {answer:?}");
            }
        }
        assert!(dropped_at_deadline <= MAX_CONNECTIONS, "{dropped_at_deadline} read at once");
        assert!(busy >= 40 - MAX_CONNECTIONS, "{busy} answered busy");
        let client = std::thread::spawn({
            let path = path.clone();
            move || send(&path, &Request::Close)
        });
        let (request, reply) = next_request(&inbox);
        assert_eq!(request, Request::Close);
        reply.send(Err(Refusal::Case(CaseError::NoneOpen)));
        assert!(client.join().unwrap().unwrap_err().to_string().contains("no case is open"));
        drop(silent);
        drop(server);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
