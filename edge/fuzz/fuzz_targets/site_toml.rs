//! Site settings on arbitrary text: never panics; anything accepted validates, and what
//! `check-config` would print of it loads again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_edge::config::EdgeConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(cfg) = EdgeConfig::from_texts(Some(("site.toml", text))) else { return };
    cfg.validate("site.toml").expect("accepted settings validate");
    let printed = toml::to_string(&cfg).expect("accepted settings print");
    let again = EdgeConfig::from_texts(Some(("printed.toml", &printed))).expect("printed settings load");
    assert_eq!(again, cfg);
});
