//! The few pieces of HTML both sides' pages are made of (the trainer's run report, the edge's
//! case pages): the one escape, images inlined as data URIs, and a table. Pages are written
//! whole as self-contained files; nothing here fetches or scripts anything.

use alloc::string::String;
use alloc::vec::Vec;

/// Text made safe inside HTML text and quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, padded), for images inlined in a page.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let at = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (at(0) << 16) | (at(1) << 8) | at(2);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * k)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `data:<mime>;base64,...`: an image (or any file) inside the page that shows it.
pub fn data_uri(mime: &str, bytes: &[u8]) -> String {
    let mut out = String::from("data:");
    out.push_str(mime);
    out.push_str(";base64,");
    out.push_str(&base64(bytes));
    out
}

/// A table of already-escaped cells (`headers` are escaped here).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table>\n<tr>");
    for h in headers {
        out.push_str("<th>");
        out.push_str(&escape(h));
        out.push_str("</th>");
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str("<td>");
            out.push_str(cell);
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_base64_and_table() {
        assert_eq!(escape("<b a=\"1\">&'"), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
        for (raw, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(raw.as_bytes()), encoded);
        }
        assert_eq!(data_uri("image/png", b"fo"), "data:image/png;base64,Zm8=");
        let t = table(&["a<"], &[alloc::vec!["1".into()]]);
        assert!(t.contains("<th>a&lt;</th>") && t.contains("<td>1</td>"), "{t}");
    }
}
