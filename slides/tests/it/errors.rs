//! A failure reaches the user as one line with each cause said once: the binary prints the
//! chain (`error_chain`), and no message repeats the error it wraps.

use std::process::Command;

#[test]
fn a_three_level_failure_is_printed_with_each_cause_once() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("error-chain");
    let shard = dir.join("shards/0-of-1");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join("shard.json"), "{ not json").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_melanoscope-slides"))
        .args(["merge", "patches", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    // The command's context, the shard file, and the JSON parser's own words.
    let levels =
        [format!("merging the shards under {}", dir.display()), "shard.json".into(), "key must be a string".into()];
    for level in &levels {
        assert_eq!(text.matches(level.as_str()).count(), 1, "{level:?} said once in {text}");
    }
    let at = |s: &str| text.find(s).unwrap();
    assert!(at(&levels[0]) < at(&levels[1]) && at(&levels[1]) < at(&levels[2]), "outermost first: {text}");
    assert!(text.starts_with("Error: ") && !text.contains("Caused by"), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file OpenSlide refuses: its reason said once (it was said twice on one line, inside the
/// message and again as the cause), after what the formats are.
#[test]
fn a_refused_slide_says_its_reason_once() {
    let dir = melanoscope_shared::scratch::ScratchDir::new("error-once");
    let path = dir.join("notes.svs");
    std::fs::write(&path, b"not a slide at all, only text that OpenSlide will refuse").unwrap();
    let e = melanoscope_slides::slide::Slide::open(&path, None).unwrap_err();
    let text = melanoscope_shared::errors::error_chain(&e);
    let cause = std::error::Error::source(&e).map(|c| c.to_string()).expect("the refusal keeps its cause");
    assert_eq!(text.matches(cause.as_str()).count(), 1, "{text}");
    assert!(text.contains("notes.svs") && text.contains("supported: Aperio SVS"), "{text}");
}
