//! What the people at the screen ask of it between frames, from wherever they ask: the control
//! socket (`case open`, a barcode scanner in a terminal), the desktop window's keys, or the
//! web view's buttons. Every front end puts `(Request, Reply)` pairs into one bounded queue
//! ([`Outbox`]); the screening loop takes what waits ([`Inbox::poll`], never blocking) and
//! answers each on its [`Reply`], which goes back the way the request came.

use super::CaseError;
use super::desk::Answer;
use crate::records::RecordError;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

/// Requests read but not yet answered by the screen (it answers all of them every frame).
pub const MAX_WAITING: usize = 16;

/// A line that is not a request (or could not be read), answered with this and dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown request {0:?}; expected open ID, close, status, freeze or snapshot")]
pub struct UnknownRequest(pub String);

/// A request to the running screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Open(String),
    Close,
    Status,
    /// What a short press of the button does: freeze the view and save a snapshot of it, or,
    /// frozen, resume.
    Freeze,
    /// Save a snapshot of what the screen shows, without freezing it (a remote viewer's
    /// button: the person at the microscope keeps a live view).
    Snapshot,
}

impl Request {
    /// The request as one line of the control socket's protocol.
    pub fn line(&self) -> String {
        match self {
            Request::Open(id) => format!("open {id}"),
            Request::Close => "close".into(),
            Request::Status => "status".into(),
            Request::Freeze => "freeze".into(),
            Request::Snapshot => "snapshot".into(),
        }
    }

    /// Parses a request line; the error is the reply to send.
    pub fn parse(line: &str) -> Result<Self, UnknownRequest> {
        let line = line.trim_end_matches(['\r', '\n']);
        match line.split_once(' ') {
            Some(("open", id)) => Ok(Request::Open(id.to_string())),
            None if line == "close" => Ok(Request::Close),
            None if line == "status" => Ok(Request::Status),
            None if line == "freeze" => Ok(Request::Freeze),
            None if line == "snapshot" => Ok(Request::Snapshot),
            _ => Err(UnknownRequest(line.escape_debug().to_string())),
        }
    }

    /// Whether the request changes anything (a read-only viewer may only ask for status).
    pub fn changes(&self) -> bool {
        !matches!(self, Request::Status)
    }
}

/// Why the screen refused a request.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error("the snapshot was not saved")]
    Snapshot(#[source] RecordError),
    #[error("no frame has been screened yet; there is nothing to save")]
    NothingShown,
    #[error("busy: {0} other requests are waiting for the screen; try again")]
    Busy(usize),
}

/// Where a request's answer goes.
#[derive(Debug)]
pub struct Reply(To);

#[derive(Debug)]
enum To {
    /// A control-socket client: one `ok …`/`error …` line.
    Socket(UnixStream),
    /// A window or web request waiting on the other end.
    Channel(SyncSender<Result<String, String>>),
}

impl Reply {
    /// Answers on `stream` without waiting: an answer line fits the socket's buffer, and a
    /// client that does not read it is not waited for.
    pub(crate) fn socket(stream: UnixStream) -> Self {
        let _ = stream.set_nonblocking(true);
        Self(To::Socket(stream))
    }

    /// A reply that arrives on the returned receiver: `Ok(answer)` or `Err(reason)`.
    pub fn channel() -> (Self, Receiver<Result<String, String>>) {
        let (send, receive) = std::sync::mpsc::sync_channel(1);
        (Self(To::Channel(send)), receive)
    }

    /// Sends the screen's answer, or why it refused.
    pub fn send(self, answer: Result<Answer, Refusal>) {
        match &answer {
            Ok(a) => self.line(Ok(a)),
            Err(e) => self.line(Err(e)),
        }
    }

    pub(crate) fn line(self, result: Result<&dyn std::fmt::Display, &(dyn std::error::Error + 'static)>) {
        let result = result
            .map(|text| text.to_string())
            .map_err(|why| melanoscope_shared::errors::error_chain(why).replace('\n', " "));
        match self.0 {
            To::Socket(mut stream) => {
                let line = match result {
                    Ok(text) => format!("ok {text}\n"),
                    Err(why) => format!("error {why}\n"),
                };
                if let Err(e) = stream.write_all(line.as_bytes()) {
                    tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), "control socket: the client left before its answer");
                }
            }
            // A requester that stopped waiting is not an error.
            To::Channel(send) => {
                let _ = send.try_send(result);
            }
        }
    }
}

/// The sending end of the screen's request queue; cloned by every front end.
#[derive(Debug, Clone)]
pub struct Outbox(SyncSender<(Request, Reply)>);

impl Outbox {
    /// Queues `request` for the screen; a full queue answers "busy" at once on `reply`.
    pub fn offer(&self, request: Request, reply: Reply) {
        if let Err(TrySendError::Full((_, reply)) | TrySendError::Disconnected((_, reply))) =
            self.0.try_send((request, reply))
        {
            reply.send(Err(Refusal::Busy(MAX_WAITING)));
        }
    }
}

/// The screening loop's end of the queue.
#[derive(Debug)]
pub struct Inbox(Receiver<(Request, Reply)>);

impl Inbox {
    /// The next request already queued, if any. Never waits.
    pub fn poll(&self) -> Option<(Request, Reply)> {
        self.0.try_recv().ok()
    }
}

/// A bounded request queue ([`MAX_WAITING`]).
pub fn channel() -> (Outbox, Inbox) {
    let (send, receive) = std::sync::mpsc::sync_channel(MAX_WAITING);
    (Outbox(send), Inbox(receive))
}

/// What a front end (window, web view) may do to the running screen: queue requests, and end
/// the session as a stop signal would (a closed window).
#[derive(Debug, Clone)]
pub struct Operator {
    pub requests: Outbox,
    pub stop: Arc<AtomicBool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_odd_lines_are_named() {
        assert_eq!(Request::parse("open S26-0042\n"), Ok(Request::Open("S26-0042".into())));
        assert_eq!(Request::parse("close\r\n"), Ok(Request::Close));
        assert_eq!(Request::parse("status"), Ok(Request::Status));
        assert_eq!(Request::parse("snapshot"), Ok(Request::Snapshot));
        assert_eq!(Request::parse("freeze"), Ok(Request::Freeze));
        for r in [Request::Open("A".into()), Request::Close, Request::Status, Request::Freeze, Request::Snapshot] {
            assert_eq!(Request::parse(&r.line()), Ok(r));
        }
        let e = Request::parse("delete everything").unwrap_err().to_string();
        assert!(e.contains("delete everything") && e.contains("open ID"), "{e}");
    }

    /// A full queue answers "busy" on the reply at once; the loop's poll never waits.
    #[test]
    fn a_full_queue_answers_busy() {
        let (out, inbox) = channel();
        let mut waiting = Vec::new();
        for _ in 0..MAX_WAITING {
            let (reply, answer) = Reply::channel();
            out.offer(Request::Status, reply);
            waiting.push(answer);
        }
        let (reply, answer) = Reply::channel();
        out.offer(Request::Close, reply);
        let busy = answer.try_recv().unwrap().unwrap_err();
        assert!(busy.starts_with("busy"), "{busy}");
        assert!(waiting.iter().all(|w| w.try_recv().is_err()), "queued requests wait for the screen");
        let (request, reply) = inbox.poll().unwrap();
        assert_eq!(request, Request::Status);
        reply.send(Ok(Answer::Status { case: None, frames: 2 }));
        assert_eq!(waiting[0].try_recv().unwrap(), Ok("no case open (2 frames read)".to_string()));
    }
}
