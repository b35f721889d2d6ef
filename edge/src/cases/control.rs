//! The running `screen`'s control channel: a Unix socket (owner and group may connect) over
//! which `melanoscope-edge case open ID` / `case close` / `case status` — typed on a keyboard,
//! or a barcode scanner's keystrokes in a terminal — reach the screening loop. One line a
//! request (`open ID`, `close`, `status`), one line back (`ok …` or `error …`). The loop polls
//! it between frames without blocking; a client that sends nothing is dropped after a timeout.

use super::CaseError;
use super::desk::Answer;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest request line read (a case id is at most 64 bytes).
const MAX_REQUEST: u64 = 256;
/// How long a client waits for the screen's answer (the screen answers between frames).
const TIMEOUT: Duration = Duration::from_secs(6);
/// How long the screen waits for a connected client's request line: clients send it at once,
/// and the screening loop must not stall on one that does not.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {path}")]
    Io { path: String, source: std::io::Error },
    #[error("control socket {path}: another screen process is listening on it")]
    InUse { path: String },
    #[error(
        "control socket {path}: no screen process is listening ({source}); start `melanoscope-edge screen` \
         (or the service) with this site file"
    )]
    NotRunning { path: String, source: std::io::Error },
    #[error("{0}")]
    Refused(String),
}

/// A line that is not a request (or could not be read), answered with this and dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown request {0:?}; expected open ID, close or status")]
pub struct UnknownRequest(pub String);

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Open(String),
    Close,
    Status,
}

impl Request {
    pub fn line(&self) -> String {
        match self {
            Request::Open(id) => format!("open {id}"),
            Request::Close => "close".into(),
            Request::Status => "status".into(),
        }
    }

    /// Parses a request line; the error is the reply to send.
    pub fn parse(line: &str) -> Result<Self, UnknownRequest> {
        let line = line.trim_end_matches(['\r', '\n']);
        match line.split_once(' ') {
            Some(("open", id)) => Ok(Request::Open(id.to_string())),
            None if line == "close" => Ok(Request::Close),
            None if line == "status" => Ok(Request::Status),
            _ => Err(UnknownRequest(line.escape_debug().to_string())),
        }
    }
}

/// The listening end, owned by the screening loop.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlServer {
    /// Listens at `path` (its folder created), readable and writable by owner and group. A
    /// socket file left by a process that died is replaced; one that answers is refused.
    pub fn bind(path: &Path) -> Result<Self, ControlError> {
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
        listener.set_nonblocking(true).map_err(err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
        Ok(Self { listener, path: path.to_path_buf() })
    }

    /// The next waiting request, if any, with the connection to answer on. A malformed one is
    /// answered here and skipped.
    pub fn poll(&self) -> Option<(Request, Reply)> {
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
                Err(e) => {
                    tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), socket = %self.path.display(), "control socket");
                    return None;
                }
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
            let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
            let mut line = String::new();
            let read = BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line);
            let reply = Reply { stream };
            match read {
                Ok(_) => match Request::parse(&line) {
                    Ok(r) => return Some((r, reply)),
                    Err(unknown) => reply.line(Err(&unknown)),
                },
                Err(e) => reply.line(Err(&e)),
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where a request's answer goes.
#[derive(Debug)]
pub struct Reply {
    stream: UnixStream,
}

impl Reply {
    /// Sends the desk's answer, or why it refused, as one `ok …` / `error …` line.
    pub fn send(self, answer: Result<Answer, CaseError>) {
        match &answer {
            Ok(a) => self.line(Ok(a)),
            Err(e) => self.line(Err(e)),
        }
    }

    fn line(mut self, result: Result<&dyn std::fmt::Display, &(dyn std::error::Error + 'static)>) {
        let line = match result {
            Ok(text) => format!("ok {text}\n"),
            Err(why) => format!("error {}\n", melanoscope_shared::errors::error_chain(why).replace('\n', " ")),
        };
        if let Err(e) = self.stream.write_all(line.as_bytes()) {
            tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), "control socket: the client left before its answer");
        }
    }
}

/// Sends `request` to the screen listening at `path` and returns its answer (`Err` for an
/// `error …` answer, with the screen's reason).
pub fn send(path: &Path, request: &Request) -> Result<String, ControlError> {
    let p = || path.display().to_string();
    let mut stream = UnixStream::connect(path).map_err(|source| ControlError::NotRunning { path: p(), source })?;
    let io = |source| ControlError::Io { path: p(), source };
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.write_all(format!("{}\n", request.line()).as_bytes()).map_err(io)?;
    let mut line = String::new();
    BufReader::new((&stream).take(4096)).read_line(&mut line).map_err(io)?;
    let line = line.trim_end();
    match line.split_once(' ').unwrap_or((line, "")) {
        ("ok", text) => Ok(text.to_string()),
        ("error", why) => Err(ControlError::Refused(why.to_string())),
        _ => Err(ControlError::Refused(format!("the screen answered {line:?}; expected ok or error"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_odd_lines_are_named() {
        assert_eq!(Request::parse("open S26-0042\n"), Ok(Request::Open("S26-0042".into())));
        assert_eq!(Request::parse("close\r\n"), Ok(Request::Close));
        assert_eq!(Request::parse("status"), Ok(Request::Status));
        let e = Request::parse("delete everything").unwrap_err().to_string();
        assert!(e.contains("delete everything") && e.contains("open ID"), "{e}");
    }

    /// A request over the socket reaches the server, its answer the client; a second server on
    /// the same path is refused while the first listens; the socket is owner-and-group only.
    #[test]
    fn a_request_round_trips_and_a_live_socket_is_not_taken_over() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("ctl");
        let path = dir.join("control.sock");
        let server = ControlServer::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(matches!(ControlServer::bind(&path), Err(ControlError::InUse { .. })));
        assert!(server.poll().is_none(), "nothing waiting");
        let client = std::thread::spawn({
            let path = path.clone();
            move || send(&path, &Request::Open("S1".into()))
        });
        let (request, reply) = loop {
            if let Some(r) = server.poll() {
                break r;
            }
            std::thread::yield_now();
        };
        assert_eq!(request, Request::Open("S1".into()));
        reply.send(Err(CaseError::AlreadyOpen { open: "S0".into(), wanted: "S1".into() }));
        let answer = client.join().unwrap().unwrap_err().to_string();
        assert!(answer.contains("case S0 is open"), "{answer}");
        drop(server);
        assert!(!path.exists(), "the socket file is removed with the server");
        let e = send(&path, &Request::Status).unwrap_err().to_string();
        assert!(e.contains("no screen process is listening"), "{e}");
        // A socket file left by a dead process is replaced.
        std::fs::write(&path, b"").unwrap();
        let again = ControlServer::bind(&path);
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
        let server = ControlServer::bind(&path).unwrap();
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
        let started = std::time::Instant::now();
        while !client.is_finished() && started.elapsed() < Duration::from_secs(10) {
            assert!(server.poll().is_none(), "an endless line is no request");
            std::thread::yield_now();
        }
        let answer = client.join().unwrap();
        assert!(answer.starts_with("error "), "{answer:?}");
        assert!(answer.len() < 1024, "the answer quotes a bounded part of the line: {} bytes", answer.len());
        let second = std::thread::spawn({
            let path = path.clone();
            move || send(&path, &Request::Status)
        });
        let (request, reply) = loop {
            if let Some(r) = server.poll() {
                break r;
            }
            std::thread::yield_now();
        };
        assert_eq!(request, Request::Status);
        reply.send(Ok(Answer::Status { case: None, frames: 0 }));
        assert_eq!(second.join().unwrap().unwrap(), "no case open");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
