//! A web-view request on arbitrary bytes: the head parser never panics, and whatever parses is
//! routed (access check, path decoding, case and review pages) without panicking; a path that
//! climbs with `..` (plain or percent-encoded) is never answered 200.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_edge::web::access::Access;
use melanoscope_edge::web::http::{parse_head, percent_decode};
use melanoscope_edge::web::{WebSettings, status_for};

fuzz_target!(|data: &[u8]| {
    let Ok(Some((head, used))) = parse_head(data) else { return };
    let dir = std::env::temp_dir().join("melanoscope-fuzz-web");
    let settings = WebSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        access: Access::new(None, None, false),
        generated_token: false,
        max_viewers: 1,
        cases_dir: dir.join("cases"),
        log_path: dir.join("screening.log"),
        review_dir: Some(dir.join("review")),
    };
    let status = status_for(settings, &head, &data[used..]);
    let climbs = percent_decode(head.path(), false).is_some_and(|p| p.split('/').any(|c| c == ".."));
    assert!(!(climbs && status == 200), "{:?} answered 200", head.target);
});
