//! The little of HTTP/1.1 the web view speaks: one request per connection (`Connection:
//! close`), its head parsed by `httparse` within bounds of size, header count and time, a
//! form body of a few bytes, and responses written with a deadline. Every limit answers with
//! its own status (400, 408, 413, 414, 431) and closes; nothing here waits without a deadline.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Longest request head (request line and headers) read.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in a request (browsers send about 15).
pub const MAX_HEADERS: usize = 48;
/// Longest request body read (the case form: an id of 64 characters).
pub const MAX_BODY: usize = 4096;
/// Time a client has to send its whole request.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Time a response write may block before the client is dropped (a viewer that stopped reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// A request's head, as far as the web view uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// The request target as sent (path and query, percent-encoded).
    pub target: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The target's path (before `?`).
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The value of query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, q) = self.target.split_once('?')?;
        form_value(q, name)
    }
}

/// Why a request was not read; each is answered with its status and the connection closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("request line longer than {MAX_HEAD} bytes")]
    LineTooLong,
    #[error("request head larger than {MAX_HEAD} bytes or with more than {MAX_HEADERS} headers")]
    HeadTooLarge,
    #[error("request body larger than {MAX_BODY} bytes")]
    BodyTooLarge,
    #[error("no whole request within {} s", REQUEST_DEADLINE.as_secs())]
    Timeout,
    #[error("the client closed the connection")]
    Closed,
}

impl HttpError {
    pub fn status(&self) -> u16 {
        match self {
            HttpError::Malformed(_) | HttpError::Closed => 400,
            HttpError::LineTooLong => 414,
            HttpError::HeadTooLarge => 431,
            HttpError::BodyTooLarge => 413,
            HttpError::Timeout => 408,
        }
    }
}

/// Parses a request head from the start of `buf`: `Ok(None)` while it is incomplete, else the
/// head and its length in bytes. Pure, so that it can be fuzzed.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => {
            if buf.len() >= MAX_HEAD {
                let line_ended = buf.windows(2).any(|w| w == b"\r\n") || buf.contains(&b'\n');
                return Err(if line_ended { HttpError::HeadTooLarge } else { HttpError::LineTooLong });
            }
            Ok(None)
        }
        Ok(httparse::Status::Complete(n)) => {
            let method = req.method.unwrap_or("").to_string();
            let target = req.path.unwrap_or("").to_string();
            let headers = req
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
                .collect();
            Ok(Some((Head { method, target, headers }, n)))
        }
        Err(httparse::Error::TooManyHeaders) => Err(HttpError::HeadTooLarge),
        Err(e) => Err(HttpError::Malformed(e.to_string())),
    }
}

/// Reads one request (head, and a body of at most [`MAX_BODY`]) within [`REQUEST_DEADLINE`].
pub fn read_request(stream: &mut TcpStream) -> Result<(Head, Vec<u8>), HttpError> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let (head, used) = loop {
        if let Some(parsed) = parse_head(&buf)? {
            break parsed;
        }
        let n = read_some(stream, &mut chunk, deadline)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let length = match head.header("content-length") {
        None => 0,
        Some(v) => v.trim().parse::<usize>().map_err(|_| HttpError::Malformed(format!("content-length {v:?}")))?,
    };
    if length > MAX_BODY {
        return Err(HttpError::BodyTooLarge);
    }
    if head.header("transfer-encoding").is_some() {
        return Err(HttpError::Malformed("chunked bodies are not accepted".into()));
    }
    let mut body = buf.split_off(used.min(buf.len()));
    while body.len() < length {
        let n = read_some(stream, &mut chunk, deadline)?;
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok((head, body))
}

fn read_some(stream: &mut TcpStream, chunk: &mut [u8], deadline: Instant) -> Result<usize, HttpError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HttpError::Timeout);
        }
        stream.set_read_timeout(Some(left)).map_err(|e| HttpError::Malformed(e.to_string()))?;
        match stream.read(chunk) {
            Ok(0) => return Err(HttpError::Closed),
            Ok(n) => return Ok(n),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(HttpError::Timeout);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(HttpError::Closed),
        }
    }
}

/// Percent-decodes `s` (`+` as a space when `form`); `None` for a malformed escape or bytes
/// that are not UTF-8.
pub fn percent_decode(s: &str, form: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 3;
            }
            b'+' if form => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The value of `name` in an `application/x-www-form-urlencoded` string (a query or a body).
pub fn form_value(form: &str, name: &str) -> Option<String> {
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode(v, true))
}

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self { status, content_type, headers: Vec::new(), body: body.into() }
    }

    pub fn text(status: u16, text: impl Into<String>) -> Self {
        let mut body = text.into();
        body.push('\n');
        Self::new(status, "text/plain; charset=utf-8", body)
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the response (no body for HEAD) within [`WRITE_TIMEOUT`] per write.
    pub fn write_to(&self, stream: &mut TcpStream, head_only: bool) -> std::io::Result<()> {
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let mut out = status_line(self.status).into_bytes();
        out.extend_from_slice(
            format!("Content-Type: {}\r\nContent-Length: {}\r\n", self.content_type, self.body.len()).as_bytes(),
        );
        for (name, value) in
            SECURITY_HEADERS.iter().map(|(n, v)| (*n, *v)).chain(self.headers.iter().map(|(n, v)| (*n, v.as_str())))
        {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        stream.write_all(&out)?;
        stream.flush()
    }
}

/// Sent with every response: nothing is cached (a live view, tokens in URLs), nothing but this
/// device's own pages may load, and no address with a token leaves in a Referer.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
];

pub fn status_line(status: u16) -> String {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    };
    format!("HTTP/1.1 {status} {reason}\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_within_their_bounds() {
        let (head, n) = parse_head(b"GET /status.json?token=a%20b HTTP/1.1\r\nHost: x\r\nCookie: c=1\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!((head.method.as_str(), head.path(), n), ("GET", "/status.json", 63));
        assert_eq!(head.query("token").as_deref(), Some("a b"));
        assert_eq!(head.header("cookie"), Some("c=1"));
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(), None, "incomplete");
        assert!(matches!(parse_head(b"\x00\x01garbage\r\n\r\n"), Err(HttpError::Malformed(_))));
        // A megabyte request line, and ten thousand headers.
        let mut long = b"GET /".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        assert_eq!(parse_head(&long), Err(HttpError::LineTooLong));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..10_000 {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&many), Err(HttpError::HeadTooLarge));
        let mut few_many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS + 1 {
            few_many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        few_many.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&few_many), Err(HttpError::HeadTooLarge));
        assert_eq!(HttpError::HeadTooLarge.status(), 431);
    }

    #[test]
    fn percent_decoding_refuses_what_is_not_text() {
        assert_eq!(percent_decode("%2e%2E/a+b", false).as_deref(), Some("../a+b"));
        assert_eq!(percent_decode("a+b", true).as_deref(), Some("a b"));
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%ff", false), None, "not UTF-8");
        assert_eq!(form_value("a=1&id=S26-0042&b", "id").as_deref(), Some("S26-0042"));
        assert_eq!(form_value("a=1", "id"), None);
    }
}
