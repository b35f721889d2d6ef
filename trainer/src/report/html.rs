//! The page's HTML: escaping, tables, figures with intervals, and the document around them.

use super::Skipped;

pub use melanoscope_shared::html::{escape, table};

/// A number with `digits` decimals, or a dash when absent.
pub fn num(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite()).map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// An estimate with its interval (`{"estimate", "lower", "upper", "level"}`), e.g. "0.918
/// (0.876–0.949)".
pub fn interval(v: &serde_json::Value) -> String {
    let e = v["estimate"].as_f64();
    match (v["lower"].as_f64(), v["upper"].as_f64()) {
        (Some(l), Some(u)) if e.is_some() => format!("{} <small>({l:.3}–{u:.3})</small>", num(e, 3)),
        _ => num(e, 3),
    }
}

/// A JSON value as escaped text (strings without their quotes).
pub fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => escape(s),
        serde_json::Value::Null => "–".into(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.3}"),
            _ => n.to_string(),
        },
        other => escape(&other.to_string()),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}\
h1{font-size:1.6em}h2{border-bottom:2px solid #7a3b69;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.4em}\
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f3eef2}small{color:#666}.skipped{color:#8a4b00;background:#fff6e5;padding:.3em .6em;border-left:3px solid #e0a030}\
.figures{display:flex;flex-wrap:wrap;gap:1em}.figures figure{margin:0}.figures figcaption{font-size:.85em;color:#444}\
img.plot{width:360px;border:1px solid #ddd}img.panel{width:540px;border:1px solid #ddd}img.frame{width:320px;border:1px solid #ddd}\
.right{color:#1d6b2a;font-weight:bold}.wrong{color:#a11;font-weight:bold}code{font-size:.9em}";

/// The whole document: a title, what was skipped (if anything), and the sections.
pub fn document(run: &str, body: &str, skipped: &[Skipped]) -> String {
    let mut notes = String::new();
    if !skipped.is_empty() {
        notes.push_str(&format!(
            "<p class=\"skipped\">{} piece(s) of the run could not be shown; each is named in its section.</p>\n",
            skipped.len()
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Melanoscope run report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Melanoscope run report</h1>\n<p>Run folder <code>{}</code>. Research software on synthetic \
         and sample data: not for diagnosis.</p>\n{notes}{body}</body>\n</html>\n",
        escape(run)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_intervals_are_shown() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        let v = serde_json::json!({"estimate": 0.9177, "lower": 0.876, "upper": 0.949});
        assert_eq!(interval(&v), "0.918 <small>(0.876–0.949)</small>");
        assert_eq!(interval(&serde_json::json!({"estimate": null})), "–");
        assert_eq!(text(&serde_json::json!("<b>")), "&lt;b&gt;");
        assert_eq!(text(&serde_json::json!(3)), "3");
        let t = table(&["a<"], &[vec!["1".into()]]);
        assert!(t.contains("<th>a&lt;</th>") && t.contains("<td>1</td>"), "{t}");
    }
}
