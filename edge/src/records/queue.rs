//! Every record of a session goes through one queue on its way to the log: verdict changes,
//! snapshots and case events alike. While the log cannot be written (a full or pulled card)
//! they wait in memory, oldest first, and are retried with the next record or frame; the
//! oldest are given up only past [`MAX_PENDING_RECORDS`], and counted.

use super::{RecordError, Recorder};
use melanoscope_shared::formats::ScreeningRecord;
use melanoscope_shared::image::RgbImage;
use std::collections::VecDeque;
use std::path::PathBuf;

/// Records kept in memory while the log cannot be written (hours of verdict changes).
pub const MAX_PENDING_RECORDS: usize = 4096;

/// The session's way to the record log.
#[derive(Debug)]
pub struct LogQueue {
    recorder: Recorder,
    /// Records not yet in the log (it failed), oldest first.
    pending: VecDeque<ScreeningRecord>,
    /// Why the log last failed, while records wait.
    fault: Option<String>,
    /// Appends that failed (each retried later).
    errors: u64,
    /// Records given up on after [`MAX_PENDING_RECORDS`] waited.
    dropped: u64,
}

impl LogQueue {
    pub fn new(recorder: Recorder) -> Self {
        Self { recorder, pending: VecDeque::new(), fault: None, errors: 0, dropped: 0 }
    }

    /// The recorder, to make records with the session's model and objective.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Queues `record` (if any) after those still waiting and writes as many as the log takes.
    pub fn submit(&mut self, record: Option<ScreeningRecord>) {
        self.pending.extend(record);
        while let Some(r) = self.pending.front() {
            match self.recorder.append(r) {
                Ok(()) => {
                    self.pending.pop_front();
                }
                Err(e) => {
                    self.errors += 1;
                    if self.fault.is_none() {
                        tracing::error!(error = %melanoscope_shared::errors::Chain(&e), "record log: records wait in memory and are retried every frame");
                    }
                    self.fault = Some(melanoscope_shared::errors::error_chain(&e));
                    break;
                }
            }
        }
        if self.pending.is_empty() {
            if self.fault.take().is_some() {
                tracing::info!("record log writable again; every waiting record written");
            }
        } else {
            while self.pending.len() > MAX_PENDING_RECORDS {
                self.pending.pop_front();
                self.dropped += 1;
            }
        }
    }

    /// At the end of a session: one last try for the records still waiting; those the log still
    /// refuses are given up and counted in [`Self::dropped`] (the exit status says so).
    pub fn finish(&mut self) -> u64 {
        self.submit(None);
        let lost = self.pending.len() as u64;
        if lost > 0 {
            tracing::error!(
                records = lost,
                fault = self.fault.as_deref().unwrap_or(""),
                "records never written to the log"
            );
        }
        self.dropped += lost;
        self.pending.clear();
        lost
    }

    /// Writes a snapshot folder and queues its record like any other; returns the folder.
    pub fn snapshot(
        &mut self,
        frame: &RgbImage,
        overlay: &RgbImage,
        record: ScreeningRecord,
    ) -> Result<PathBuf, RecordError> {
        let (dir, record) = self.recorder.write_snapshot(frame, overlay, record)?;
        self.submit(Some(record));
        Ok(dir)
    }

    /// Why the log last failed, while records wait for it.
    pub fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    /// Records waiting for the log.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Appends that failed so far.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Records given up on so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use melanoscope_shared::formats::{ModelIdentity, RecordKind, Verdict};

    /// A snapshot taken while the log cannot be written (a full card: `/dev/full`) is saved
    /// and its record waits with the others instead of being lost.
    #[test]
    fn a_snapshot_record_waits_for_a_failing_log_like_any_other() {
        let full = std::path::Path::new("/dev/full");
        assert!(full.exists(), "this test needs /dev/full (every write fails with ENOSPC)");
        let dir = melanoscope_shared::scratch::ScratchDir::new("queue");
        let identity = ModelIdentity { bundle_sha256: [1; 32], signer: None };
        let recorder = Recorder::open(full, false, &dir.join("snaps"), [2; 32], identity, "40x").unwrap();
        let mut queue = LogQueue::new(recorder);
        let record = |q: &LogQueue, frame| {
            q.recorder().record(1_000 + frame, frame, RecordKind::VerdictChange, Verdict::Nevus, 0.1, Vec::new())
        };
        queue.submit(Some(record(&queue, 1)));
        assert!(queue.fault().is_some_and(|f| f.contains("/dev/full")), "{queue:?}");
        let img = RgbImage::filled(8, 8, [90, 40, 120]).unwrap();
        let snap = queue.snapshot(&img, &img, record(&queue, 2)).unwrap();
        assert!(snap.join("record.json").is_file(), "the snapshot folder is written");
        assert_eq!(queue.waiting(), 2, "the verdict change and the snapshot's record wait: {queue:?}");
        assert!(queue.errors() >= 2 && queue.dropped() == 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
