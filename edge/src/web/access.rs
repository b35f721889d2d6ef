//! Who may use the web view. On 127.0.0.1 with no token set, this computer's own browser needs
//! none. On any other address a token is asked of every request (the site's, or one generated
//! at start); a second token, or `read_only`, makes a viewer that watches only. The token
//! comes in the address (`?token=`, the link shown on the screen), after which a cookie
//! carries it, or in an `Authorization: Bearer` header.

use super::http::Head;

/// The cookie that carries the token after the first page.
pub const COOKIE: &str = "melanoscope_token";

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Watch, and open and close cases and save snapshots.
    Control,
    /// Watch only.
    View,
}

/// The tokens in force.
#[derive(Clone, PartialEq, Eq)]
pub struct Access {
    control: Option<String>,
    viewer: Option<String>,
    read_only: bool,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens stay out of logs.
        f.debug_struct("Access")
            .field("token", &self.control.is_some())
            .field("viewer_token", &self.viewer.is_some())
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Access {
    pub fn new(control: Option<String>, viewer: Option<String>, read_only: bool) -> Self {
        Self { control: control.filter(|t| !t.is_empty()), viewer: viewer.filter(|t| !t.is_empty()), read_only }
    }

    /// The token that controls (for the address shown on the screen), if one is asked.
    pub fn token(&self) -> Option<&str> {
        self.control.as_deref()
    }

    /// The role of a request presenting `token` (`None`: 401).
    pub fn role(&self, token: Option<&str>) -> Option<Role> {
        let cap = |r: Role| if self.read_only { Role::View } else { r };
        let Some(control) = &self.control else { return Some(cap(Role::Control)) };
        let token = token?;
        if same(token, control) {
            Some(cap(Role::Control))
        } else if self.viewer.as_deref().is_some_and(|v| same(token, v)) {
            Some(Role::View)
        } else {
            None
        }
    }
}

/// The token a request presents: `?token=`, then the cookie, then `Authorization: Bearer`.
pub fn presented(head: &Head) -> Option<String> {
    if let Some(t) = head.query("token") {
        return Some(t);
    }
    let cookie = head.header("cookie").and_then(|c| {
        c.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == COOKIE).map(|(_, v)| v.to_string())
    });
    cookie
        .or_else(|| head.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(|t| t.trim().to_string()))
}

/// Compares in time independent of where the strings differ (a token is not guessed a
/// character at a time from response times).
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// A fresh random token (128 bits from the kernel, as hex).
pub fn generate_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(melanoscope_shared::formats::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::http::parse_head;

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn roles_follow_the_tokens() {
        let open = Access::new(None, None, false);
        assert_eq!(open.role(None), Some(Role::Control));
        assert_eq!(Access::new(None, None, true).role(None), Some(Role::View));
        let guarded = Access::new(Some("c".repeat(16)), Some("v".repeat(16)), false);
        assert_eq!(guarded.role(None), None);
        assert_eq!(guarded.role(Some("wrong")), None);
        assert_eq!(guarded.role(Some(&"c".repeat(15))), None, "a prefix is not the token");
        assert_eq!(guarded.role(Some(&"c".repeat(16))), Some(Role::Control));
        assert_eq!(guarded.role(Some(&"v".repeat(16))), Some(Role::View));
        let ro = Access::new(Some("c".repeat(16)), None, true);
        assert_eq!(ro.role(Some(&"c".repeat(16))), Some(Role::View));
        assert!(!format!("{guarded:?}").contains("cccc"), "tokens stay out of logs");
    }

    #[test]
    fn tokens_come_from_the_query_the_cookie_or_the_header() {
        assert_eq!(presented(&head("GET /?token=abc HTTP/1.1\r\n\r\n")).as_deref(), Some("abc"));
        let c = head("GET / HTTP/1.1\r\nCookie: a=1; melanoscope_token=xyz\r\n\r\n");
        assert_eq!(presented(&c).as_deref(), Some("xyz"));
        let b = head("GET / HTTP/1.1\r\nAuthorization: Bearer tok\r\n\r\n");
        assert_eq!(presented(&b).as_deref(), Some("tok"));
        assert_eq!(presented(&head("GET / HTTP/1.1\r\n\r\n")), None);
        let t = generate_token().unwrap();
        assert_eq!(t.len(), 32);
        assert_ne!(t, generate_token().unwrap());
    }
}
