//! What each request gets: the access check first (401 without a token where one is asked),
//! then the page, the stream, the status, the case requests (through the screen's request
//! queue, as the control socket's) and the case and review pages.

use super::Shared;
use super::access::{COOKIE, Role, presented};
use super::files::{case_index, case_page, review_file};
use super::http::{Head, Response, form_value, percent_decode};
use super::page::{answer_page, live_page};
use crate::cases::requests::{Reply, Request};
use std::time::Duration;

/// How long a case request waits for the screen's answer (it answers between frames).
const ANSWER_WAIT: Duration = Duration::from_secs(6);

/// What a connection does next.
#[derive(Debug)]
pub(super) enum Outcome {
    Reply(Response),
    /// The live MJPEG stream, until the viewer leaves.
    Stream,
}

fn reply(r: Response) -> Outcome {
    Outcome::Reply(r)
}

pub(super) fn route(shared: &Shared, head: &Head, body: &[u8]) -> Outcome {
    let token = presented(head);
    let Some(role) = shared.settings.access.role(token.as_deref()) else {
        shared.counters.unauthorized.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return reply(
            Response::text(401, "a token is needed: open the address shown on the microscope's screen (…/?token=…)")
                .with("WWW-Authenticate", "Bearer realm=\"melanoscope\""),
        );
    };
    let mut outcome = answer(shared, head, body, role);
    // A token that came in the address goes on in a cookie (the stream, the forms, the links).
    if let (Outcome::Reply(r), Some(t)) = (&mut outcome, head.query("token"))
        && shared.settings.access.token().is_some()
    {
        r.headers.push(("Set-Cookie", format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict")));
    }
    outcome
}

fn answer(shared: &Shared, head: &Head, body: &[u8], role: Role) -> Outcome {
    let Some(path) = percent_decode(head.path(), false) else {
        return reply(Response::text(400, "the path is not valid percent-encoded UTF-8"));
    };
    let get = matches!(head.method.as_str(), "GET" | "HEAD");
    let html = |s: String| Response::new(200, "text/html; charset=utf-8", s);
    match (path.as_str(), get, head.method == "POST") {
        ("/", true, _) => reply(html(live_page(role, shared.settings.review_dir.is_some()))),
        ("/stream.mjpg", true, _) => Outcome::Stream,
        // Browsers ask for it on pages without an icon (the case pages): nothing, not a 404.
        ("/favicon.ico", true, _) => reply(Response::new(204, "image/x-icon", Vec::new())),
        ("/status.json", true, _) => {
            let status = shared.status();
            let json = serde_json::json!({ "status": status, "role": match role { Role::Control => "control", Role::View => "view" } });
            let mut v = json["status"].clone();
            if let Some(o) = v.as_object_mut() {
                o.insert("role".into(), json["role"].clone());
            }
            reply(Response::new(200, "application/json", v.to_string()))
        }
        ("/case/open" | "/case/close" | "/snapshot", _, true) => reply(ask(shared, head, body, role, &path)),
        ("/cases" | "/cases/", true, _) => reply(html(case_index(&shared.settings.cases_dir))),
        (p, true, _) if p.starts_with("/cases/") => {
            let id = p["/cases/".len()..].trim_end_matches('/');
            match case_page(&shared.settings.cases_dir, &shared.settings.log_path, id) {
                Ok(page) => reply(html(page)),
                Err(e) => reply(Response::text(404, e.to_string())),
            }
        }
        (p, true, _) if p == "/review" || p.starts_with("/review/") => match &shared.settings.review_dir {
            None => reply(Response::text(404, "no review folder is served (web.review_dir)")),
            Some(root) => match review_file(root, p.trim_start_matches("/review")) {
                Ok((bytes, kind)) => reply(Response::new(200, kind, bytes)),
                Err(e) => reply(Response::text(404, e.to_string())),
            },
        },
        ("/" | "/stream.mjpg" | "/status.json" | "/case/open" | "/case/close" | "/snapshot", _, _) => {
            reply(Response::text(405, format!("{} is not allowed here", head.method.escape_debug())))
        }
        _ => reply(Response::text(404, "no such page")),
    }
}

/// A case request or snapshot from the page, answered by the screen.
fn ask(shared: &Shared, head: &Head, body: &[u8], role: Role, path: &str) -> Response {
    let json = head.header("accept").is_some_and(|a| a.contains("application/json"));
    let say = |status: u16, ok: bool, text: &str| {
        if json {
            Response::new(status, "application/json", serde_json::json!({ "ok": ok, "answer": text }).to_string())
        } else {
            Response::new(status, "text/html; charset=utf-8", answer_page(text))
        }
    };
    if role == Role::View {
        return say(403, false, "refused: this viewer watches only (read-only); cases are opened at the microscope");
    }
    // A page of another site in the same browser cannot post here (no token on 127.0.0.1).
    if let Some(origin) = head.header("origin") {
        let host = head.header("host").unwrap_or("");
        if origin != format!("http://{host}") {
            return say(403, false, "refused: the request came from another site's page");
        }
    }
    let form = String::from_utf8_lossy(body);
    let request = match path {
        "/case/open" => match form_value(&form, "id") {
            Some(id) => Request::Open(id.trim().to_string()),
            None => return say(400, false, "refused: no case id (form field `id`)"),
        },
        "/case/close" => Request::Close,
        _ => Request::Snapshot,
    };
    let Some(requests) = &shared.requests else {
        return say(503, false, "refused: this view is not attached to a running screen");
    };
    let (reply, answer) = Reply::channel();
    requests.offer(request, reply);
    match answer.recv_timeout(ANSWER_WAIT) {
        Ok(Ok(text)) => say(200, true, &text),
        Ok(Err(why)) if why.starts_with("busy") => say(503, false, &format!("refused: {why}")),
        Ok(Err(why)) => say(409, false, &format!("refused: {why}")),
        Err(_) => say(504, false, "the screen did not answer in time (between frames); try again"),
    }
}
