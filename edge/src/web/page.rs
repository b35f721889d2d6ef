//! The live page: the overlay as an MJPEG stream (an `<img>`, which every browser shows without
//! plugins), the verdict, probability and status as text in a live region (screen readers read
//! it as it changes), the case controls and links to the case pages. Everything is inline: the
//! page fetches nothing from anywhere but this device, and works with no network. Without
//! script the forms still work (each answers with a page of its own); with it, the text follows
//! the screen every second and the answers appear in place.

use super::access::Role;
use melanoscope_shared::html::escape as esc;

const STYLE: &str = "body{font-family:sans-serif;margin:0;background:#111;color:#eee}\
main{display:flex;flex-wrap:wrap;gap:1em;padding:1em}\
#live{max-width:100%;height:auto;background:#000;border:1px solid #333}\
section{min-width:18em;flex:1}\
#verdict{font-size:1.6em;font-weight:bold;margin:.2em 0}\
form{margin:.5em 0}input,button{font-size:1.1em;padding:.3em .6em}\
a{color:#9cf}#answer{min-height:1.4em;color:#fc6}";

const SCRIPT: &str = r#"
const $ = id => document.getElementById(id);
async function refresh() {
  try {
    const r = await fetch('/status.json', {cache: 'no-store'});
    if (!r.ok) return;
    const s = await r.json();
    const p = s.probability == null ? '' : ` (probability ${s.probability.toFixed(2)}, threshold ${s.threshold.toFixed(2)})`;
    $('verdict').textContent = s.problem ? s.problem : ((s.verdict || 'waiting for the first frame') + p);
    $('status').textContent = s.status + (s.frozen ? ' | FROZEN' : '') + (s.warning ? ' | ' + s.warning : '');
    $('case').textContent = s.case ? `Case ${s.case} open; its verdict so far: ${s.case_verdict || 'none yet'}` : 'No case open';
  } catch (e) { /* the device restarting: try again next second */ }
}
for (const f of document.querySelectorAll('form[data-ask]')) {
  f.addEventListener('submit', async ev => {
    ev.preventDefault();
    const r = await fetch(f.action, {method: 'POST', headers: {'Accept': 'application/json'}, body: new URLSearchParams(new FormData(f))});
    const a = await r.json();
    $('answer').textContent = a.answer;
    if (r.ok) f.reset();
    refresh();
  });
}
setInterval(refresh, 1000);
refresh();
"#;

/// The live page for a viewer of `role`; `review`: whether a review folder is served.
pub fn live_page(role: Role, review: bool) -> String {
    let controls = match role {
        Role::Control => {
            "<h2>Case</h2>\n\
             <form data-ask method=\"post\" action=\"/case/open\"><label>Case id \
             <input name=\"id\" required maxlength=\"64\" pattern=\"[A-Za-z0-9][A-Za-z0-9._\\-]*\" autocomplete=\"off\"></label> \
             <button>Open case</button></form>\n\
             <form data-ask method=\"post\" action=\"/case/close\"><button>Close case</button></form>\n\
             <form data-ask method=\"post\" action=\"/snapshot\"><button>Save snapshot</button></form>\n\
             <p id=\"answer\" role=\"status\" aria-live=\"polite\"></p>\n"
        }
        Role::View => "<p>You are watching only: cases are opened at the microscope.</p>\n",
    };
    let review = if review { "<li><a href=\"/review/\">Review index</a></li>" } else { "" };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><title>Melanoscope live screen</title><style>{STYLE}</style></head><body>\n\
         <main><div><img id=\"live\" src=\"/stream.mjpg\" alt=\"The microscope's live field with the screening overlay\"></div>\n\
         <section><h1>Live screen</h1>\n\
         <p id=\"verdict\" role=\"status\" aria-live=\"polite\">waiting for the first frame</p>\n\
         <p id=\"status\"></p>\n<p id=\"case\"></p>\n{controls}\
         <h2>Pages</h2><ul><li><a href=\"/cases/\">Case pages</a></li>{review}</ul>\n\
         <p><small>A screening aid: every verdict is for a pathologist to confirm.</small></p>\n\
         </section></main>\n<script>{SCRIPT}</script>\n</body></html>\n"
    )
}

/// The page a form answers with when no script sent it.
pub fn answer_page(text: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">\
         <title>Melanoscope</title></head><body><p role=\"status\">{}</p><p><a href=\"/\">Back to the live screen</a></p></body></html>\n",
        esc(text)
    )
}
