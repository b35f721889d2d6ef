//! The screening loop: frame → gates, fields, inference, CAM → averaged verdict → screen,
//! LEDs and the record log; the button freezes the view and saves a snapshot. Corrupt frames
//! are skipped and counted; a lost camera puts its state on the screen instead of stopping.

use super::analyse::{Analysis, Analyzer, StageTimes};
use super::render::{Renderer, ScreenState};
use super::setup::SetupError;
use super::verdict::{TrackerSettings, VerdictTracker, VerdictUpdate};
use crate::cases::control::{ControlServer, Reply, Request};
use crate::cases::{CaseBook, ModelCard};
use crate::config::EdgeConfig;
use crate::records::{Recorder, unix_ms};
use crate::sinks::DisplaySink;
use crate::source::{Frame, FrameSource, SourceError};
use crate::truth::FrameRow;
use melanoscope_boards::button::Press;
use melanoscope_boards::controls::{FreezeButton, Indicators};
use melanoscope_boards::status_leds::Indicator;
use melanoscope_engine::LoadedBundle;
use melanoscope_shared::formats::{FieldScore, RecordKind, ScreeningRecord, Verdict};
use std::time::Instant;

/// The LED a verdict lights: green for nevus, red for melanoma suspected, amber for anything
/// that needs the user (uncertain, or a gate).
pub fn indicator_for(v: Verdict) -> Indicator {
    match v {
        Verdict::MelanomaSuspected => Indicator::Red,
        Verdict::Nevus => Indicator::Green,
        Verdict::Uncertain
        | Verdict::InsufficientTissue
        | Verdict::OutOfFocus
        | Verdict::Underexposed
        | Verdict::Overexposed
        | Verdict::FrameTooSmall
        | Verdict::UnfamiliarTissue => Indicator::Amber,
    }
}

/// Counts of one session.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SessionStats {
    pub frames: u64,
    pub screened: u64,
    pub gated: u64,
    pub corrupt: u64,
    /// Frames larger than the source accepts, refused from their header.
    pub oversized: u64,
    pub source_errors: u64,
    pub analysis_errors: u64,
    pub sink_errors: u64,
    pub verdict_changes: u64,
    pub snapshots: u64,
    /// Appends to the record log that failed (each retried on the next frame).
    pub log_errors: u64,
    /// Records given up on after [`MAX_PENDING_RECORDS`] waited for the log.
    pub records_dropped: u64,
    /// Frames gated as UNFAMILIAR TISSUE, and tissue fields scored unfamiliar.
    pub unfamiliar_frames: u64,
    pub unfamiliar_fields: u64,
    /// Case folder writes that failed (the case goes on; its page may miss a field).
    pub case_errors: u64,
    /// Cases opened and closed.
    pub cases_opened: u64,
    pub cases_closed: u64,
    /// Every verdict shown, in order, with the frame index (changes only).
    pub verdicts: Vec<(u64, String)>,
    /// The source ended (a replay ran out, or a camera stream closed).
    pub source_ended: bool,
}

/// The exit status when a camera stream ends: a fault, so that the service restarts it.
pub const EXIT_STREAM_ENDED: i32 = 4;

impl SessionStats {
    /// The process's exit status after a session that read from a camera stream (`stream`)
    /// or a replay: a stream that ended is [`EXIT_STREAM_ENDED`] (`rpicam-vid | screen` after
    /// the camera process died must be restarted, not end quietly); anything else 0.
    pub fn exit_status(&self, stream: bool) -> i32 {
        if stream && self.source_ended { EXIT_STREAM_ENDED } else { 0 }
    }
}

/// Records kept in memory while the log cannot be written (hours of verdict changes).
pub const MAX_PENDING_RECORDS: usize = 4096;

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Frame(VerdictUpdate),
    /// A corrupt frame was skipped.
    Skipped(String),
    /// The source is away; the screen says why. Wait a frame period and step again.
    Waiting(String),
    End,
}

/// Milliseconds of each stage of the last frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct FrameTimes {
    pub capture_ms: f64,
    pub stages: StageTimes,
    pub render_ms: f64,
    pub output_ms: f64,
}

/// A running screening session.
pub struct Session<S, L, B> {
    source: S,
    analyzer: Analyzer,
    tracker: VerdictTracker,
    renderer: Renderer,
    sinks: Vec<Box<dyn DisplaySink>>,
    leds: L,
    button: B,
    recorder: Recorder,
    objective: String,
    started: Instant,
    frozen: bool,
    last: Option<(u64, Analysis)>,
    /// Records not yet in the log (it failed), oldest first.
    pending: std::collections::VecDeque<ScreeningRecord>,
    /// Why the log last failed, while records wait.
    log_fault: Option<String>,
    pub stats: SessionStats,
    pub times: FrameTimes,
    /// Every frame's verdict, when kept ([`Session::with_frame_table`]: a replay, which ends).
    frame_rows: Option<Vec<FrameRow>>,
    cases: CaseBook,
    control: Option<ControlServer>,
    /// µm per camera pixel at the objective (cases record it).
    um_per_px: f64,
}

impl<S, L, B> std::fmt::Debug for Session<S, L, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("objective", &self.objective).field("stats", &self.stats).finish()
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// What a session screens from, besides its settings: the frame source and the board's LEDs
/// and button. Display sinks are added with [`Session::with_sinks`].
#[derive(Debug)]
pub struct SessionIo<S, L, B> {
    pub source: S,
    pub leds: L,
    pub button: B,
}

/// Everything of a session that its settings and bundle decide, opened and checked: it starts
/// with the source, LEDs and button it is given (which a failed start does not use up).
#[derive(Debug)]
pub struct PreparedSession {
    analyzer: Analyzer,
    tracker: TrackerSettings,
    renderer: Renderer,
    recorder: Recorder,
    objective: String,
    cases: CaseBook,
    /// Cases found open at start (cut off by a power cut or crash).
    interrupted: Vec<String>,
    um_per_px: f64,
}

impl PreparedSession {
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    pub fn start<S: FrameSource, L: Indicators, B: FreezeButton>(self, io: SessionIo<S, L, B>) -> Session<S, L, B> {
        let interrupted = self.interrupted;
        let mut session = Session {
            source: io.source,
            analyzer: self.analyzer,
            tracker: VerdictTracker::new(self.tracker),
            renderer: self.renderer,
            sinks: Vec::new(),
            leds: io.leds,
            button: io.button,
            recorder: self.recorder,
            objective: self.objective,
            started: Instant::now(),
            frozen: false,
            last: None,
            pending: std::collections::VecDeque::new(),
            log_fault: None,
            stats: SessionStats::default(),
            times: FrameTimes::default(),
            frame_rows: None,
            cases: self.cases,
            control: None,
            um_per_px: self.um_per_px,
        };
        for id in interrupted {
            tracing::warn!(case = %id, "case was open when the device stopped: marked interrupted, its records kept");
            session.case_record(RecordKind::CaseInterrupted, Verdict::Uncertain, Some(id));
        }
        session
    }
}

impl Session<(), (), ()> {
    /// The session `cfg` describes, screening with `bundle` (opened and self-tested, e.g. by
    /// [`super::setup::open_bundle`]): the active objective's calibration, the bundle's
    /// thresholds with the screening settings, the display size, the record log and snapshot
    /// folder. `screen` and the end-to-end tests wire a session here, once.
    pub fn from_config(cfg: &EdgeConfig, bundle: LoadedBundle) -> Result<PreparedSession, SetupError> {
        let (objective, calibration, um_per_px) = cfg.active_objective()?;
        let meta = &bundle.file.meta;
        let camera_size =
            (cfg.camera.source != crate::config::CameraSource::Replay).then_some((cfg.camera.width, cfg.camera.height));
        super::objective::check_objective(objective, um_per_px, meta.um_per_px, meta.input_size, camera_size)?;
        if let Some(f) = &meta.frame_choice
            && f.aggregation != cfg.screening.aggregation_rule()
        {
            // The threshold was chosen for frames aggregated the bundle's way: another way
            // moves the probabilities it applies to.
            tracing::warn!(
                bundle = %f.aggregation.name(),
                site = %cfg.screening.aggregation_rule().name(),
                "the bundle's frame threshold was chosen with another field aggregation than screening.aggregation"
            );
        }
        let tracker = TrackerSettings {
            threshold: meta.decision.threshold,
            uncertain_band: meta.decision.uncertain_band,
            ema_alpha: cfg.screening.ema_alpha,
            view_change: cfg.screening.view_change,
            hysteresis: cfg.screening.hysteresis,
        };
        let (sha, identity) = (meta.onnx_sha256, bundle.identity);
        let renderer = Renderer::new(cfg.display.width, cfg.display.height, cfg.screening.overlay_min_change)
            .map_err(SetupError::Display)?;
        let analyzer = Analyzer::new(bundle, calibration.clone(), um_per_px, &cfg.screening)?;
        let recorder =
            Recorder::open(&cfg.log.path, cfg.log.sync, &cfg.display.snapshot_dir, sha, identity, objective)?;
        let card = ModelCard::of(analyzer.bundle(), analyzer.familiarity_on());
        let (cases, interrupted) =
            CaseBook::new(&cfg.cases_dir(), cfg.cases.top_fields, card).map_err(SetupError::Cases)?;
        Ok(PreparedSession {
            analyzer,
            tracker,
            renderer,
            recorder,
            objective: objective.into(),
            cases,
            interrupted,
            um_per_px,
        })
    }
}

impl<S: FrameSource, L: Indicators, B: FreezeButton> Session<S, L, B> {
    /// Keeps a row for every frame screened (file, verdict, probabilities): for replays, whose
    /// frames are finite and may be judged against their truth; a camera runs for hours.
    pub fn with_frame_table(mut self) -> Self {
        self.frame_rows = Some(Vec::new());
        self
    }

    /// The frames kept by [`Session::with_frame_table`], in order (empty when not kept).
    pub fn frame_rows(&self) -> &[FrameRow] {
        self.frame_rows.as_deref().unwrap_or(&[])
    }

    /// Takes `open ID` / `close` / `status` from the control socket between frames.
    pub fn with_control(mut self, control: ControlServer) -> Self {
        self.control = Some(control);
        self
    }

    /// The open case's id.
    pub fn case(&self) -> Option<&str> {
        self.cases.current()
    }

    /// Opens case `id` and records it.
    pub fn open_case(&mut self, id: &str) -> Result<String, String> {
        let (objective, um) = (self.objective.clone(), self.um_per_px);
        self.cases.open(id, unix_ms(), &objective, um).map_err(|e| e.to_string())?;
        self.stats.cases_opened += 1;
        tracing::info!(case = %id, "case opened");
        self.case_record(RecordKind::CaseOpened, Verdict::Uncertain, None);
        Ok(format!("case {id} opened"))
    }

    /// Closes the open case, records it with its verdict, and says which.
    pub fn close_case(&mut self) -> Result<String, String> {
        let verdict = self.cases.verdict();
        let id = self.cases.current().map(str::to_string);
        let closed = self.cases.close(unix_ms()).map_err(|e| e.to_string())?;
        self.stats.cases_closed += 1;
        let label = closed.verdict.clone().unwrap_or_else(|| "no verdict".into());
        tracing::info!(case = %closed.id, verdict = %label, "case closed");
        self.case_record(RecordKind::CaseClosed { verdict }, verdict.unwrap_or(Verdict::Uncertain), id);
        Ok(format!("case {} closed: {label}", closed.id))
    }

    /// Logs a case event (`case`: the id when it is not the open case's).
    fn case_record(&mut self, kind: RecordKind, verdict: Verdict, case: Option<String>) {
        let index = self.last.as_ref().map_or(0, |(i, _)| *i);
        let mut record = self.recorder.record(unix_ms(), index, kind, verdict, 0.0, Vec::new());
        record.case = case.or_else(|| self.cases.current().map(str::to_string));
        self.log(Some(record));
    }

    fn status_line(&self) -> String {
        match self.cases.current() {
            Some(id) => format!("case {id} open ({} frames)", self.stats.frames),
            None => "no case open".into(),
        }
    }

    /// Answers what waits on the control socket.
    pub fn serve_control(&mut self) {
        let mut waiting: Vec<(Request, Reply)> = Vec::new();
        if let Some(control) = &self.control {
            while let Some(r) = control.poll() {
                waiting.push(r);
            }
        }
        for (request, reply) in waiting {
            let answer = match request {
                Request::Open(id) => self.open_case(&id),
                Request::Close => self.close_case(),
                Request::Status => Ok(self.status_line()),
            };
            reply.send(answer);
        }
    }

    /// A long press: closes the open case, or opens one named by the date and time.
    fn on_long_press(&mut self) {
        let result = if self.cases.current().is_some() {
            self.close_case()
        } else {
            let stamp = crate::records::iso8601_utc(unix_ms());
            // 2026-12-01T21:08:17.123Z -> C20261201-210817
            let digits: String = stamp.chars().filter(char::is_ascii_digit).take(14).collect();
            let id = format!("C{}-{}", &digits[..8.min(digits.len())], &digits[8.min(digits.len())..]);
            self.open_case(&id)
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "long press");
        }
    }

    /// Shows rendered frames on `sinks` as well.
    pub fn with_sinks(mut self, sinks: Vec<Box<dyn DisplaySink>>) -> Self {
        self.sinks.extend(sinks);
        self
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn leds(&mut self, i: Indicator) {
        if let Err(e) = self.leds.show(i) {
            tracing::warn!(error = %e, "status LEDs");
        }
    }

    fn output(&mut self) {
        let frame = self.renderer.canvas();
        for sink in &mut self.sinks {
            if let Err(e) = sink.show(frame) {
                self.stats.sink_errors += 1;
                tracing::warn!(sink = %sink.name(), error = %e, "display");
            }
        }
    }

    /// Shows a full-screen problem (amber LED) instead of a frame.
    pub fn show_problem(&mut self, title: &str, detail: &str) {
        self.renderer.message(title, detail);
        self.output();
        self.leds(Indicator::Amber);
    }

    /// Appends `record` after any still waiting; what cannot be written waits for the next try.
    fn log(&mut self, record: Option<ScreeningRecord>) {
        self.pending.extend(record);
        while let Some(r) = self.pending.front() {
            match self.recorder.append(r) {
                Ok(()) => {
                    self.pending.pop_front();
                }
                Err(e) => {
                    self.stats.log_errors += 1;
                    if self.log_fault.is_none() {
                        tracing::error!(error = %e, "record log: records wait in memory and are retried every frame");
                    }
                    self.log_fault = Some(e.to_string());
                    break;
                }
            }
        }
        if self.pending.is_empty() {
            if self.log_fault.take().is_some() {
                tracing::info!("record log writable again; every waiting record written");
            }
        } else {
            while self.pending.len() > MAX_PENDING_RECORDS {
                self.pending.pop_front();
                self.stats.records_dropped += 1;
            }
        }
    }

    /// What the banner must say besides the verdict.
    fn warning(&self) -> Option<&'static str> {
        if self.log_fault.is_some() {
            Some("LOG WRITE FAILED")
        } else if self.analyzer.bundle().identity.signer.is_none() {
            Some("UNSIGNED MODEL")
        } else {
            None
        }
    }

    /// Records written to the log or waiting for it.
    pub fn records_waiting(&self) -> usize {
        self.pending.len()
    }

    fn field_scores(a: &Analysis) -> Vec<FieldScore> {
        a.fields.iter().map(|f| FieldScore { col: f.col, row: f.row, probabilities: f.probabilities.clone() }).collect()
    }

    /// A record of `a` carrying the open case and the fields' familiarity scores.
    fn frame_record(&self, index: u64, kind: RecordKind, verdict: Verdict, p: f32, a: &Analysis) -> ScreeningRecord {
        let mut r = self.recorder.record(unix_ms(), index, kind, verdict, p, Self::field_scores(a));
        r.case = self.cases.current().map(str::to_string);
        r.familiarity = a.fields.iter().filter_map(|f| f.familiarity).collect();
        if r.familiarity.len() != r.fields.len() {
            r.familiarity.clear();
        }
        r
    }

    /// Reads and screens one frame.
    pub fn step(&mut self) -> Step {
        let now = self.now_ms();
        match self.button.press(now) {
            Ok(Some(Press::Short)) => self.on_press(),
            Ok(Some(Press::Long)) => self.on_long_press(),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "button"),
        }
        self.serve_control();
        let t = Instant::now();
        let frame = match self.source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return Step::End,
            Err(SourceError::Corrupt { origin, detail }) => {
                self.stats.corrupt += 1;
                tracing::warn!(%origin, %detail, "corrupt frame skipped");
                return Step::Skipped(format!("{origin}: {detail}"));
            }
            Err(SourceError::Oversized { origin, detail }) => {
                self.stats.oversized += 1;
                tracing::warn!(%origin, %detail, "oversized frame skipped");
                return Step::Skipped(format!("{origin}: {detail}"));
            }
            Err(e) => {
                self.stats.source_errors += 1;
                let msg = e.to_string();
                self.show_problem("CAMERA UNAVAILABLE", &msg);
                return Step::Waiting(msg);
            }
        };
        self.times.capture_ms = ms(t);
        self.stats.frames += 1;
        let step = self.screen_frame(&frame);
        // The source decodes its next frame into this one's buffer.
        self.source.recycle(frame.image);
        step
    }

    /// Analyses, tracks, logs and shows one frame.
    fn screen_frame(&mut self, frame: &Frame) -> Step {
        let analysis = match self.analyzer.analyse(&frame.image) {
            Ok(a) => a,
            Err(e) => {
                self.stats.analysis_errors += 1;
                let msg = format!("frame {}: {e}", frame.index);
                self.show_problem("SCREENING ERROR", &msg);
                return Step::Skipped(msg);
            }
        };
        self.times.stages = analysis.times;
        let r = &analysis.readings;
        tracing::debug!(
            frame = frame.index,
            mean_luma = r.mean_luma,
            clipped = r.clipped_fraction,
            tissue_fields = r.tissue_fields,
            sharpness = r.sharpness,
            gate = ?analysis.gate,
            probability = ?analysis.probability,
            "frame screened"
        );
        if analysis.gate.is_some() {
            self.stats.gated += 1;
        } else {
            self.stats.screened += 1;
        }
        self.stats.unfamiliar_fields += analysis.unfamiliar_fields as u64;
        if analysis.gate == Some(crate::gates::Gate::UnfamiliarTissue) {
            self.stats.unfamiliar_frames += 1;
        }
        let update = self.tracker.update(&frame.image, analysis.gate, analysis.probability);
        if let Some(rows) = &mut self.frame_rows {
            rows.push(FrameRow {
                frame: frame.index,
                file: frame.origin.clone(),
                verdict: update.verdict.label().to_string(),
                probability: update.probability,
                frame_probability: analysis.probability,
                tissue_fields: analysis.readings.tissue_fields,
            });
        }
        let record = update.changed.then(|| {
            let p = update.probability.unwrap_or(0.0) as f32;
            self.frame_record(frame.index, RecordKind::VerdictChange, update.verdict, p, &analysis)
        });
        self.log(record);
        let positive = usize::from(self.analyzer.bundle().file.meta.decision.positive_class);
        if let Err(e) =
            self.cases.frame(frame.index, unix_ms(), self.analyzer.corrected(), &analysis, update.verdict, positive)
        {
            self.stats.case_errors += 1;
            tracing::error!(error = %e, "case folder");
        }
        // Every frame: a camera or screening fault in between lit amber without changing the
        // verdict, and the LEDs only write pins when the indicator changes. A log that cannot
        // be written keeps it amber: verdicts are being shown that are not yet kept.
        let light = if self.log_fault.is_some() { Indicator::Amber } else { indicator_for(update.verdict) };
        self.leds(light);
        if update.changed {
            self.stats.verdict_changes += 1;
            self.stats.verdicts.push((frame.index, update.verdict.label().to_string()));
        }
        if !self.frozen {
            let t = Instant::now();
            let meta = &self.analyzer.bundle().file.meta;
            let case = self.cases.current().map_or(String::new(), |c| format!("case {c} | "));
            let status = format!(
                "{case}{} | {} | {} fields | focus {:.2} | frame {}",
                self.objective,
                frame.origin.rsplit('/').next().unwrap_or(""),
                analysis.readings.tissue_fields,
                analysis.readings.sharpness,
                frame.index
            );
            let state = ScreenState {
                frame: self.analyzer.corrected(),
                verdict: Some(update.verdict),
                probability: update.probability,
                threshold: meta.decision.threshold,
                fields: &analysis.fields,
                positive: usize::from(meta.decision.positive_class),
                restarted: update.restarted,
                status: &status,
                warning: self.warning(),
            };
            self.renderer.render(&state);
            self.times.render_ms = ms(t);
            let t = Instant::now();
            self.output();
            self.times.output_ms = ms(t);
        }
        self.last = Some((frame.index, analysis));
        Step::Frame(update)
    }

    /// First press: freeze the screen and save a snapshot of what it shows; second: resume.
    fn on_press(&mut self) {
        if self.frozen {
            self.frozen = false;
            return;
        }
        self.frozen = true;
        let Some((index, analysis)) = &self.last else { return };
        let verdict = self.tracker.verdict().unwrap_or(Verdict::Uncertain);
        let p = analysis.probability.unwrap_or(0.0) as f32;
        let record = self.frame_record(*index, RecordKind::VerdictChange, verdict, p, analysis);
        match self.recorder.snapshot(self.analyzer.corrected(), self.renderer.canvas(), record) {
            Ok(dir) => {
                self.stats.snapshots += 1;
                tracing::info!(snapshot = %dir.display(), "snapshot saved");
            }
            Err(e) => tracing::error!(error = %e, "snapshot"),
        }
    }

    /// Steps until the source ends or `max_frames` frames were read; `wait` is called while the
    /// source is away (a frame period in production).
    pub fn run(&mut self, max_frames: Option<u64>, wait: impl FnMut()) -> &SessionStats {
        self.run_alive(max_frames, wait, || {})
    }

    /// [`Self::run`], calling `alive` after every step (the service watchdog's ping).
    pub fn run_alive(
        &mut self,
        max_frames: Option<u64>,
        mut wait: impl FnMut(),
        mut alive: impl FnMut(),
    ) -> &SessionStats {
        loop {
            if max_frames.is_some_and(|m| self.stats.frames >= m) {
                break;
            }
            let step = self.step();
            alive();
            match step {
                Step::End => {
                    self.stats.source_ended = true;
                    break;
                }
                Step::Waiting(_) => wait(),
                Step::Frame(_) | Step::Skipped(_) => {}
            }
        }
        &self.stats
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }
}
