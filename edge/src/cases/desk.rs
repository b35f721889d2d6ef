//! The case desk: where cases are opened and closed while `screen` runs — from the screen's
//! request queue (the control socket's `case open`/`case close`/`case status`, the window's
//! keys, the web view's buttons), a long press of the button, or `screen --case`. It owns the
//! case book, logs each case event through the session's log queue, and answers in types
//! ([`Answer`], [`CaseError`]) that each front end shows its own way.

use super::requests::Request;
use super::{CaseBook, CaseError};
use crate::analysis::Analysis;
use crate::records::queue::LogQueue;
use crate::records::{iso8601_utc, unix_ms};
use melanoscope_shared::formats::{RecordKind, Verdict};
use melanoscope_shared::image::RgbImage;
use std::fmt;

/// What a case request did.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Opened {
        id: String,
    },
    Closed {
        id: String,
        verdict: Option<Verdict>,
    },
    /// The open case (if any) and the frames the session has read.
    Status {
        case: Option<String>,
        frames: u64,
    },
    /// The view froze; its snapshot was saved in `snapshot` (none before the first frame).
    Frozen {
        snapshot: Option<String>,
    },
    Resumed,
    /// A snapshot of the live view was saved here.
    Snapshot {
        dir: String,
    },
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Opened { id } => write!(f, "case {id} opened"),
            Answer::Closed { id, verdict } => {
                write!(f, "case {id} closed: {}", verdict.map_or("no verdict", |v| v.label()))
            }
            Answer::Status { case: Some(id), frames } => write!(f, "case {id} open ({frames} frames)"),
            Answer::Status { case: None, frames } => write!(f, "no case open ({frames} frames read)"),
            Answer::Frozen { snapshot: Some(dir) } => write!(f, "view frozen; snapshot saved in {dir}"),
            Answer::Frozen { snapshot: None } => write!(f, "view frozen"),
            Answer::Resumed => write!(f, "live view resumed"),
            Answer::Snapshot { dir } => write!(f, "snapshot saved in {dir}"),
        }
    }
}

/// Cases opened and closed in this session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeskCounts {
    pub opened: u64,
    pub closed: u64,
}

/// The cases of a running screen.
#[derive(Debug)]
pub struct CaseDesk {
    book: CaseBook,
    objective: String,
    /// µm per camera pixel at the objective (cases record it).
    um_per_px: f64,
    counts: DeskCounts,
    /// Why the case folder last failed to be written (a full card), while it fails.
    fault: Option<String>,
}

impl CaseDesk {
    pub fn new(book: CaseBook, objective: &str, um_per_px: f64) -> Self {
        Self { book, objective: objective.into(), um_per_px, counts: DeskCounts::default(), fault: None }
    }

    /// The open case's id.
    pub fn current(&self) -> Option<&str> {
        self.book.current()
    }

    pub fn counts(&self) -> DeskCounts {
        self.counts
    }

    /// Marks cases found open at start (cut off by a power cut or crash) in the log.
    pub fn interrupted(&self, ids: Vec<String>, log: &mut LogQueue) {
        for id in ids {
            tracing::warn!(case = %id, "case was open when the device stopped: marked interrupted, its records kept");
            self.record(log, 0, RecordKind::CaseInterrupted, Verdict::Uncertain, Some(id));
        }
    }

    /// Opens case `id` and logs it; `frame`: the last frame read.
    pub fn open(&mut self, id: &str, frame: u64, log: &mut LogQueue) -> Result<Answer, CaseError> {
        self.book.open(id, unix_ms(), &self.objective, self.um_per_px)?;
        self.counts.opened += 1;
        tracing::info!(case = %id, "case opened");
        self.record(log, frame, RecordKind::CaseOpened, Verdict::Uncertain, None);
        Ok(Answer::Opened { id: id.into() })
    }

    /// Closes the open case and logs it with its verdict.
    ///
    /// The `case-closed` record goes to the log before `case.json` says closed: a kill in
    /// between leaves a case still open on disk, marked interrupted at the next start with its
    /// close in the log — never a closed case whose close no record shows. (When saving fails
    /// the case stays open and the close can be tried again; the log then shows both tries.)
    pub fn close(&mut self, frame: u64, log: &mut LogQueue) -> Result<Answer, CaseError> {
        let id = self.book.current().ok_or(CaseError::NoneOpen)?.to_string();
        let verdict = self.book.verdict();
        let kind = RecordKind::CaseClosed { verdict };
        self.record(log, frame, kind, verdict.unwrap_or(Verdict::Uncertain), Some(id.clone()));
        let closed = self.book.close(unix_ms());
        self.note(closed.as_ref().map(|_| ()));
        let closed = closed?;
        self.counts.closed += 1;
        tracing::info!(case = %closed.id, verdict = %verdict.map_or("no verdict", |v| v.label()), "case closed");
        Ok(Answer::Closed { id: closed.id, verdict })
    }

    /// Why the case folder last failed to be written, while it fails (the banner shows it).
    pub fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    /// Keeps the case folder's state: a failed write is shown until one succeeds.
    fn note(&mut self, result: Result<(), &CaseError>) {
        match result {
            Ok(()) => {
                if self.fault.take().is_some() {
                    tracing::info!("case folder writable again");
                }
            }
            Err(e @ (CaseError::Io { .. } | CaseError::Image(_) | CaseError::Malformed { .. })) => {
                self.fault = Some(melanoscope_shared::errors::error_chain(e));
            }
            Err(_) => {}
        }
    }

    /// A long press: closes the open case, or opens one named by the date and time.
    pub fn long_press(&mut self, frame: u64, log: &mut LogQueue) {
        let result = if self.book.current().is_some() {
            self.close(frame, log)
        } else {
            let id = case_id_at(unix_ms());
            self.open(&id, frame, log)
        };
        if let Err(e) = result {
            tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), "long press");
        }
    }

    /// Answers a case request (`open`, `close`, `status`); `frames`: frames read so far. The
    /// view's requests (freeze, snapshot) are the session's: `None` here.
    pub fn answer(
        &mut self,
        request: &Request,
        frame: u64,
        frames: u64,
        log: &mut LogQueue,
    ) -> Option<Result<Answer, CaseError>> {
        Some(match request {
            Request::Open(id) => self.open(id, frame, log),
            Request::Close => self.close(frame, log),
            Request::Status => Ok(Answer::Status { case: self.current().map(str::to_string), frames }),
            Request::Freeze | Request::Snapshot => return None,
        })
    }

    /// The open case's verdict so far (the highest the screen showed while it was open).
    pub fn case_verdict(&self) -> Option<Verdict> {
        self.book.verdict()
    }

    /// Counts one screened frame into the open case (if any); see [`CaseBook::frame`].
    pub fn frame(
        &mut self,
        frame_id: u64,
        corrected: &RgbImage,
        analysis: &Analysis,
        shown: Verdict,
        positive: usize,
    ) -> Result<(), CaseError> {
        let result = self.book.frame(frame_id, unix_ms(), corrected, analysis, shown, positive);
        self.note(result.as_ref().map(|_| ()));
        result
    }

    /// Logs a case event (`case`: the id when it is not the open case's).
    fn record(&self, log: &mut LogQueue, frame: u64, kind: RecordKind, verdict: Verdict, case: Option<String>) {
        let mut record = log.recorder().record(unix_ms(), frame, kind, verdict, 0.0, Vec::new());
        record.case = case.or_else(|| self.current().map(str::to_string));
        log.submit(Some(record));
    }
}

/// The id a long press gives a case: `C` and the UTC date and time, e.g. `C20261201-210817`.
fn case_id_at(unix_ms: u64) -> String {
    let digits: String = iso8601_utc(unix_ms).chars().filter(char::is_ascii_digit).take(14).collect();
    let (date, time) = digits.split_at(8.min(digits.len()));
    format!("C{date}-{time}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_before_and_long_press_ids_are_dated() {
        assert_eq!(Answer::Opened { id: "S1".into() }.to_string(), "case S1 opened");
        let closed = Answer::Closed { id: "S1".into(), verdict: Some(Verdict::MelanomaSuspected) };
        assert_eq!(closed.to_string(), "case S1 closed: MELANOMA SUSPECTED");
        assert_eq!(Answer::Closed { id: "S1".into(), verdict: None }.to_string(), "case S1 closed: no verdict");
        assert_eq!(Answer::Status { case: Some("S1".into()), frames: 7 }.to_string(), "case S1 open (7 frames)");
        assert_eq!(Answer::Status { case: None, frames: 7 }.to_string(), "no case open (7 frames read)");
        // 2026-12-01T21:08:17.123Z
        assert_eq!(case_id_at(1_796_159_297_123), "C20261201-210817");
    }
}
