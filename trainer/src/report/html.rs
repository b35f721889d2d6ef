//! The page's HTML: escaping, tables, figures with intervals, and the document around them.

use super::Skipped;
use melanoscope_shared::metrics::ConfidenceInterval;

pub use melanoscope_shared::html::{escape, table};

/// A number with `digits` decimals, or a dash when absent.
pub fn num(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite()).map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// An estimate with its interval, e.g. "0.918 (0.876–0.949)"; a dash for an undefined one.
pub fn interval(v: &ConfidenceInterval) -> String {
    let e = Some(v.estimate).filter(|e| e.is_finite());
    if e.is_some() && v.lower.is_finite() && v.upper.is_finite() {
        format!("{} <small>({:.3}–{:.3})</small>", num(e, 3), v.lower, v.upper)
    } else {
        num(e, 3)
    }
}

/// [`interval`], or a dash when there is none.
pub fn interval_opt(v: Option<&ConfidenceInterval>) -> String {
    v.map_or_else(|| "–".into(), interval)
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
    fn intervals_are_shown_and_undefined_ones_are_a_dash() {
        let ci = |estimate, lower, upper| ConfidenceInterval {
            estimate,
            lower,
            upper,
            level: 0.95,
            valid_resamples: 10,
            resamples: 10,
        };
        assert_eq!(interval(&ci(0.9177, 0.876, 0.949)), "0.918 <small>(0.876–0.949)</small>");
        assert_eq!(interval(&ci(f64::NAN, 0.1, 0.2)), "–");
        assert_eq!(interval(&ci(0.5, f64::NAN, f64::NAN)), "0.500");
        assert_eq!(interval_opt(None), "–");
    }
}
