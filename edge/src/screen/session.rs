//! The screening loop: frame → gates, fields, inference, CAM → averaged verdict → screen,
//! LEDs and the record log; the button freezes the view and saves a snapshot. Corrupt frames
//! are skipped and counted; a lost camera puts its state on the screen instead of stopping.

use super::analyse::Analyzer;
use super::render::{Renderer, ScreenState};
use super::setup::SetupError;
use super::stats::FrameTimes;
use super::verdict::{TrackerSettings, VerdictTracker, VerdictUpdate};
use crate::analysis::{Analysis, elapsed_ms};
use crate::cases::control::ControlServer;
use crate::cases::desk::{Answer, CaseDesk};
use crate::cases::requests::{Inbox, Operator, Refusal, Request};
use crate::cases::{CaseBook, CaseError, ModelCard};
use crate::config::EdgeConfig;
use crate::records::queue::LogQueue;
use crate::records::{Recorder, unix_ms};
use crate::sinks::{DisplaySink, LiveStatus};
use crate::source::{Frame, FrameSource, SourceError};
use melanoscope_boards::button::Press;
use melanoscope_boards::controls::{FreezeButton, Indicators};
use melanoscope_boards::status_leds::Indicator;
use melanoscope_engine::LoadedBundle;
use melanoscope_shared::formats::{FieldScore, RecordKind, ScreeningRecord, Verdict};
use melanoscope_shared::run_files::screen::{FrameRow, SessionStats};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// A running screening session.
pub struct Session<S, L, B> {
    source: S,
    analyzer: Analyzer,
    tracker: VerdictTracker,
    renderer: Renderer,
    sinks: Vec<Box<dyn DisplaySink>>,
    leds: L,
    button: B,
    /// Every record goes to the log through it.
    log: LogQueue,
    /// Cases.
    desk: CaseDesk,
    /// Requests from the control socket, the window and the web view, answered between frames.
    inbox: Inbox,
    /// What front ends get to queue requests and to end the session.
    operator: Operator,
    /// Kept for its listening thread; removed with the session.
    control: Option<ControlServer>,
    /// What the screen shows, as text, for the sinks that show text (the web view).
    live: LiveStatus,
    /// Shown at the start of the status line (the web view's address with its token).
    notice: Option<String>,
    objective: String,
    started: Instant,
    frozen: bool,
    last: Option<(u64, Analysis)>,
    /// The session's own counts; the log's and the desk's are added by [`Session::stats`].
    counts: SessionStats,
    pub times: FrameTimes,
    /// Every frame's verdict, when kept ([`Session::with_frame_table`]: a replay, which ends).
    frame_rows: Option<Vec<FrameRow>>,
}

impl<S, L, B> std::fmt::Debug for Session<S, L, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("objective", &self.objective).field("stats", &self.counts).finish()
    }
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
        let (requests, inbox) = crate::cases::requests::channel();
        let mut session = Session {
            source: io.source,
            analyzer: self.analyzer,
            tracker: VerdictTracker::new(self.tracker),
            renderer: self.renderer,
            sinks: Vec::new(),
            leds: io.leds,
            button: io.button,
            log: LogQueue::new(self.recorder),
            desk: CaseDesk::new(self.cases, &self.objective, self.um_per_px),
            inbox,
            operator: Operator { requests, stop: Arc::new(AtomicBool::new(false)) },
            control: None,
            live: LiveStatus::default(),
            notice: None,
            objective: self.objective,
            started: Instant::now(),
            frozen: false,
            last: None,
            counts: SessionStats::default(),
            times: FrameTimes::default(),
            frame_rows: None,
        };
        session.desk.interrupted(interrupted, &mut session.log);
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
            && f.aggregation != cfg.screening.aggregation
        {
            // The threshold was chosen for frames aggregated the bundle's way: another way
            // moves the probabilities it applies to.
            tracing::warn!(
                bundle = %f.aggregation.name(),
                site = %cfg.screening.aggregation.name(),
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

    /// Keeps the control socket listening while the session runs (bind it with
    /// [`Session::operator`]'s requests).
    pub fn with_control(mut self, control: ControlServer) -> Self {
        self.control = Some(control);
        self
    }

    /// Where front ends queue their requests, and the flag that ends the session (a stop
    /// signal, a closed window).
    pub fn operator(&self) -> Operator {
        self.operator.clone()
    }

    /// The open case's id.
    pub fn case(&self) -> Option<&str> {
        self.desk.current()
    }

    /// The last frame read (case records carry it).
    fn frame_index(&self) -> u64 {
        self.last.as_ref().map_or(0, |(i, _)| *i)
    }

    /// Opens case `id` at the desk and logs it.
    pub fn open_case(&mut self, id: &str) -> Result<Answer, CaseError> {
        self.desk.open(id, self.frame_index(), &mut self.log)
    }

    /// Closes the open case at the desk and logs it with its verdict.
    pub fn close_case(&mut self) -> Result<Answer, CaseError> {
        self.desk.close(self.frame_index(), &mut self.log)
    }

    /// Answers the requests waiting in the queue (the control socket, window, web view): at
    /// most a queue's worth a step, so that requests arriving as fast as they are answered
    /// cannot hold the frame.
    pub fn serve_control(&mut self) {
        for _ in 0..crate::cases::requests::MAX_WAITING {
            let Some((request, reply)) = self.inbox.poll() else { break };
            let (frame, frames) = (self.frame_index(), self.counts.frames);
            let answer = match self.desk.answer(&request, frame, frames, &mut self.log) {
                Some(answer) => answer.map_err(Refusal::from),
                None if request == Request::Freeze => Ok(self.on_press()),
                None => self.snapshot().map(|dir| Answer::Snapshot { dir }),
            };
            reply.send(answer);
        }
    }

    /// Shows `text` at the start of the status line from the next frame.
    pub fn set_notice(&mut self, text: String) {
        self.notice = Some(text);
    }

    /// Writes a fault record (what the technician was told) to the record log.
    pub fn record_fault(&mut self, message: &str) {
        let kind = RecordKind::Fault { message: message.into() };
        let record =
            self.log.recorder().record(unix_ms(), self.frame_index(), kind, Verdict::Uncertain, 0.0, Vec::new());
        self.log.submit(Some(record));
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
            tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), "status LEDs");
        }
    }

    fn output(&mut self) {
        let frame = self.renderer.canvas();
        for sink in &mut self.sinks {
            sink.status(&self.live);
            if let Err(e) = sink.show(frame) {
                self.counts.sink_errors += 1;
                tracing::warn!(sink = %sink.name(), error = %melanoscope_shared::errors::Chain(&e), "display");
            }
        }
    }

    /// Gives the sinks that show text the screen's text, without a new frame.
    fn publish_status(&mut self) {
        for sink in &mut self.sinks {
            sink.status(&self.live);
        }
    }

    /// Shows a full-screen problem (amber LED) instead of a frame.
    pub fn show_problem(&mut self, title: &str, detail: &str) {
        self.renderer.message(title, detail);
        self.live.problem = Some(format!("{title}: {detail}"));
        self.output();
        self.leds(Indicator::Amber);
    }

    /// Sends `record` (if any) to the log queue, which retries those still waiting.
    fn log(&mut self, record: Option<ScreeningRecord>) {
        self.log.submit(record);
    }

    /// What the session counted, with the log's append failures and drops and the desk's
    /// cases, as they stand now.
    pub fn stats(&self) -> SessionStats {
        let desk = self.desk.counts();
        SessionStats {
            log_errors: self.log.errors(),
            records_dropped: self.log.dropped(),
            cases_opened: desk.opened,
            cases_closed: desk.closed,
            ..self.counts.clone()
        }
    }

    /// What the banner must say besides the verdict.
    fn warning(&self) -> Option<&'static str> {
        if self.log.fault().is_some() {
            Some("LOG WRITE FAILED")
        } else if self.desk.fault().is_some() {
            Some("CASE NOT SAVED")
        } else if self.analyzer.bundle().identity.signer.is_none() {
            Some("UNSIGNED MODEL")
        } else {
            None
        }
    }

    /// Ends the session's logging: the records still waiting get a last try, and those the
    /// log refuses are counted as dropped (see [`SessionStats::exit_status`]).
    pub fn finish(&mut self) -> SessionStats {
        self.log.finish();
        self.stats()
    }

    /// Records waiting for the log.
    pub fn records_waiting(&self) -> usize {
        self.log.waiting()
    }

    fn field_scores(a: &Analysis) -> Vec<FieldScore> {
        a.fields.iter().map(|f| FieldScore { col: f.col, row: f.row, probabilities: f.probabilities.clone() }).collect()
    }

    /// A record of `a` carrying the open case and the fields' familiarity scores.
    fn frame_record(&self, index: u64, kind: RecordKind, verdict: Verdict, p: f32, a: &Analysis) -> ScreeningRecord {
        let mut r = self.log.recorder().record(unix_ms(), index, kind, verdict, p, Self::field_scores(a));
        r.case = self.desk.current().map(str::to_string);
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
            Ok(Some(Press::Short)) => {
                self.on_press();
            }
            Ok(Some(Press::Long)) => {
                self.desk.long_press(self.frame_index(), &mut self.log);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %melanoscope_shared::errors::Chain(&e), "button"),
        }
        self.serve_control();
        let t = Instant::now();
        let frame = match self.source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return Step::End,
            Err(SourceError::Corrupt { origin, detail }) => {
                self.counts.corrupt += 1;
                tracing::warn!(%origin, %detail, "corrupt frame skipped");
                return Step::Skipped(format!("{origin}: {detail}"));
            }
            Err(SourceError::Oversized { origin, detail }) => {
                self.counts.oversized += 1;
                tracing::warn!(%origin, %detail, "oversized frame skipped");
                return Step::Skipped(format!("{origin}: {detail}"));
            }
            Err(e) => {
                self.counts.source_errors += 1;
                let msg = melanoscope_shared::errors::error_chain(&e);
                self.show_problem("CAMERA UNAVAILABLE", &msg);
                return Step::Waiting(msg);
            }
        };
        self.times.capture_ms = elapsed_ms(t);
        self.counts.frames += 1;
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
                self.counts.analysis_errors += 1;
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
            self.counts.gated += 1;
        } else {
            self.counts.screened += 1;
        }
        self.counts.unfamiliar_fields += analysis.unfamiliar_fields as u64;
        if analysis.gate == Some(crate::gates::Gate::UnfamiliarTissue) {
            self.counts.unfamiliar_frames += 1;
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
                max_familiarity: analysis.fields.iter().filter_map(|f| f.familiarity).reduce(f32::max),
                unfamiliar_fields: analysis.unfamiliar_fields,
            });
        }
        let record = update.changed.then(|| {
            let p = update.probability.unwrap_or(0.0) as f32;
            self.frame_record(frame.index, RecordKind::VerdictChange, update.verdict, p, &analysis)
        });
        self.log(record);
        let positive = usize::from(self.analyzer.bundle().file.meta.decision.positive_class);
        if let Err(e) = self.desk.frame(frame.index, self.analyzer.corrected(), &analysis, update.verdict, positive) {
            self.counts.case_errors += 1;
            tracing::error!(error = %melanoscope_shared::errors::Chain(&e), "case folder");
        }
        // Every frame: a camera or screening fault in between lit amber without changing the
        // verdict, and the LEDs only write pins when the indicator changes. A log that cannot
        // be written keeps it amber: verdicts are being shown that are not yet kept.
        let light = if self.log.fault().is_some() { Indicator::Amber } else { indicator_for(update.verdict) };
        self.leds(light);
        if update.changed {
            self.counts.verdict_changes += 1;
            self.counts.verdicts.push((frame.index, update.verdict.label().to_string()));
        }
        if !self.frozen {
            let t = Instant::now();
            let meta = &self.analyzer.bundle().file.meta;
            let case = self.desk.current().map_or(String::new(), |c| format!("case {c} | "));
            let notice = self.notice.as_ref().map_or(String::new(), |n| format!("{n} | "));
            // While a gate holds the frame, why (measure, limit, what to do) comes first.
            let gated = self.analyzer.gate_reason(&analysis).map_or(String::new(), |r| format!("{r} | "));
            // An implausible stain has no note: the gate's reason above says it.
            let stain = self.analyzer.stain_note(&analysis).map_or(String::new(), |n| format!(" | {n}"));
            let status = format!(
                "{gated}{notice}{case}{} | {} | {} fields | focus {:.2}{stain} | frame {}",
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
            self.live = LiveStatus {
                frame: frame.index,
                verdict: Some(update.verdict.label().to_string()),
                probability: update.probability,
                threshold: meta.decision.threshold,
                status,
                warning: self.warning().map(str::to_string),
                case: self.desk.current().map(str::to_string),
                case_verdict: self.desk.case_verdict().map(|v| v.label().to_string()),
                frozen: false,
                problem: None,
            };
            self.times.render_ms = elapsed_ms(t);
            let t = Instant::now();
            self.output();
            self.times.output_ms = elapsed_ms(t);
        }
        self.last = Some((frame.index, analysis));
        Step::Frame(update)
    }

    /// First press: freeze the screen and save a snapshot of what it shows; second: resume.
    fn on_press(&mut self) -> Answer {
        if self.frozen {
            self.frozen = false;
            self.live.frozen = false;
            self.publish_status();
            return Answer::Resumed;
        }
        self.frozen = true;
        self.live.frozen = true;
        // The sinks that show text say it is frozen; the pixels stay the frozen frame's.
        self.publish_status();
        let snapshot = match self.snapshot() {
            Ok(dir) => Some(dir),
            Err(Refusal::NothingShown) => None,
            Err(e) => {
                tracing::error!(error = %melanoscope_shared::errors::Chain(&e), "snapshot");
                None
            }
        };
        Answer::Frozen { snapshot }
    }

    /// Saves the last screened frame and what the screen shows of it as a snapshot.
    fn snapshot(&mut self) -> Result<String, Refusal> {
        let Some((index, analysis)) = &self.last else { return Err(Refusal::NothingShown) };
        let verdict = self.tracker.verdict().unwrap_or(Verdict::Uncertain);
        let p = analysis.probability.unwrap_or(0.0) as f32;
        let record = self.frame_record(*index, RecordKind::VerdictChange, verdict, p, analysis);
        let dir =
            self.log.snapshot(self.analyzer.corrected(), self.renderer.canvas(), record).map_err(Refusal::Snapshot)?;
        self.counts.snapshots += 1;
        tracing::info!(snapshot = %dir.display(), "snapshot saved");
        Ok(dir.display().to_string())
    }

    /// Steps until the source ends or `max_frames` frames were read; `wait` is called while the
    /// source is away (a frame period in production).
    pub fn run(&mut self, max_frames: Option<u64>, wait: impl FnMut()) -> SessionStats {
        self.run_alive(max_frames, wait, || true)
    }

    /// [`Self::run`], calling `alive` after every step (the service watchdog's ping); ends
    /// when it returns false (a stop signal).
    pub fn run_alive(
        &mut self,
        max_frames: Option<u64>,
        mut wait: impl FnMut(),
        mut alive: impl FnMut() -> bool,
    ) -> SessionStats {
        loop {
            if max_frames.is_some_and(|m| self.counts.frames >= m) {
                break;
            }
            let step = self.step();
            // A stop signal or a closed window.
            if !alive() || self.operator.stop.load(Ordering::Relaxed) {
                break;
            }
            match step {
                Step::End => {
                    self.counts.source_ended = true;
                    break;
                }
                Step::Waiting(_) => wait(),
                Step::Frame(_) | Step::Skipped(_) => {}
            }
        }
        self.stats()
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }
}
