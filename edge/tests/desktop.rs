//! The live screen on the screens labs have, with the real programs: the `window` sink under a
//! real X server (Xvfb, with openbox as the window manager a desktop has) and under a headless
//! Wayland compositor (weston), and the web view in headless Chromium. Each runs the built
//! `melanoscope-edge screen` on replayed synthetic frames with a tiny bundle.
//!
//! Needs Debian's xvfb, openbox, wmctrl, xdotool, x11-apps (xwd), weston and chromium, and
//! `tests/browser`'s playwright-core (scripts/setup.sh installs them all); a missing one fails
//! the test with its name. x86_64 only: under qemu there is no desktop for an ARM binary (the
//! web view's own tests run there as unit tests of the library).
#![cfg(target_arch = "x86_64")]

use melanoscope_shared::Lesion;
use melanoscope_shared::formats::{RecordKind, read_log_file};
use melanoscope_shared::image::{RgbImage, encode_jpeg, load_rgb};
use melanoscope_shared::scratch::ScratchDir;
use melanoscope_tests::scenes::{FRAME_UM, frame, sharp, write_bundle};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const EDGE: &str = env!("CARGO_BIN_EXE_melanoscope-edge");
const TITLE: &str = "Melanoscope live screen";
const TOKEN: &str = "bench-token-0123456789abcdef";
const VIEWER: &str = "viewer-token-0123456789abcdef";
/// Long enough for a debug build's start and a few frames on a loaded CI machine.
const PATIENCE: Duration = Duration::from_secs(180);

/// A child process killed when dropped (a failed assertion leaves no X server behind).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str) -> Command {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()));
    assert!(found, "{name} is not installed: scripts/setup.sh installs the desktop test tools");
    Command::new(name)
}

/// Polls `probe` until it gives a value, failing with `what` after [`PATIENCE`].
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Replayed frames (melanoma and nevus scenes, all different) and a site file screening them
/// with `sinks`; `web`: the `[web]` table's lines.
fn setup(dir: &Path, sinks: &str, looped: bool, web: &str) -> PathBuf {
    let frames = dir.join("frames-in");
    std::fs::create_dir_all(&frames).unwrap();
    let scenes = [(Lesion::MM, 21), (Lesion::CN, 22), (Lesion::MM, 23), (Lesion::IN, 24)];
    for (i, (lesion, seed)) in scenes.iter().enumerate() {
        let img = frame(*lesion, *seed, &sharp());
        std::fs::write(frames.join(format!("{i:02}.jpg")), encode_jpeg(&img, 90).unwrap()).unwrap();
    }
    let site = dir.join("site.toml");
    let text = format!(
        "[model]\nbundle = {bundle:?}\nbackend = \"tract\"\nbatch = 2\nthreads = 1\nstate_dir = {state:?}\n\
         [camera]\nsource = \"replay\"\nreplay = [{frames:?}]\nreplay_loop = {looped}\nobjective = \"10x\"\n\
         [objectives.10x]\num_per_px = {FRAME_UM:?}\n\
         [display]\nsinks = {sinks}\nwidth = 480\nheight = 320\nsnapshot_dir = {snap:?}\nsnapshot_every = 1\n\
         [log]\npath = {log:?}\nsync = false\n[web]\n{web}\n",
        bundle = write_bundle(dir).display().to_string(),
        state = dir.join("state").display().to_string(),
        frames = frames.display().to_string(),
        snap = dir.join("snapshots").display().to_string(),
        log = dir.join("screening.log").display().to_string(),
    );
    std::fs::write(&site, text).unwrap();
    site
}

fn screen(site: &Path, env: &[(&str, &str)], dir: &Path) -> Running {
    let mut cmd = Command::new(EDGE);
    cmd.args(["screen", "--config"]).arg(site).env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let stderr = std::fs::File::create(dir.join("screen.err")).unwrap();
    let stdout = std::fs::File::create(dir.join("screen.out")).unwrap();
    Running(cmd.stdout(stdout).stderr(stderr).spawn().expect("melanoscope-edge runs"))
}

/// Waits for the screen to exit; its status and its standard error.
fn finished(mut screen: Running, dir: &Path) -> (i32, String) {
    let status = wait_for("the screen to exit", || screen.0.try_wait().unwrap());
    (status.code().unwrap_or(-1), std::fs::read_to_string(dir.join("screen.err")).unwrap())
}

fn pngs(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map_or(0, |d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "png")).count())
}

/// One request line to the screen's control socket, its answer line back.
fn control(dir: &Path, line: &str) -> String {
    let mut s = UnixStream::connect(dir.join("control.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).unwrap();
    answer
}

/// Frames the screen has read, from `status` ("… (N frames read)").
fn frames_read(dir: &Path) -> u64 {
    let answer = control(dir, "status");
    let n = answer.rsplit('(').next().and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok());
    n.unwrap_or_else(|| panic!("status answered {answer:?}"))
}

/// A window's pixels from `xwd` (ZPixmap, 24 or 32 bits per pixel, true colour).
fn xwd(display: &str, window: &str) -> RgbImage {
    let out = tool("xwd").args(["-silent", "-id", window, "-display", display]).output().unwrap();
    assert!(out.status.success(), "xwd: {}", String::from_utf8_lossy(&out.stderr));
    let b = out.stdout;
    let field = |i: usize| u32::from_be_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
    let (header, w, h, lsb) = (field(0) as usize, field(4), field(5), field(7) == 0);
    let (bpp, stride, ncolors) = (field(11) as usize, field(12) as usize, field(19) as usize);
    let masks = [field(14), field(15), field(16)];
    assert!(bpp == 32 || bpp == 24, "{bpp} bits per pixel");
    let data = &b[header + ncolors * 12..];
    let mut img = RgbImage::filled(w, h, [0; 3]).unwrap();
    for y in 0..h {
        for x in 0..w {
            let at = y as usize * stride + x as usize * bpp / 8;
            let mut px = [0u8; 4];
            px[..bpp / 8].copy_from_slice(&data[at..at + bpp / 8]);
            let v = if lsb { u32::from_le_bytes(px) } else { u32::from_be_bytes(px) >> (32 - bpp) };
            img.put(x, y, masks.map(|m| ((v & m) >> m.trailing_zeros()) as u8));
        }
    }
    img
}

/// `xdotool` on `display`.
fn xdotool(display: &str, args: &[&str]) -> Output {
    tool("xdotool").args(args).env("DISPLAY", display).output().unwrap()
}

fn window_size(display: &str, window: &str) -> (u32, u32) {
    let out = String::from_utf8(xdotool(display, &["getwindowgeometry", window]).stdout).unwrap();
    let g = out.lines().find_map(|l| l.trim().strip_prefix("Geometry: ")).unwrap_or("0x0");
    let (w, h) = g.split_once('x').unwrap_or(("0", "0"));
    (w.parse().unwrap_or(0), h.parse().unwrap_or(0))
}

/// `img` without its bottom 24 rows (where the window's answer bar shows, over the status line).
fn above_bar(img: &RgbImage) -> RgbImage {
    img.crop(0, 0, img.width(), img.height() - 24).unwrap()
}

/// Mean absolute difference per channel, and the share of pixels off by more than 24 levels in
/// any channel, between `shot` and `reference` scaled to its size (nearest neighbour).
fn difference(shot: &RgbImage, reference: &RgbImage) -> (f64, f64) {
    let (w, h) = (shot.width(), shot.height());
    let (mut sum, mut off) = (0u64, 0u64);
    for y in 0..h {
        for x in 0..w {
            let r = reference.get(x * reference.width() / w, y * reference.height() / h).unwrap();
            let s = shot.get(x, y).unwrap();
            let d = [0, 1, 2].map(|c| u64::from(r[c].abs_diff(s[c])));
            sum += d.iter().sum::<u64>();
            off += u64::from(d.iter().any(|v| *v > 24));
        }
    }
    let n = f64::from(w * h);
    (sum as f64 / (3.0 * n), off as f64 / n)
}

/// The window under Xvfb with openbox: it shows what the snapshot of the same frame holds (to
/// within a level on average), Space freezes it while frames are still read and saves a
/// snapshot, F11 makes it fill the screen and back, and closing it ends the session with status
/// 0 and every record in the log.
#[test]
fn window_under_xvfb_shows_freezes_goes_fullscreen_and_closes_cleanly() {
    let dir = ScratchDir::new("desktop-x11");
    let site = setup(&dir, "[\"window\", \"snapshot\"]", true, "enabled = false");
    let mut xvfb = tool("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut number = String::new();
    BufReader::new(xvfb.stdout.take().unwrap()).read_line(&mut number).unwrap();
    let _xvfb = Running(xvfb);
    let display = format!(":{}", number.trim());
    let wm = tool("openbox").arg("--sm-disable").env("DISPLAY", &display).stderr(Stdio::null()).spawn().unwrap();
    let _wm = Running(wm);
    let screen = screen(&site, &[("DISPLAY", &display)], &dir);
    let window = wait_for("the window", || {
        let out = xdotool(&display, &["search", "--name", &format!("^{TITLE}$")]);
        String::from_utf8(out.stdout).unwrap().lines().next().map(str::to_string)
    });
    let rendered = dir.join("snapshots/frames");
    wait_for("three rendered frames", || (pngs(&rendered) >= 3).then_some(()));
    assert_eq!(window_size(&display, &window), (480, 320), "the window opens at the display size");

    // Space: frozen, with a snapshot of what the screen shows.
    xdotool(&display, &["windowactivate", "--sync", &window]);
    xdotool(&display, &["key", "--clearmodifiers", "space"]);
    let snapshot = wait_for("the freeze snapshot", || {
        let entries = std::fs::read_dir(dir.join("snapshots")).ok()?;
        entries.flatten().map(|e| e.path()).find(|p| p.join("cam.png").is_file())
    });
    // The window's answer bar ("view frozen; snapshot saved …") comes and goes at the bottom:
    // the frame is compared above it.
    let shown = above_bar(&load_rgb(&snapshot.join("cam.png")).unwrap());
    let frozen = wait_for("the window to show the frozen frame", || {
        let shot = above_bar(&xwd(&display, &window));
        (difference(&shot, &shown).0 < 1.0).then_some(shot)
    });
    let (mean, off) = difference(&frozen, &shown);
    assert!(mean < 1.0 && off < 0.001, "window vs snapshot: mean {mean:.3} levels, {off:.4} of pixels off");
    // Frozen: frames are still read, the window does not change.
    let n = frames_read(&dir);
    wait_for("three more frames read while frozen", || (frames_read(&dir) >= n + 3).then_some(()));
    let later = above_bar(&xwd(&display, &window));
    assert!(later.as_raw() == frozen.as_raw(), "the frozen window changed: {:?}", difference(&later, &frozen));
    xdotool(&display, &["key", "--clearmodifiers", "space"]);
    let before = pngs(&rendered);
    wait_for("frames shown again after the second Space", || (pngs(&rendered) > before + 1).then_some(()));

    // A case from the keyboard: the id typed as a barcode scanner types it, then Enter; F2
    // closes it.
    xdotool(&display, &["type", "--delay", "20", "S26-77.b"]);
    xdotool(&display, &["key", "--clearmodifiers", "Return"]);
    wait_for("the case opened from the keyboard", || {
        control(&dir, "status").contains("case S26-77.b open").then_some(())
    });
    xdotool(&display, &["key", "--clearmodifiers", "F2"]);
    wait_for("the case closed by F2", || control(&dir, "status").contains("no case open").then_some(()));

    // F11: fullscreen, and back.
    xdotool(&display, &["key", "--clearmodifiers", "F11"]);
    wait_for("the window to fill the screen", || (window_size(&display, &window) == (1024, 768)).then_some(()));
    xdotool(&display, &["key", "--clearmodifiers", "F11"]);
    wait_for("the window to leave fullscreen", || (window_size(&display, &window) != (1024, 768)).then_some(()));

    // Closing the window (as its close button does, through the window manager).
    let closed = tool("wmctrl").args(["-c", TITLE]).env("DISPLAY", &display).status().unwrap();
    assert!(closed.success());
    let (status, stderr) = finished(screen, &dir);
    assert_eq!(status, 0, "{stderr}");
    let scan = read_log_file(&dir.join("screening.log")).unwrap();
    assert!(scan.torn_tail.is_none() && scan.damaged.is_empty(), "the log reads whole");
    let snapshots = scan.records.iter().filter(|(_, r)| matches!(r.kind, RecordKind::Snapshot { .. })).count();
    assert_eq!(snapshots, 1, "the freeze snapshot is in the log");
    let case: Vec<&RecordKind> =
        scan.records.iter().filter(|(_, r)| r.case.as_deref() == Some("S26-77.b")).map(|(_, r)| &r.kind).collect();
    assert!(matches!(case.first(), Some(RecordKind::CaseOpened)), "{case:?}");
    assert!(matches!(case.last(), Some(RecordKind::CaseClosed { .. })), "{case:?}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("screen.out")).unwrap()).unwrap();
    assert_eq!(summary["stats"]["records_dropped"], 0, "{summary}");
    assert!(summary["stats"]["frames"].as_u64().unwrap() > n + 3, "{summary}");
}

/// No desktop: the window sink is a start fault that names it and what to use instead, in the
/// log too; the snapshot sink screens on, and the replay ends normally.
#[test]
fn without_a_desktop_the_window_is_a_named_fault_and_the_other_sinks_go_on() {
    let dir = ScratchDir::new("desktop-none");
    let site = setup(&dir, "[\"window\", \"snapshot\"]", false, "enabled = false");
    let (status, stderr) = finished(screen(&site, &[], &dir), &dir);
    assert_eq!(status, 0, "{stderr}");
    let named = stderr.contains("window") && stderr.contains("no desktop session") && stderr.contains("framebuffer");
    assert!(named, "{stderr}");
    assert_eq!(pngs(&dir.join("snapshots/frames")), 4, "the snapshot sink showed every frame");
    let scan = read_log_file(&dir.join("screening.log")).unwrap();
    let fault = scan.records.iter().find_map(|(_, r)| match &r.kind {
        RecordKind::Fault { message } => Some(message.clone()),
        _ => None,
    });
    assert!(fault.is_some_and(|m| m.contains("no desktop session")), "the fault is in the log");
}

/// The window on Wayland (weston's headless back end): it opens (no sink fault) and the
/// session screens every frame.
#[test]
fn window_opens_on_a_headless_wayland_compositor() {
    let dir = ScratchDir::new("desktop-wayland");
    let site = setup(&dir, "[\"window\", \"snapshot\"]", false, "enabled = false");
    let runtime = dir.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let rt = runtime.display().to_string();
    let weston = tool("weston")
        .args(["--backend=headless-backend.so", "--socket=melanoscope-test", "--idle-time=0"])
        .env("XDG_RUNTIME_DIR", &rt)
        .env_remove("DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _weston = Running(weston);
    wait_for("weston's socket", || runtime.join("melanoscope-test").exists().then_some(()));
    let env = [("WAYLAND_DISPLAY", "melanoscope-test"), ("XDG_RUNTIME_DIR", rt.as_str())];
    let (status, stderr) = finished(screen(&site, &env, &dir), &dir);
    assert_eq!(status, 0, "{stderr}");
    assert!(!stderr.contains("display sink not opened"), "{stderr}");
    assert_eq!(pngs(&dir.join("snapshots/frames")), 4);
}

/// The web view in headless Chromium: a token on the loopback listener (so every request
/// without it is refused), the stream's pixels changing, the verdict as text, a case opened and
/// closed from the page and logged, a read-only viewer refused, nothing fetched from outside
/// and no console message.
#[test]
fn web_view_in_headless_chromium() {
    let dir = ScratchDir::new("desktop-web");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let web =
        format!("enabled = true\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\nviewer_token = \"{VIEWER}\"");
    let site = setup(&dir, "[\"snapshot\"]", true, &web);
    let screen = screen(&site, &[], &dir);
    let base = format!("http://127.0.0.1:{port}/");
    wait_for("the web view's address on standard error", || {
        let err = std::fs::read_to_string(dir.join("screen.err")).ok()?;
        err.contains(&format!("web view at {base}?token=")).then_some(())
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/web_view.mjs");
    assert!(
        script.with_file_name("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules lacks playwright-core: scripts/setup.sh installs it (npm ci)"
    );
    let out = tool("node").arg(&script).args([&base, TOKEN, VIEWER, "WEB-0042"]).output().unwrap();
    assert!(out.status.success(), "the browser script failed: {}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["without_token"], 401, "{seen}");
    assert_eq!(seen["page_status"], 200, "{seen}");
    assert!(seen["natural_width"].as_u64().unwrap_or(0) > 0, "{seen}");
    assert_eq!(seen["pixels_changed"], true, "{seen}");
    assert_eq!(seen["console"], serde_json::json!([]), "console messages: {seen}");
    assert_eq!(seen["outside"], serde_json::json!([]), "fetched from outside: {seen}");
    let verdict = seen["verdict_text"].as_str().unwrap();
    assert!(["MELANOMA", "NEVUS", "UNCERTAIN", "TISSUE"].iter().any(|v| verdict.contains(v)), "{verdict}");
    assert_eq!(seen["verdict_role"], "status");
    assert!(seen["open_answer"].as_str().unwrap().contains("case WEB-0042 opened"), "{seen}");
    assert!(seen["case_text"].as_str().unwrap().contains("WEB-0042"), "{seen}");
    assert!(seen["close_answer"].as_str().unwrap().contains("case WEB-0042 closed"), "{seen}");
    assert_eq!(seen["case_page_status"], 200, "{seen}");
    assert_eq!(seen["case_page_title"], "Case WEB-0042", "{seen}");
    assert_eq!(seen["viewer_has_form"], false, "{seen}");
    assert_eq!(seen["viewer_post"], 403, "{seen}");

    // Ended as the service would be stopped; the case's records are in the log.
    let pid = screen.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let (status, stderr) = finished(screen, &dir);
    assert_eq!(status, 0, "{stderr}");
    let scan = read_log_file(&dir.join("screening.log")).unwrap();
    let kinds: Vec<&str> = scan
        .records
        .iter()
        .filter(|(_, r)| r.case.as_deref() == Some("WEB-0042"))
        .filter_map(|(_, r)| match r.kind {
            RecordKind::CaseOpened => Some("opened"),
            RecordKind::CaseClosed { .. } => Some("closed"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["opened", "closed"]);
}
