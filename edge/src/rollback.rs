//! Rollback protection: the device keeps, per signing key, the creation time of the newest
//! bundle it has screened with (`accepted-bundles.json` in its state folder), and refuses a
//! bundle older than the newest of *any* trusted key: a genuine but superseded model (a
//! withdrawn threshold, a model recalled for a fault) cannot be put back by copying its old
//! file, nor by one signed with a second or rotated key. The operator can
//! go back on purpose (`screen --allow-downgrade`); the downgrade is kept in the same file.
//! Unsigned bundles carry no trustworthy date and are not compared.

use melanoscope_shared::atomic::write_atomic;
use melanoscope_shared::formats::{ModelIdentity, hex};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The state file's name in the state folder.
pub const STATE_FILE: &str = "accepted-bundles.json";
/// Downgrades kept in the state file (the oldest are dropped).
const MAX_DOWNGRADES: usize = 1000;

/// The newest bundle accepted from one signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    /// The signed `created_unix_s` of the bundle.
    pub created_unix_s: u64,
    pub bundle_sha256: String,
    pub accepted_unix_s: u64,
}

/// A downgrade the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Downgrade {
    pub at_unix_s: u64,
    pub signer: String,
    pub from_created_unix_s: u64,
    pub to_created_unix_s: u64,
    pub bundle_sha256: String,
}

/// What the state file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptedBundles {
    /// By signer public key (hex).
    pub signers: BTreeMap<String, Accepted>,
    #[serde(default)]
    pub downgrades: Vec<Downgrade>,
}

/// How a bundle compared with what the device accepted before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Unsigned: nothing to compare.
    Unsigned,
    /// The first bundle of this signer on this device.
    First,
    /// As new as the newest accepted (the same bundle, typically).
    Current,
    /// Newer than any accepted before; now the newest.
    Newer,
    /// Older, and accepted because the operator asked for it.
    Downgraded { from_created_unix_s: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error(
        "{bundle}: an older bundle (created {created}) than one this device already screened with (created \
         {newest}, signer {signer}); install the newer bundle, or run `melanoscope-edge screen --allow-downgrade` \
         once to go back on purpose (it is recorded in {state})"
    )]
    Older { bundle: String, created: String, newest: String, signer: String, state: String },
    #[error("{path}: {detail}; it records which bundles this device accepted (remove it only to start over)")]
    State { path: String, detail: String },
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time in seconds.
fn date(unix_s: u64) -> String {
    let iso = crate::records::iso8601_utc(unix_s.saturating_mul(1000));
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

fn read_state(path: &Path) -> Result<AcceptedBundles, RollbackError> {
    let state = |detail: String| RollbackError::State { path: path.display().to_string(), detail };
    use melanoscope_shared::bounded::{BoundedReadError, read_bounded};
    // Read at most 16 MiB, and only from a regular file: a link to /dev/zero or a FIFO in its
    // place is refused at once instead of filling memory or blocking the start.
    match read_bounded(path, 16 << 20) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| state(format!("not the expected JSON: {e}"))),
        Err(BoundedReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(AcceptedBundles::default()),
        Err(BoundedReadError::Io(e)) => Err(state(format!("cannot read it: {e}"))),
        Err(BoundedReadError::TooLarge { limit }) => {
            Err(state(format!("more than {limit} bytes; expected a small JSON file")))
        }
    }
}

/// Compares the bundle at `bundle` (`identity`, its signed `created_unix_s`) with the newest
/// the device accepted from any trusted signer (state in `state_dir`), and records it when as
/// new or newer, or when older and `allow_downgrade`. `now_unix_s` dates the record.
pub fn check_and_record(
    state_dir: &Path,
    bundle: &Path,
    identity: &ModelIdentity,
    created_unix_s: u64,
    allow_downgrade: bool,
    now_unix_s: u64,
) -> Result<Acceptance, RollbackError> {
    let Some(signer) = identity.signer else { return Ok(Acceptance::Unsigned) };
    let path: PathBuf = state_dir.join(STATE_FILE);
    let mut state = read_state(&path)?;
    let key = hex(&signer);
    let sha = hex(&identity.bundle_sha256);
    let accepted = Accepted { created_unix_s, bundle_sha256: sha.clone(), accepted_unix_s: now_unix_s };
    // Over the device, not per signer: a second key must not re-open what the first retired.
    let newest = state.signers.iter().max_by_key(|(_, a)| a.created_unix_s).map(|(k, a)| (k.clone(), a.created_unix_s));
    let outcome = match newest {
        None => Acceptance::First,
        Some((_, newest)) if created_unix_s > newest => Acceptance::Newer,
        Some((_, newest))
            if created_unix_s == newest && state.signers.get(&key).is_some_and(|a| a.created_unix_s == newest) =>
        {
            return Ok(Acceptance::Current);
        }
        Some((_, newest)) if created_unix_s == newest => Acceptance::Newer,
        Some((by, newest)) if !allow_downgrade => {
            return Err(RollbackError::Older {
                bundle: bundle.display().to_string(),
                created: date(created_unix_s),
                newest: date(newest),
                signer: by.chars().take(16).collect(),
                state: path.display().to_string(),
            });
        }
        Some((_, from)) => {
            state.downgrades.push(Downgrade {
                at_unix_s: now_unix_s,
                signer: key.clone(),
                from_created_unix_s: from,
                to_created_unix_s: created_unix_s,
                bundle_sha256: sha,
            });
            let excess = state.downgrades.len().saturating_sub(MAX_DOWNGRADES);
            state.downgrades.drain(..excess);
            // Going back on purpose lowers the device's newest: every signer's entry above the
            // bundle now accepted is brought down to it.
            for a in state.signers.values_mut().filter(|a| a.created_unix_s > created_unix_s) {
                a.created_unix_s = created_unix_s;
            }
            Acceptance::Downgraded { from_created_unix_s: from }
        }
    };
    state.signers.insert(key, accepted);
    let io = |e: std::io::Error| RollbackError::State {
        path: path.display().to_string(),
        detail: melanoscope_shared::errors::error_chain(&e),
    };
    std::fs::create_dir_all(state_dir).map_err(io)?;
    let json = serde_json::to_vec_pretty(&state).map_err(|e| RollbackError::State {
        path: path.display().to_string(),
        detail: melanoscope_shared::errors::error_chain(&e),
    })?;
    write_atomic(&path, &json).map_err(io)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(signer: Option<[u8; 32]>, n: u8) -> ModelIdentity {
        ModelIdentity { bundle_sha256: [n; 32], signer }
    }

    #[test]
    fn older_bundles_of_a_signer_are_refused_unless_asked_and_then_recorded() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("rollback");
        let b = Path::new("/etc/melanoscope/model.mscm");
        let (a, other) = (Some([1; 32]), Some([2; 32]));
        let check = |id, created, allow| check_and_record(&dir, b, &id, created, allow, 1_800_000_000);
        assert_eq!(check(identity(None, 0), 5, false).unwrap(), Acceptance::Unsigned);
        assert!(!dir.join(STATE_FILE).exists(), "unsigned bundles leave no state");
        assert_eq!(check(identity(a, 1), 1_790_000_000, false).unwrap(), Acceptance::First);
        assert_eq!(check(identity(a, 1), 1_790_000_000, false).unwrap(), Acceptance::Current);
        assert_eq!(check(identity(a, 2), 1_795_000_000, false).unwrap(), Acceptance::Newer);
        // The first bundle again: genuine, signed, older. Refused, saying what to do.
        let err = check(identity(a, 1), 1_790_000_000, false).unwrap_err().to_string();
        assert!(err.contains("model.mscm") && err.contains("--allow-downgrade"), "{err}");
        assert!(err.contains("2026-09-21 14:13 UTC") && err.contains("2026-11-18 11:06 UTC"), "{err}");
        // A second trusted key does not re-open older bundles (before, each signer had its own
        // history and this was accepted as its first): refused, naming the newest's signer.
        let err = check(identity(other, 3), 1_700_000_000, false).unwrap_err().to_string();
        assert!(err.contains("older bundle") && err.contains("signer 0101010101010101"), "{err}");
        // A newer bundle of the second key is accepted and is the device's newest.
        assert_eq!(check(identity(other, 4), 1_796_000_000, false).unwrap(), Acceptance::Newer);
        assert!(check(identity(a, 2), 1_795_000_000, false).is_err(), "the first key's newest is now older");
        // On purpose: accepted, recorded, and the older one is now the newest.
        let down = check(identity(a, 1), 1_790_000_000, true).unwrap();
        assert_eq!(down, Acceptance::Downgraded { from_created_unix_s: 1_796_000_000 });
        let state = read_state(&dir.join(STATE_FILE)).unwrap();
        assert_eq!(state.downgrades.len(), 1);
        assert_eq!(state.downgrades[0].to_created_unix_s, 1_790_000_000);
        assert_eq!(state.signers[&hex(&[1; 32])].created_unix_s, 1_790_000_000);
        assert_eq!(check(identity(a, 1), 1_790_000_000, false).unwrap(), Acceptance::Current);
        // A damaged state file refuses rather than forgets.
        std::fs::write(dir.join(STATE_FILE), b"{\"signers\": 7").unwrap();
        let err = check(identity(a, 2), 1_795_000_000, false).unwrap_err().to_string();
        assert!(err.contains(STATE_FILE) && err.contains("not the expected JSON"), "{err}");
        // Linked to /dev/zero, or a FIFO in its place: refused at once, named, neither read
        // into memory nor waited on.
        let state = dir.join(STATE_FILE);
        for (what, make) in [("/dev/zero", "link"), ("a FIFO", "fifo")] {
            std::fs::remove_file(&state).unwrap();
            let made = match make {
                "link" => std::os::unix::fs::symlink("/dev/zero", &state).is_ok(),
                _ => std::process::Command::new("mkfifo").arg(&state).status().unwrap().success(),
            };
            assert!(made, "{what}");
            let err = check(identity(a, 2), 1_795_000_000, false).unwrap_err().to_string();
            assert!(err.contains(STATE_FILE) && err.contains("not a regular file"), "{what}: {err}");
        }
    }
}
