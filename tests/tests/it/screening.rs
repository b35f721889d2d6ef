//! End-to-end screening on replayed frames: synthetic melanoma and nevus scenes rendered as a
//! microscope camera would deliver them, then a blank field, a defocused one, an underexposed
//! one and a corrupt file; and the real H&E images of `../shared/data/images`. The verdict
//! sequence, the record log, the LED pins, the SPI display and the button's snapshot are
//! asserted; the log survives a cut at every byte of its last record.

use melanoscope_boards::button::DebouncedButton;
use melanoscope_boards::controls::{NoButton, NoIndicators};
use melanoscope_boards::mock::{MockBus, MockDelay, MockInput, MockSpi};
use melanoscope_boards::status_leds::StatusLeds;
use melanoscope_edge::cases::control::{ControlServer, Request, send};
use melanoscope_edge::cases::{CaseStatus, find_case, page::write_case_page};
use melanoscope_edge::config::EdgeConfig;
use melanoscope_edge::screen::session::{Session, SessionIo};
use melanoscope_edge::screen::setup::open_bundle;
use melanoscope_edge::sinks::{DisplaySink, FrameFolder, PanelWiring, ST7789, open_panel};
use melanoscope_edge::source::Replay;
use melanoscope_shared::Lesion;
use melanoscope_shared::formats::{RecordKind, Verdict, read_log_file};
use melanoscope_shared::image::{RgbImage, encode_jpeg, save_rgb};
use melanoscope_shared::scratch::ScratchDir;
use melanoscope_synth::frames::FrameOptics;
use melanoscope_tests::scenes::{FRAME_UM, H, W, frame, sharp, write_bundle};
use std::path::Path;

fn write_jpeg(path: &Path, img: &RgbImage) {
    std::fs::write(path, encode_jpeg(img, 90).expect("jpeg")).expect("write frame");
}

/// A site file as a lab would write it: the bundle, the calibrated objective, the display
/// size, the log and snapshot folder in `dir`.
fn site(dir: &Path, objective: &str, um_per_px: f64, display: (u32, u32), sync: bool) -> EdgeConfig {
    let text = format!(
        "[model]\nbundle = {bundle:?}\nbackend = \"tract\"\nbatch = 2\nthreads = 1\n\
         [camera]\nobjective = \"{objective}\"\n[objectives.{objective}]\num_per_px = {um_per_px:?}\n\
         [display]\nwidth = {w}\nheight = {h}\nsnapshot_dir = {snap:?}\n[log]\npath = {log:?}\nsync = {sync}\n",
        bundle = write_bundle(dir).display().to_string(),
        w = display.0,
        h = display.1,
        snap = dir.join("snapshots").display().to_string(),
        log = dir.join("screening.log").display().to_string(),
    );
    EdgeConfig::from_texts(Some(("site.toml", &text))).expect("the test's site file loads")
}

#[test]
fn replayed_scenes_give_the_expected_verdicts_log_leds_display_and_snapshot() {
    let dir = ScratchDir::new("e2e-screen");
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let mm = frame(Lesion::MM, 21, &sharp());
    let nv = frame(Lesion::CN, 22, &sharp());
    let blank = RgbImage::filled(W, H, [238, 236, 240]).unwrap();
    // Defocused by 10 px (10 µm at this objective): OUT OF FOCUS (docs/boards/calibration.md).
    let blurred = frame(Lesion::MM, 21, &FrameOptics { blur_px: 10.0, ..sharp() });
    let mut dark = mm.clone();
    dark.as_raw_mut().iter_mut().for_each(|v| *v /= 10);
    for (i, img) in [&mm, &mm, &mm, &nv, &nv, &nv, &blank, &blurred, &dark].iter().enumerate() {
        write_jpeg(&frames.join(format!("{i:02}.jpg")), img);
    }
    std::fs::write(frames.join("09.jpg"), b"\xFF\xD8 torn by the camera").unwrap();
    write_jpeg(&frames.join("10.jpg"), &nv);

    let cfg = site(&dir, "10x", FRAME_UM, (480, 320), true);
    let prepared = Session::from_config(&cfg, open_bundle(&cfg.model).expect("tiny bundle passes its self-test"))
        .expect("the session opens");
    let sha = prepared.analyzer().bundle().file.meta.onnx_sha256;
    let bus = MockBus::default();
    let leds = StatusLeds::new(bus.pin("green"), bus.pin("red"), bus.pin("amber"));
    // The button is read once a frame: pressed at the 4th and 8th reads (freeze, then resume).
    let button = DebouncedButton::new(MockInput::scripted(&[(3, false), (4, true), (7, false), (8, true)]), 0);
    let spi = MockSpi::new(&bus, "dc");
    let wiring = PanelWiring { spi: spi.clone(), dc: bus.pin("dc"), rst: bus.pin("rst"), width: 240, height: 320 };
    let tft = open_panel::<ST7789, _, _, _>(wiring, &mut MockDelay::default()).unwrap();
    let folder = FrameFolder::new(dir.join("rendered"), 1).unwrap();
    let sinks: Vec<Box<dyn DisplaySink>> = vec![Box::new(folder), Box::new(tft)];
    let log = dir.join("screening.log");
    let source = Replay::new(&[frames.display().to_string()], false).unwrap();
    let mut session = prepared.start(SessionIo { source, leds, button }).with_sinks(sinks);
    let stats = session.run(None, || panic!("a replay never waits"));

    let seq: Vec<(u64, &str)> = stats.verdicts.iter().map(|(i, v)| (*i, v.as_str())).collect();
    assert_eq!(
        seq,
        vec![
            (0, "MELANOMA SUSPECTED"),
            (3, "NEVUS"),
            (6, "INSUFFICIENT TISSUE"),
            (7, "OUT OF FOCUS"),
            (8, "UNDEREXPOSED"),
            (9, "NEVUS"),
        ],
        "{stats:?}"
    );
    assert_eq!((stats.frames, stats.corrupt, stats.screened, stats.gated), (10, 1, 7, 3));
    assert_eq!(stats.snapshots, 1);

    // The log: one record per verdict change, in order, plus the snapshot.
    let scan = read_log_file(&log).unwrap();
    assert!(scan.is_clean());
    let changes: Vec<(u64, Verdict)> = scan
        .records
        .iter()
        .filter(|(_, r)| r.kind == RecordKind::VerdictChange)
        .map(|(_, r)| (r.frame_id, r.verdict))
        .collect();
    assert_eq!(
        changes,
        vec![
            (0, Verdict::MelanomaSuspected),
            (3, Verdict::Nevus),
            (6, Verdict::InsufficientTissue),
            (7, Verdict::OutOfFocus),
            (8, Verdict::Underexposed),
            (9, Verdict::Nevus),
        ]
    );
    let first = &scan.records[0].1;
    assert!(first.probability >= 0.6 && !first.fields.is_empty() && first.objective == "10x", "{first:?}");
    assert!(first.fields.iter().all(|f| f.probabilities.len() == 2));
    assert_eq!(first.model_sha256, sha);
    // The record names the whole bundle file and that nobody signed it.
    let identity = first.model.expect("records carry the bundle's identity");
    let bundle_bytes = std::fs::read(&cfg.model.bundle).unwrap();
    assert_eq!(identity.bundle_sha256, melanoscope_shared::formats::sha256(&bundle_bytes));
    assert_eq!(identity.signer, None);
    assert!(scan.records.iter().all(|(_, r)| r.model == Some(identity)));
    // The snapshot: pressed at the 4th frame read, it holds the 3rd frame (index 2), melanoma.
    let snap = scan.records.iter().find_map(|(_, r)| match &r.kind {
        RecordKind::Snapshot { bundle } => Some((r.frame_id, r.verdict, bundle.clone())),
        _ => None,
    });
    let (snap_frame, snap_verdict, snap_dir) = snap.expect("a snapshot record");
    assert_eq!((snap_frame, snap_verdict), (2, Verdict::MelanomaSuspected));
    for f in ["frame.jpg", "cam.png", "record.json"] {
        assert!(dir.join("snapshots").join(&snap_dir).join(f).is_file(), "{f} in the snapshot");
    }
    // Frozen from the 4th read to the 8th: frames 3..=6 were not rendered.
    let rendered = std::fs::read_dir(dir.join("rendered")).unwrap().count();
    assert_eq!(rendered, 10 - 4, "frames shown while not frozen");
    // The bundle is unsigned: every rendered frame says so in a magenta box in the banner.
    for e in std::fs::read_dir(dir.join("rendered")).unwrap() {
        let img = melanoscope_shared::image::load_rgb(&e.unwrap().path()).unwrap();
        let magenta = (0..img.width()).filter(|&x| img.get(x, 6) == Some([200, 0, 200])).count();
        assert!(magenta > 30, "UNSIGNED MODEL shown: {magenta} magenta pixels");
    }

    // LEDs: the last verdict is a nevus (green on, red and amber off); the melanoma verdict lit
    // red alone, after switching the others off.
    assert_eq!((bus.level("green"), bus.level("red"), bus.level("amber")), (Some(true), Some(false), Some(false)));
    let events = bus.events();
    let red_on = events.iter().position(|e| *e == melanoscope_boards::mock::PinEvent::High("red")).unwrap();
    let before: Vec<_> = events[..red_on].iter().rev().take(2).collect();
    assert!(before.contains(&&melanoscope_boards::mock::PinEvent::Low("green")));
    assert!(before.contains(&&melanoscope_boards::mock::PinEvent::Low("amber")));
    assert!(spi.writes().iter().any(|w| w.data_mode && w.bytes.len() > 1000), "frames reached the SPI panel");

    // The log survives a power cut at every byte of its last record.
    let bytes = std::fs::read(&log).unwrap();
    let last = scan.records.last().unwrap().0;
    let cut = dir.join("cut.log");
    for len in last..bytes.len() {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let s = read_log_file(&cut).unwrap();
        // Only the final delimiter missing: the record itself is whole and reads back.
        let expect = if len == bytes.len() - 1 { scan.records.len() } else { scan.records.len() - 1 };
        assert_eq!(s.records.len(), expect, "cut at {len} of {}", bytes.len());
        assert!(s.damaged.is_empty(), "cut at {len}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn real_images_replay_through_the_whole_loop() {
    let data = melanoscope_tests::data_dir().join("images");
    let dir = ScratchDir::new("e2e-real");
    // The H&E images are 0.25-0.5 µm/px crops; as 0.5 µm/px frames they are 250-500 µm across.
    let cfg = site(&dir, "20x", 0.5, (320, 240), false);
    let prepared = Session::from_config(&cfg, open_bundle(&cfg.model).unwrap()).unwrap();
    let log = dir.join("screening.log");
    let pattern = data.join("*.png").display().to_string();
    let items = vec![
        data.join("he-tumour-1000px.png").display().to_string(),
        data.join("hgsc_nest.jpg").display().to_string(),
        pattern,
    ];
    let source = Replay::new(&items, false).unwrap();
    let n = source.len() as u64;
    let folder = FrameFolder::new(dir.join("rendered"), 1).unwrap();
    let io = SessionIo { source, leds: NoIndicators, button: NoButton };
    let mut session = prepared.start(io).with_sinks(vec![Box::new(folder)]);
    let stats = session.run(None, || panic!("a replay never waits"));
    assert_eq!((stats.frames, stats.corrupt, stats.analysis_errors), (n, 0, 0), "{stats:?}");
    assert_eq!(stats.screened + stats.gated, n);
    // Real H&E of other organs is tissue the tiny model never saw: inferred, then screened or
    // gated as UNFAMILIAR TISSUE (the gate follows inference).
    assert!(stats.screened + stats.unfamiliar_frames >= 1, "the tumour tile is tissue: {stats:?}");
    let scan = read_log_file(&log).unwrap();
    assert_eq!(scan.records.len() as u64, stats.verdict_changes);
    assert_eq!(std::fs::read_dir(dir.join("rendered")).unwrap().count() as u64, n);
    save_rgb(&dir.join("check.png"), &RgbImage::filled(2, 2, [0; 3]).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A log that cannot be written (a full device): screening goes on, the banner says LOG WRITE
/// FAILED, the LEDs stay amber, and every record waits in memory for the log to come back.
#[test]
fn a_log_that_cannot_be_written_is_a_fault_shown_and_its_records_kept() {
    let full = Path::new("/dev/full");
    assert!(full.exists(), "this test needs /dev/full (every write fails with ENOSPC)");
    let dir = ScratchDir::new("e2e-log-full");
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    for (i, img) in [frame(Lesion::MM, 31, &sharp()), frame(Lesion::IN, 32, &sharp())].iter().enumerate() {
        for k in 0..3 {
            write_jpeg(&frames.join(format!("{i}{k}.jpg")), img);
        }
    }
    let mut cfg = site(&dir, "10x", FRAME_UM, (480, 320), true);
    cfg.log.path = full.to_path_buf();
    let prepared = Session::from_config(&cfg, open_bundle(&cfg.model).unwrap()).unwrap();
    let bus = MockBus::default();
    let leds = StatusLeds::new(bus.pin("green"), bus.pin("red"), bus.pin("amber"));
    let folder = FrameFolder::new(dir.join("rendered"), 1).unwrap();
    let source = Replay::new(&[frames.display().to_string()], false).unwrap();
    let mut session = prepared.start(SessionIo { source, leds, button: NoButton }).with_sinks(vec![Box::new(folder)]);
    let stats = session.run(None, || panic!("a replay never waits"));
    assert_eq!((stats.frames, stats.screened), (6, 6), "{stats:?}");
    assert_eq!(stats.verdict_changes, 2, "{stats:?}");
    assert!(stats.log_errors >= 6, "every frame retried the waiting records: {stats:?}");
    assert_eq!(session.records_waiting(), 2, "no record given up");
    assert_eq!(stats.records_dropped, 0);
    // The session ends with the log still failing: the last try fails, the two records are
    // counted as lost and the exit status says so (it was 0, with none counted).
    let end = session.finish();
    assert_eq!(end.records_dropped, 2, "{end:?}");
    assert_eq!(end.exit_status(false), melanoscope_shared::run_files::screen::EXIT_RECORDS_LOST);
    assert_eq!((bus.level("green"), bus.level("red"), bus.level("amber")), (Some(false), Some(false), Some(true)));
    let mut shown = 0;
    for e in std::fs::read_dir(dir.join("rendered")).unwrap() {
        let img = melanoscope_shared::image::load_rgb(&e.unwrap().path()).unwrap();
        // "LOG WRITE FAILED" (16 characters of 6 px on a 480 px display), wider than "UNSIGNED MODEL".
        let magenta = (0..img.width()).filter(|&x| img.get(x, 6) == Some([200, 0, 200])).count();
        assert_eq!(magenta, 16 * 6 + 12, "{magenta} magenta pixels");
        shown += 1;
    }
    assert_eq!(shown, 6);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A camera stream on standard input that ends (the camera process died) ends the session
/// with a non-zero status, so that the service restarts the pipeline; a replay ends with 0.
#[test]
fn the_end_of_a_camera_stream_is_a_fault_exit() {
    use melanoscope_edge::source::MjpegStream;
    use melanoscope_shared::image::FrameBounds;
    use melanoscope_shared::run_files::screen::EXIT_STREAM_ENDED;
    let dir = ScratchDir::new("e2e-stream-end");
    let cfg = site(&dir, "10x", FRAME_UM, (320, 240), false);
    let mut bytes = encode_jpeg(&frame(Lesion::MM, 41, &sharp()), 90).unwrap();
    bytes.extend(encode_jpeg(&frame(Lesion::CN, 42, &sharp()), 90).unwrap());
    // A frame far beyond the camera's bounds: refused from its header and counted.
    bytes.extend(encode_jpeg(&RgbImage::filled(4 * W, 2 * H, [200; 3]).unwrap(), 50).unwrap());
    let source = MjpegStream::new(std::io::Cursor::new(bytes), "stdin", FrameBounds::camera(W, H));
    let prepared = Session::from_config(&cfg, open_bundle(&cfg.model).unwrap()).unwrap();
    let mut session = prepared.start(SessionIo { source, leds: NoIndicators, button: NoButton });
    let stats = session.run(None, || panic!("a pipe that ends never waits"));
    assert_eq!((stats.frames, stats.screened, stats.oversized), (2, 2, 1), "{stats:?}");
    assert!(stats.source_ended);
    assert_eq!(stats.exit_status(true), EXIT_STREAM_ENDED);
    assert_eq!(stats.exit_status(false), 0, "a replay that runs out is done");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A 4X objective with a 10X model is a fault at start, in a technician's words, and written to
/// the record log; a frame smaller than one field is its own state, not "insufficient tissue".
#[test]
fn a_too_coarse_objective_is_a_start_fault_and_a_tiny_frame_its_own_state() {
    use melanoscope_edge::screen::setup::{SetupError, record_fault};
    let dir = ScratchDir::new("e2e-objective");
    let cfg = site(&dir, "4x", 2.5, (320, 240), false);
    let err = Session::from_config(&cfg, open_bundle(&cfg.model).unwrap()).unwrap_err();
    assert!(matches!(err, SetupError::Objective(_)), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("this model needs a 10X objective (1.0 µm/px); objective 4x gives 2.5 µm/px"), "{text}");
    record_fault(&cfg, &text).unwrap();
    let scan = read_log_file(&cfg.log.path).unwrap();
    let (_, r) = scan.records.last().unwrap();
    assert!(matches!(&r.kind, RecordKind::Fault { message } if *message == text), "{r:?}");
    let csv = dir.join("log.csv");
    melanoscope_edge::records::export_log(&cfg.log.path, melanoscope_edge::records::ExportFormat::Csv, &csv).unwrap();
    assert!(std::fs::read_to_string(&csv).unwrap().contains("fault: this model needs a 10X objective"));

    // Tissue everywhere, but cropped smaller than one field: FRAME TOO SMALL.
    let cfg = site(&dir, "10x", FRAME_UM, (320, 240), false);
    let bundle = open_bundle(&cfg.model).unwrap();
    let side = bundle.file.meta.input_size;
    let frames = dir.join("small");
    std::fs::create_dir_all(&frames).unwrap();
    let full = frame(Lesion::MM, 51, &sharp());
    write_jpeg(&frames.join("a.jpg"), &full.crop((W - side) / 2, (H - side) / 2 + 4, side - 8, side - 8).unwrap());
    let prepared = Session::from_config(&cfg, bundle).unwrap();
    let source = Replay::new(&[frames.display().to_string()], false).unwrap();
    let mut session = prepared.start(SessionIo { source, leds: NoIndicators, button: NoButton });
    let stats = session.run(None, || panic!("a replay never waits"));
    assert_eq!(stats.verdicts.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(), ["FRAME TOO SMALL"], "{stats:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Replayed frames judged against a `frames.csv`: every frame's verdict is kept with its file
/// and probabilities, and set beside the lesion it shows; a gate is never right.
#[test]
fn replayed_frames_are_judged_against_their_truth() {
    use melanoscope_edge::source::expand_replay;
    use melanoscope_edge::truth::Truth;
    let dir = ScratchDir::new("e2e-truth");
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    write_jpeg(&frames.join("MM-0.jpg"), &frame(Lesion::MM, 31, &sharp()));
    write_jpeg(&frames.join("CN-0.jpg"), &frame(Lesion::CN, 32, &sharp()));
    write_jpeg(&frames.join("JN-0.jpg"), &RgbImage::filled(W, H, [238, 236, 240]).unwrap());
    let csv = dir.join("frames.csv");
    std::fs::write(&csv, "file,lesion,um_per_px\nMM-0.jpg,MM,1.0\nCN-0.jpg,CN,1.0\nJN-0.jpg,JN,1.0\n").unwrap();
    let cfg = site(&dir, "10x", FRAME_UM, (480, 320), false);
    let prepared = Session::from_config(&cfg, open_bundle(&cfg.model).unwrap()).unwrap();
    let items = [frames.display().to_string()];
    let truth = Truth::load(&csv).unwrap();
    truth.check_files(&expand_replay(&items).unwrap()).unwrap();
    let source = Replay::new(&items, false).unwrap();
    let mut session = prepared.start(SessionIo { source, leds: NoIndicators, button: NoButton }).with_frame_table();
    session.run(None, || panic!("a replay never waits"));
    let rows = session.frame_rows();
    assert_eq!(rows.len(), 3, "{rows:?}");
    // Name order: CN-0, JN-0 (glass), MM-0.
    assert!(rows[0].file.ends_with("CN-0.jpg") && rows[2].file.ends_with("MM-0.jpg"), "{rows:?}");
    assert_eq!(rows[1].frame_probability, None, "a gated frame has no probability");
    let table = truth.judge(rows).unwrap();
    let verdicts: Vec<(&str, &str, bool)> =
        table.frames.iter().map(|j| (j.lesion.as_str(), j.row.verdict.as_str(), j.right)).collect();
    assert_eq!(
        verdicts,
        [("CN", "NEVUS", true), ("JN", "INSUFFICIENT TISSUE", false), ("MM", "MELANOMA SUSPECTED", true)]
    );
    assert_eq!((table.right, table.total), (2, 3));
    // A truth naming a file that was not replayed is refused naming it.
    std::fs::write(&csv, "file,lesion\nMM-0.jpg,MM\nCN-0.jpg,CN\nJN-0.jpg,JN\nIN-0.jpg,IN\n").unwrap();
    let e = Truth::load(&csv).unwrap().check_files(&expand_replay(&items).unwrap()).unwrap_err().to_string();
    assert!(e.contains("row for IN-0.jpg"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A case replayed end to end: opened through the control socket, frames of a melanoma, then
/// a frame of another organ's H&E (ovarian carcinoma from `../shared/data`) gated as
/// UNFAMILIAR TISSUE with amber LEDs, then the lesion again; closed through the socket with
/// the case verdict; every record in between carries the case id; the case page is written and
/// opened in headless Chromium. A second case cut off without a close (a power cut) is reported
/// interrupted at the next start, its records intact.
#[test]
fn a_case_is_screened_gated_on_unfamiliar_tissue_closed_and_reported() {
    let dir = ScratchDir::new("e2e-case");
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let mm = frame(Lesion::MM, 21, &sharp());
    let ovary =
        melanoscope_shared::image::load_rgb(&melanoscope_tests::data_dir().join("images/hgsc_nest.jpg")).unwrap();
    let other_organ = ovary.crop(200, 0, W, H).unwrap();
    for (i, img) in [&mm, &mm, &mm, &other_organ, &mm, &mm].iter().enumerate() {
        write_jpeg(&frames.join(format!("{i:02}.jpg")), img);
    }
    let cfg = site(&dir, "10x", FRAME_UM, (480, 320), true);
    let prepared = Session::from_config(&cfg, open_bundle(&cfg.model).unwrap()).unwrap();
    assert!(prepared.analyzer().familiarity_on(), "the tiny bundle carries familiarity statistics");
    let bus = MockBus::default();
    let leds = StatusLeds::new(bus.pin("green"), bus.pin("red"), bus.pin("amber"));
    let source = Replay::new(&[frames.display().to_string()], false).unwrap();
    let socket = cfg.control_socket();
    let session = prepared.start(SessionIo { source, leds, button: NoButton });
    let control = ControlServer::bind(&socket, session.operator().requests).unwrap();
    let mut session = session.with_control(control).with_frame_table();

    // `case open` from another process's point of view: a client on the socket.
    let ask = |request: Request| {
        let socket = socket.clone();
        std::thread::spawn(move || send(&socket, &request))
    };
    let bad = ask(Request::Open("../../etc".into()));
    while !bad.is_finished() {
        session.serve_control();
    }
    let e = bad.join().unwrap().unwrap_err().to_string();
    assert!(e.contains("case id") && e.contains('/'), "{e}");
    let open = ask(Request::Open("S26-0042".into()));
    while session.case().is_none() {
        session.serve_control();
    }
    assert_eq!(open.join().unwrap().unwrap(), "case S26-0042 opened");
    let again = ask(Request::Open("S26-0043".into()));
    while !again.is_finished() {
        session.serve_control();
    }
    assert!(again.join().unwrap().unwrap_err().to_string().contains("S26-0042 is open"));

    // Step through the frames, checking the LEDs on the other organ's frame.
    let mut amber_on_unfamiliar = false;
    for _ in 0..6 {
        session.step();
        if session.stats().unfamiliar_frames == 1 && !amber_on_unfamiliar {
            amber_on_unfamiliar = bus.level("amber") == Some(true) && bus.level("red") == Some(false);
        }
    }
    let close = ask(Request::Close);
    while session.case().is_some() {
        session.serve_control();
    }
    let closed = close.join().unwrap().unwrap();
    assert_eq!(closed, "case S26-0042 closed: MELANOMA SUSPECTED");
    let stats = session.stats();
    let seq: Vec<(u64, &str)> = stats.verdicts.iter().map(|(i, v)| (*i, v.as_str())).collect();
    assert_eq!(seq, [(0, "MELANOMA SUSPECTED"), (3, "UNFAMILIAR TISSUE"), (4, "MELANOMA SUSPECTED")], "{stats:?}");
    assert_eq!((stats.unfamiliar_frames, stats.cases_opened, stats.cases_closed), (1, 1, 1));
    // The summary's frame rows carry the familiarity scores: the other organ's frame is the
    // least familiar, with unfamiliar fields (they were only in the log).
    let rows = session.frame_rows();
    let other = &rows[3];
    assert!(other.unfamiliar_fields > 0 && other.max_familiarity.is_some(), "{other:?}");
    assert!(rows.iter().enumerate().all(|(i, r)| i == 3 || r.max_familiarity < other.max_familiarity), "{rows:?}");
    assert!(amber_on_unfamiliar, "amber alone while the tissue is unfamiliar");

    // The log: opened, verdicts, closed, all with the case id; the fields' familiarity scores.
    let scan = read_log_file(&cfg.log.path).unwrap();
    let kinds: Vec<&RecordKind> = scan.records.iter().map(|(_, r)| &r.kind).collect();
    assert_eq!(kinds.first(), Some(&&RecordKind::CaseOpened));
    assert_eq!(kinds.last(), Some(&&RecordKind::CaseClosed { verdict: Some(Verdict::MelanomaSuspected) }));
    assert!(scan.records.iter().all(|(_, r)| r.case.as_deref() == Some("S26-0042")), "{scan:?}");
    let gated = scan.records.iter().find(|(_, r)| r.verdict == Verdict::UnfamiliarTissue).expect("gate recorded");
    let threshold = session.analyzer().bundle().file.meta.familiarity.as_ref().unwrap().threshold;
    // Recorded per field; the gate's rule holds on them: at least the set share of the tissue
    // fields scores above the threshold.
    let above = gated.1.familiarity.iter().filter(|s| **s > threshold).count() as f64;
    let share = above / gated.1.familiarity.len().max(1) as f64;
    assert!(!gated.1.familiarity.is_empty() && share >= cfg.screening.unfamiliar_share, "{:?}", gated.1);

    // The case folder and page.
    let (_, case) = find_case(&cfg.cases_dir(), "S26-0042").unwrap();
    assert_eq!((case.status, case.verdict), (CaseStatus::Closed, Some(Verdict::MelanomaSuspected)));
    assert_eq!(case.gated.get("UNFAMILIAR TISSUE"), Some(&1));
    assert!(!case.fields.is_empty() && case.fields.windows(2).all(|w| w[0].probability >= w[1].probability));
    let page = write_case_page(&cfg.cases_dir(), &cfg.log.path, "S26-0042", &dir.join("page")).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Case S26-0042") && html.contains("UNFAMILIAR TISSUE") && html.contains("10x"));
    assert_eq!(html.matches("<img").count(), case.fields.len());
    assert!(!html.contains("src=\"http") && !html.contains("<script"), "self-contained, no script");
    // Chromium runs on the host; under qemu the page is checked above without it.
    if cfg!(target_arch = "x86_64") {
        let Some(browser) = melanoscope_pagecheck::find_chromium() else {
            panic!("headless Chromium is needed for this test: run scripts/setup.sh (installs Debian's chromium)");
        };
        let check = melanoscope_pagecheck::check_page(&page, &dir.join("page/screenshot.png"))
            .unwrap_or_else(|e| panic!("{}: {e}", browser.display()));
        assert_eq!(check.images.len(), case.fields.len(), "{check:?}");
        assert!(check.broken().is_empty() && check.console.is_empty(), "{check:?}");
    }

    // A power cut during a second case: the session is dropped with the case open.
    session.open_case("S26-0044").unwrap();
    let records_before = read_log_file(&cfg.log.path).unwrap().records.len();
    drop(session);
    let prepared = Session::from_config(&cfg, open_bundle(&cfg.model).unwrap()).unwrap();
    let source = Replay::new(&[frames.display().to_string()], false).unwrap();
    let restarted = prepared.start(SessionIo { source, leds: NoIndicators, button: NoButton });
    assert_eq!(restarted.case(), None, "an interrupted case is not reopened");
    let (_, cut) = find_case(&cfg.cases_dir(), "S26-0044").unwrap();
    assert_eq!(cut.status, CaseStatus::Interrupted);
    let scan = read_log_file(&cfg.log.path).unwrap();
    assert_eq!(scan.records.len(), records_before + 1, "every record kept, the interruption added");
    let (_, last) = scan.records.last().unwrap();
    assert_eq!((&last.kind, last.case.as_deref()), (&RecordKind::CaseInterrupted, Some("S26-0044")));
    drop(restarted);

    // A bundle without familiarity statistics still gates the other organ's frame by its stain
    // (ovarian H&E stained elsewhere: its eosin lies beyond the limit from the bundle's).
    let mut file = melanoscope_shared::formats::ModelFile::decode(&std::fs::read(&cfg.model.bundle).unwrap()).unwrap();
    file.meta.familiarity = None;
    std::fs::write(&cfg.model.bundle, file.encode().unwrap()).unwrap();
    let one_frame = || Replay::new(&[frames.join("03.jpg").display().to_string()], false).unwrap();
    let prepared = Session::from_config(&cfg, open_bundle(&cfg.model).unwrap()).unwrap();
    assert!(!prepared.analyzer().familiarity_on() && prepared.analyzer().stain_on().is_some());
    let mut stained = prepared.start(SessionIo { source: one_frame(), leds: NoIndicators, button: NoButton });
    let stats = stained.run(None, || panic!("a replay never waits"));
    assert_eq!((stats.screened, stats.unfamiliar_frames), (0, 1), "{stats:?}");
    drop(stained);
    // Exported before either: screened with both off, the other organ's frame then gets a
    // verdict like any tissue.
    file.meta.stain = None;
    std::fs::write(&cfg.model.bundle, file.encode().unwrap()).unwrap();
    let prepared = Session::from_config(&cfg, open_bundle(&cfg.model).unwrap()).unwrap();
    assert!(!prepared.analyzer().familiarity_on() && prepared.analyzer().stain_on().is_none());
    let mut old = prepared.start(SessionIo { source: one_frame(), leds: NoIndicators, button: NoButton });
    let stats = old.run(None, || panic!("a replay never waits"));
    assert_eq!((stats.screened, stats.unfamiliar_frames), (1, 0), "{stats:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
