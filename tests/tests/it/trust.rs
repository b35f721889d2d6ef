//! Model trust on the device: with any trusted key configured an unsigned (or altered) bundle
//! is refused even when `require_signature` is false; a signed one screens and its records
//! name the signer; a re-signed older bundle of the same signer is refused (rollback) unless
//! the operator allows the downgrade, which is recorded.

use melanoscope_edge::config::EdgeConfig;
use melanoscope_edge::rollback::{Acceptance, STATE_FILE};
use melanoscope_edge::screen::setup::{SetupError, check_rollback, open_bundle};
use melanoscope_engine::LoadedBundle;
use melanoscope_shared::formats::{ModelFile, hex, sha256};
use melanoscope_shared::scratch::ScratchDir;
use melanoscope_tests::scenes::write_bundle;
use std::path::Path;

const SECRET: [u8; 32] = [42; 32];

/// The tiny bundle as created at `created_unix_s`, signed with [`SECRET`] when `signed`.
fn bundle_at(dir: &Path, name: &str, created_unix_s: u64, signed: bool) -> std::path::PathBuf {
    let mut file = LoadedBundle::read_checked(&write_bundle(dir), &[], false).unwrap().file;
    file.meta.created_unix_s = created_unix_s;
    if signed {
        file.sign(&SECRET).unwrap();
    }
    let path = dir.join(name);
    std::fs::write(&path, file.encode().unwrap()).unwrap();
    path
}

fn site(dir: &Path, bundle: &Path, keys: bool) -> EdgeConfig {
    let key = dir.join("demo.public");
    std::fs::write(&key, format!("{}\n", hex(&ModelFile::public_key_of(&SECRET)))).unwrap();
    let keys = if keys { format!("[{:?}]", key.display().to_string()) } else { "[]".into() };
    let text = format!(
        "[model]\nbundle = {:?}\ntrusted_keys = {keys}\nrequire_signature = false\nstate_dir = {:?}\nbackend = \"tract\"\n",
        bundle.display().to_string(),
        dir.join("state").display().to_string()
    );
    EdgeConfig::from_texts(Some(("site.toml", &text))).unwrap()
}

#[test]
fn a_keyed_device_refuses_unsigned_bundles_and_names_the_signer() {
    let dir = ScratchDir::new("e2e-trust-keys");
    let unsigned = bundle_at(&dir, "unsigned.mscm", 1_790_000_000, false);
    // Keys configured, require_signature false: the keys alone require a signature.
    let err = open_bundle(&site(&dir, &unsigned, true).model).unwrap_err();
    assert!(matches!(err, SetupError::Bundle { .. }), "{err}");
    // Said once, as the technician reads it: the file once, "model bundle" once, no repeats.
    let text = melanoscope_shared::errors::error_chain(&err);
    let path = unsigned.display().to_string();
    assert_eq!(text.matches(&path).count(), 1, "{text}");
    assert_eq!(text.matches("model bundle").count(), 1, "{text}");
    assert_eq!(text.matches("requires a signature").count(), 1, "{text}");
    assert!(text.contains("unsigned"), "{text}");
    // Without keys it opens, and says it is unsigned.
    let open = open_bundle(&site(&dir, &unsigned, false).model).unwrap();
    assert_eq!(open.identity.signer, None);

    let signed = bundle_at(&dir, "signed.mscm", 1_790_000_000, true);
    let loaded = open_bundle(&site(&dir, &signed, true).model).unwrap();
    assert_eq!(loaded.identity.signer, Some(ModelFile::public_key_of(&SECRET)));
    assert_eq!(loaded.identity.bundle_sha256, sha256(&std::fs::read(&signed).unwrap()));
    // A signed bundle whose threshold was raised afterwards: refused by the signature.
    let public = ModelFile::public_key_of(&SECRET);
    let mut altered = LoadedBundle::read_checked(&signed, &[public], true).unwrap().file;
    altered.meta.decision.threshold = 1.0;
    std::fs::write(dir.join("altered.mscm"), altered.encode().unwrap()).unwrap();
    let err = open_bundle(&site(&dir, &dir.join("altered.mscm"), true).model).unwrap_err().to_string();
    assert!(err.contains("does not match the contents"), "{err}");
}

#[test]
fn an_older_bundle_of_the_same_signer_is_refused_unless_the_downgrade_is_asked_for() {
    let dir = ScratchDir::new("e2e-trust-rollback");
    let old = bundle_at(&dir, "old.mscm", 1_790_000_000, true);
    let new = bundle_at(&dir, "new.mscm", 1_795_000_000, true);
    let (old_site, new_site) = (site(&dir, &old, true), site(&dir, &new, true));
    let accept = |cfg: &EdgeConfig, allow| check_rollback(&cfg.model, &open_bundle(&cfg.model).unwrap(), allow);
    assert_eq!(accept(&old_site, false).unwrap(), Acceptance::First);
    assert_eq!(accept(&new_site, false).unwrap(), Acceptance::Newer);
    let err = accept(&old_site, false).unwrap_err().to_string();
    assert!(err.contains("old.mscm") && err.contains("--allow-downgrade"), "{err}");
    assert_eq!(accept(&old_site, true).unwrap(), Acceptance::Downgraded { from_created_unix_s: 1_795_000_000 });
    let state = std::fs::read_to_string(dir.join("state").join(STATE_FILE)).unwrap();
    assert!(state.contains("\"downgrades\"") && state.contains("1795000000"), "{state}");
    // Unsigned bundles have no trustworthy date: not compared, nothing recorded for them.
    let unsigned = bundle_at(&dir, "unsigned.mscm", 1, false);
    assert_eq!(accept(&site(&dir, &unsigned, false), false).unwrap(), Acceptance::Unsigned);
}
