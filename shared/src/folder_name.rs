//! Folder and file names made from ids that come from outside (a cohort's `slide_id`, a
//! device's name): an id of plain characters is its own name, as before; any other is
//! sanitised and given a short hash of the whole id, so that `A/1` and `A_1`, or `../x` and
//! `__x`, never share a folder and no name leaves the folder it is joined to.

use alloc::format;
use alloc::string::String;
use sha2::{Digest, Sha256};

/// Longest id kept as its own name (longer ones are cut and hashed).
const MAX_PLAIN: usize = 100;

/// Whether `id` is a name by itself: ASCII letters, digits, `-`, `_` and `.`, not starting
/// with a dot, at most [`MAX_PLAIN`] characters.
pub fn is_plain(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_PLAIN
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The name for `id`: itself when [`is_plain`], else its plain characters (others as `_`, cut
/// to 64), `-` and the first 8 hex digits of its SHA-256.
pub fn folder_name(id: &str) -> String {
    if is_plain(id) {
        return id.into();
    }
    let safe: String = id
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    let safe = safe.trim_start_matches('.');
    let digest = Sha256::digest(id.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{safe}-{hash}")
}

/// The key two names collide under on a case-insensitive file system (a lab's exFAT stick).
pub fn collision_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_stay_and_others_are_kept_apart_inside_their_folder() {
        assert_eq!(folder_name("S26-0042_b.1"), "S26-0042_b.1");
        let (a, b) = (folder_name("A/1"), folder_name("A_1"));
        assert_ne!(a, b, "A/1 and A_1 were one folder");
        assert!(a.starts_with("A_1-") && a.len() == 4 + 8, "{a}");
        for hostile in ["../x", "..", ".", "/etc/passwd", "a\0b", "ä/ö", "", &"x".repeat(500), "..\\..\\w"] {
            let n = folder_name(hostile);
            assert!(is_plain(&n), "{hostile:?} -> {n:?}");
            assert!(!n.contains('/') && n != "." && n != "..", "{n}");
        }
        assert_ne!(folder_name("../x"), folder_name("__x"));
        assert_eq!(folder_name("../x"), folder_name("../x"), "the same id, the same folder (a resumed job)");
        assert_eq!(collision_key("S1"), collision_key("s1"));
    }
}
