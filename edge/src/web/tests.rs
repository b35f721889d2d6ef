//! The web view over real sockets: access, read-only viewers, case requests through the queue,
//! the viewer cap, stalled and slowloris clients, hostile paths and requests.

use super::*;
use crate::cases::desk::Answer;
use crate::cases::requests::{Inbox, Request, channel};
use melanoscope_shared::scratch::ScratchDir;
use std::io::{BufRead, BufReader, Read};

const TOKEN: &str = "control-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

fn settings(dir: &ScratchDir, token: Option<&str>, max_viewers: usize) -> WebSettings {
    let cases = dir.join("cases");
    std::fs::create_dir_all(&cases).unwrap();
    WebSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        access: Access::new(token.map(str::to_string), Some(VIEWER.into()), false),
        generated_token: false,
        max_viewers,
        cases_dir: cases,
        log_path: dir.join("screening.log"),
        review_dir: Some(dir.join("review")),
    }
}

/// A web view with a request queue; the inbox is the screen's end.
fn start(dir: &ScratchDir, token: Option<&str>, max_viewers: usize) -> (WebView, Inbox) {
    let (requests, inbox) = channel();
    let op = Operator { requests, stop: Arc::new(AtomicBool::new(false)) };
    (WebView::start(settings(dir, token, max_viewers), Some(&op)).unwrap(), inbox)
}

/// Sends `raw` and reads the whole answer: status, head and body.
fn exchange(addr: SocketAddr, raw: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may answer and close before reading all of a huge request.
    let _ = s.write_all(raw);
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").map_or(all.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head, all[end..].to_vec())
}

fn get(addr: SocketAddr, target: &str, extra: &str) -> (u16, String, Vec<u8>) {
    exchange(addr, format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n").as_bytes())
}

fn post(addr: SocketAddr, target: &str, extra: &str, body: &str) -> (u16, String, Vec<u8>) {
    let raw = format!(
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, raw.as_bytes())
}

/// Answers every request the screen gets, as a session would, until `stop`.
fn screen(inbox: Inbox, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Request>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut open: Option<String> = None;
        while !stop.load(Ordering::SeqCst) {
            let Some((request, reply)) = inbox.poll() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let answer = match &request {
                Request::Open(id) => {
                    open = Some(id.clone());
                    Answer::Opened { id: id.clone() }
                }
                Request::Close => Answer::Closed { id: open.take().unwrap_or_default(), verdict: None },
                _ => Answer::Snapshot { dir: "snap".into() },
            };
            reply.send(Ok(answer));
            seen.push(request);
        }
        seen
    })
}

/// Frames of noise: large JPEGs, so that a viewer that does not read fills its socket buffers
/// within seconds.
fn noise_frames() -> Vec<RgbImage> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..4)
        .map(|_| {
            let mut img = RgbImage::filled(960, 720, [0; 3]).unwrap();
            for b in img.as_raw_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            img
        })
        .collect()
}

/// Reads one MJPEG part's JPEG from a stream (after its head was read).
fn next_part(r: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "the stream ended");
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            length = v.trim().parse().unwrap();
        }
        if line == "\r\n" && length > 0 {
            break;
        }
    }
    let mut jpeg = vec![0; length];
    r.read_exact(&mut jpeg).unwrap();
    jpeg
}

fn open_stream(addr: SocketAddr) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("GET /stream.mjpg?token={TOKEN} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    r
}

/// Shows frames until `done` says so (a screen at its camera rate), counting them.
fn show_until(web: &mut WebView, frames: &[RgbImage], mut done: impl FnMut(&WebView) -> bool) -> u64 {
    let mut n = 0u64;
    while !done(web) {
        web.show(&frames[n as usize % frames.len()]).unwrap();
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    n
}

#[test]
fn tokens_roles_and_case_requests() {
    let dir = ScratchDir::new("web-access");
    let (mut web, inbox) = start(&dir, Some(TOKEN), 4);
    let addr = web.local_addr();
    assert!(web.url().ends_with(&format!("/?token={TOKEN}")), "{}", web.url());
    for target in ["/", "/status.json", "/stream.mjpg", "/cases/", "/nothing"] {
        let (status, head, _) = get(addr, target, "");
        assert_eq!(status, 401, "{target}: {head}");
        assert_eq!(get(addr, &format!("{target}?token=wrong-token-00000000"), "").0, 401, "{target}");
    }
    assert_eq!(post(addr, "/case/open", "", "id=S1").0, 401);
    // The token in the address: the page, and a cookie for the rest.
    let (status, head, body) = get(addr, &format!("/?token={TOKEN}"), "");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains(&format!("Set-Cookie: melanoscope_token={TOKEN}; Path=/; HttpOnly; SameSite=Strict")),
        "{head}"
    );
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("action=\"/case/open\"") && !page.contains("http://") && !page.contains("https://"));
    web.status(&LiveStatus { verdict: Some("NEVUS".into()), probability: Some(0.12), ..LiveStatus::default() });
    let (status, _, body) = get(addr, "/status.json", &format!("Cookie: melanoscope_token={TOKEN}\r\n"));
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((json["verdict"].as_str(), json["role"].as_str()), (Some("NEVUS"), Some("control")));

    let stop = Arc::new(AtomicBool::new(false));
    let screen = screen(inbox, stop.clone());
    let bearer = format!("Authorization: Bearer {TOKEN}\r\n");
    let (status, _, body) = post(addr, "/case/open", &bearer, "id=S26-0042");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("case S26-0042 opened"));
    // A read-only viewer watches but cannot change anything.
    let viewer = format!("Cookie: melanoscope_token={VIEWER}\r\n");
    assert_eq!(get(addr, "/", &viewer).0, 200);
    let (status, _, body) = get(addr, "/status.json", &viewer);
    assert_eq!(
        (status, serde_json::from_slice::<serde_json::Value>(&body).unwrap()["role"].as_str()),
        (200, Some("view"))
    );
    let (status, _, body) = post(addr, "/case/close", &viewer, "");
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("read-only"));
    // A page of another site cannot post here, even with the cookie.
    assert_eq!(post(addr, "/case/close", &format!("{bearer}Origin: http://evil.example\r\n"), "").0, 403);
    assert_eq!(post(addr, "/case/close", &format!("{bearer}Origin: http://{addr}\r\n"), "").0, 200);
    assert_eq!(post(addr, "/case/open", &bearer, "other=1").0, 400, "no id");
    stop.store(true, Ordering::SeqCst);
    let seen = screen.join().unwrap();
    assert_eq!(
        seen,
        [Request::Open("S26-0042".into()), Request::Close],
        "the refused requests never reached the screen"
    );
    // The unauthorised requests were counted.
    assert!(web.counters().unauthorized.load(Ordering::Relaxed) >= 11);
}

#[test]
fn read_only_setting_and_no_token_on_loopback() {
    let dir = ScratchDir::new("web-ro");
    let mut s = settings(&dir, None, 2);
    s.access = Access::new(None, None, true);
    let web = WebView::start(s, None).unwrap();
    let addr = web.local_addr();
    assert!(web.url().ends_with(':') || !web.url().contains("token"), "{}", web.url());
    let (status, _, body) = get(addr, "/", "");
    assert_eq!(status, 200);
    let page = String::from_utf8(body).unwrap();
    assert!(!page.contains("/case/open") && page.contains("watching only"), "no case controls for a viewer");
    assert_eq!(post(addr, "/snapshot", "", "").0, 403);
}

#[test]
fn the_port_in_use_is_named_with_its_setting() {
    let dir = ScratchDir::new("web-port");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = settings(&dir, None, 2);
    s.listen = taken.local_addr().unwrap();
    let e = WebView::start(s, None).unwrap_err().to_string();
    assert!(e.contains("web.listen") && e.contains(&taken.local_addr().unwrap().to_string()), "{e}");
}

/// Paths that climb out of the served folders, plain or percent-encoded, and links inside them
/// that point outside: 404, and nothing of the outside file in any answer.
#[test]
fn nothing_outside_the_served_folders_is_read() {
    let dir = ScratchDir::new("web-paths");
    let (web, _inbox) = start(&dir, None, 2);
    let addr = web.local_addr();
    std::fs::create_dir_all(dir.join("review/dev-1")).unwrap();
    std::fs::write(dir.join("review/index.html"), "<p>review index</p>").unwrap();
    std::fs::write(dir.join("secret.txt"), "TOP-SECRET").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("review/dev-1/link.html")).unwrap();
    // A case folder that is a link to a folder outside.
    std::fs::create_dir_all(dir.join("outside")).unwrap();
    std::fs::write(dir.join("outside/case.json"), "TOP-SECRET").unwrap();
    std::os::unix::fs::symlink(dir.join("outside"), dir.join("cases/EVIL")).unwrap();
    assert_eq!(get(addr, "/review/", "").0, 200);
    for target in [
        "/review/../secret.txt",
        "/review/..%2fsecret.txt",
        "/review/%2e%2e/secret.txt",
        "/review/%2E%2E%2Fsecret.txt",
        "/review/dev-1/..%2F..%2Fsecret.txt",
        "/review/dev-1/link.html",
        "/review/%00",
        "/review/%zz",
        "/cases/../secret.txt",
        "/cases/..%2F..%2Fetc%2Fpasswd",
        "/cases/EVIL/",
        "/../../etc/passwd",
        "/cases/../../../../etc/passwd",
    ] {
        let (status, head, body) = get(addr, target, "");
        assert!((400..500).contains(&status), "{target}: {head}");
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("TOP-SECRET") && !body.contains("root:"), "{target}: {body}");
    }
    let (_, _, index) = get(addr, "/cases/", "");
    assert!(!String::from_utf8_lossy(&index).contains("EVIL"), "a linked case folder is not listed");
}

/// Malformed requests, a 1 MB request line, 10,000 headers and a huge body are answered with
/// their status and closed; a slowloris client is dropped at the deadline while the page is
/// served to others.
#[test]
fn hostile_requests_are_answered_and_closed() {
    let dir = ScratchDir::new("web-hostile");
    let (web, _inbox) = start(&dir, None, 2);
    let addr = web.local_addr();
    assert_eq!(exchange(addr, b"\x16\x03\x01garbage\r\n\r\n").0, 400);
    let mut long = b"GET /".to_vec();
    long.extend(std::iter::repeat_n(b'a', 1 << 20));
    assert_eq!(exchange(addr, &long).0, 414);
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..10_000 {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(exchange(addr, &many).0, 431);
    assert_eq!(exchange(addr, b"POST /case/open HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n").0, 413);
    assert_eq!(exchange(addr, b"DELETE / HTTP/1.1\r\n\r\n").0, 405);
    // Slowloris: a byte now and then, never a whole head.
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut answer = Vec::new();
        for b in b"GET / HTTP/1.1\r\nX-a: " {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(400));
        }
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    });
    // Meanwhile the page is served.
    assert_eq!(get(addr, "/", "").0, 200);
    let answer = slow.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // 400, 414, 431, 413 and 408 (405 is a request read, for a method not served).
    assert!(web.counters().bad_requests.load(Ordering::Relaxed) >= 5);
}

/// At most `max_viewers` streams; a viewer that stops reading is dropped, and the others go on
/// getting new frames while it stalls.
#[test]
fn viewers_are_capped_and_a_stalled_one_is_dropped() {
    let dir = ScratchDir::new("web-viewers");
    let (mut web, _inbox) = start(&dir, Some(TOKEN), 2);
    let addr = web.local_addr();
    let mut watching = open_stream(addr);
    // The stalled viewer: asks for the stream and never reads, with a small receive buffer.
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled.write_all(format!("GET /stream.mjpg?token={TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    let frames = noise_frames();
    let mut shown = show_until(&mut web, &frames, |w| w.viewers() == 2);
    let (status, _, body) = get(addr, &format!("/stream.mjpg?token={TOKEN}"), "");
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("max_viewers"));
    // Frames flow; the good viewer gets distinct frames while the stalled one fills its buffer
    // and is dropped.
    let got_new = Arc::new(AtomicBool::new(false));
    let reader = std::thread::spawn({
        let got_new = got_new.clone();
        move || {
            let first = next_part(&mut watching);
            let mut parts = 0;
            loop {
                let part = next_part(&mut watching);
                parts += 1;
                if parts >= 20 && part != first {
                    got_new.store(true, Ordering::SeqCst);
                    return (watching, parts);
                }
            }
        }
    });
    shown += show_until(&mut web, &frames, |web| {
        web.counters().viewers_dropped.load(Ordering::Relaxed) >= 1 && got_new.load(Ordering::SeqCst)
    });
    let (_watching, parts) = reader.join().unwrap();
    assert!(parts >= 20, "{parts} parts after {shown} frames");
    assert_eq!(web.viewers(), 1, "the stalled viewer left its place");
    assert_eq!(web.counters().viewers_refused.load(Ordering::Relaxed), 1);
    drop(stalled);
}
