//! Custody tests: passphrase stores, rekey (both kinds, and a crash in the
//! middle), rollback against the audit log, crash leftovers, binary values.

use std::fs;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::recover::NEXT_KEY_FILE;
use super::tests::{canary, decrypted, project, secret, value};
use super::*;
use crate::audit::{AuditLog, Event};

const PASS: &str = "correct horse battery staple";

fn ask(pass: &'static str) -> impl Fn() -> Result<SecretString, StoreError> {
    move || Ok(SecretString::from(pass))
}

fn passphrase_store(dir: &Path) -> Store {
    let protection = KeyProtection::Passphrase(SecretString::from(PASS));
    Store::init_with(dir, protection).unwrap()
}

/// The key file, the store file and any other file in `dir`, as bytes.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for item in fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        if path.is_file() {
            out.extend(fs::read(path).unwrap());
        }
    }
    out
}

fn write_private(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn passphrase_store_round_trips_without_a_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = passphrase_store(dir.path());
    let v = canary();
    store
        .set(&project("p"), &secret("s"), &value(v.as_bytes()))
        .unwrap();
    assert!(!dir.path().join(KEY_FILE).exists());
    let opened = Store::open_with(dir.path(), &ask(PASS)).unwrap();
    assert!(opened.uses_passphrase());
    assert_eq!(decrypted(&opened, "p", "s"), v.as_bytes());
    assert!(
        !contains(&all_bytes(dir.path()), v.as_bytes()),
        "value on disk"
    );
    assert!(
        !contains(&all_bytes(dir.path()), PASS.as_bytes()),
        "passphrase on disk"
    );
}

#[test]
fn wrong_passphrase_and_corrupted_file_give_the_same_error() {
    let dir = tempfile::tempdir().unwrap();
    passphrase_store(dir.path());
    let wrong = Store::open_with(dir.path(), &ask("not the passphrase")).unwrap_err();
    let path = dir.path().join(STORE_FILE);
    let text = fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let wrapped = json["wrapped_key"].as_str().unwrap();
    let flipped = format!(
        "{}{}",
        if wrapped.starts_with('0') { "1" } else { "0" },
        &wrapped[1..]
    );
    fs::write(&path, text.replace(wrapped, &flipped)).unwrap();
    let corrupted = Store::open_with(dir.path(), &ask(PASS)).unwrap_err();
    assert!(
        matches!(wrong, StoreError::Unauthenticated { .. }),
        "{wrong}"
    );
    assert_eq!(wrong.to_string(), corrupted.to_string());
    assert_eq!(wrong.hint(), corrupted.hint());
}

#[test]
fn kdf_parameters_over_the_cap_are_refused_at_parse() {
    let dir = tempfile::tempdir().unwrap();
    passphrase_store(dir.path());
    let path = dir.path().join(STORE_FILE);
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    for (field, absurd) in [("memory_kib", u64::from(u32::MAX)), ("passes", 1_000_000)] {
        let mut crafted = json.clone();
        crafted["kek"][field] = absurd.into();
        super::tests_json::write_json(dir.path(), &crafted);
        let asked = std::cell::Cell::new(false);
        let probe = || {
            asked.set(true);
            Ok(SecretString::from(PASS))
        };
        let err = Store::open_with(dir.path(), &probe).unwrap_err();
        assert!(
            matches!(err, StoreError::Malformed { .. }),
            "{field}: {err}"
        );
        assert!(err.to_string().contains("Argon2id"), "{err}");
        assert!(!asked.get(), "{field}: the passphrase was asked for");
    }
}

#[test]
fn rekey_to_a_new_key_file_locks_out_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let v = canary();
    store
        .set(&project("p"), &secret("s"), &value(v.as_bytes()))
        .unwrap();
    let old_key = fs::read(dir.path().join(KEY_FILE)).unwrap();
    let old_entry = fs::read_to_string(dir.path().join(STORE_FILE)).unwrap();
    store.rekey(KeyProtection::KeyFile, false).unwrap();
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(decrypted(&reopened, "p", "s"), v.as_bytes());
    let new_text = fs::read_to_string(dir.path().join(STORE_FILE)).unwrap();
    let ciphertext = |text: &str| {
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        json["entries"][0]["ciphertext"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        ciphertext(&old_entry),
        ciphertext(&new_text),
        "entries re-wrapped only"
    );
    fs::write(dir.path().join(KEY_FILE), &old_key).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Unauthenticated { .. }), "{err}");
}

#[test]
fn rekey_data_key_reencrypts_and_keeps_versions() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    store
        .set(&project("p"), &secret("bin"), &value(&binary))
        .unwrap();
    store
        .set(&project("p"), &secret("s"), &value(b"one"))
        .unwrap();
    store
        .rotate(&project("p"), &secret("s"), &value(b"two"))
        .unwrap();
    let before: Vec<EntryInfo> = store.entries().cloned().collect();
    let old_text = fs::read_to_string(dir.path().join(STORE_FILE)).unwrap();
    let protection = KeyProtection::Passphrase(SecretString::from(PASS));
    store.rekey(protection, true).unwrap();
    assert!(
        !dir.path().join(KEY_FILE).exists(),
        "the old key file is gone"
    );
    let reopened = Store::open_with(dir.path(), &ask(PASS)).unwrap();
    assert_eq!(reopened.entries().cloned().collect::<Vec<_>>(), before);
    assert_eq!(decrypted(&reopened, "p", "bin"), binary);
    assert_eq!(decrypted(&reopened, "p", "s"), b"two");
    let new_text = fs::read_to_string(dir.path().join(STORE_FILE)).unwrap();
    let old: serde_json::Value = serde_json::from_str(&old_text).unwrap();
    let new: serde_json::Value = serde_json::from_str(&new_text).unwrap();
    assert_ne!(old["key_id"], new["key_id"]);
    assert_ne!(
        old["entries"][0]["ciphertext"],
        new["entries"][0]["ciphertext"]
    );
}

#[test]
fn passphrase_rekey_locks_out_the_old_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = passphrase_store(dir.path());
    store
        .set(&project("p"), &secret("s"), &value(b"kept"))
        .unwrap();
    let new_pass = "a different passphrase";
    let protection = KeyProtection::Passphrase(SecretString::from(new_pass));
    store.rekey(protection, false).unwrap();
    let err = Store::open_with(dir.path(), &ask(PASS)).unwrap_err();
    assert!(matches!(err, StoreError::Unauthenticated { .. }), "{err}");
    let mut reopened = Store::open_with(dir.path(), &ask(new_pass)).unwrap();
    assert_eq!(decrypted(&reopened, "p", "s"), b"kept");
    // And back to a key file: the passphrase stops working.
    reopened.rekey(KeyProtection::KeyFile, false).unwrap();
    assert!(!reopened.uses_passphrase());
    assert_eq!(
        decrypted(&Store::open(dir.path()).unwrap(), "p", "s"),
        b"kept"
    );
    let short = KeyProtection::Passphrase(SecretString::from("short"));
    let err = reopened.rekey(short, false).unwrap_err();
    assert!(matches!(err, StoreError::PassphraseTooShort), "{err}");
    assert_eq!(
        decrypted(&Store::open(dir.path()).unwrap(), "p", "s"),
        b"kept"
    );
}

#[test]
fn subkeys_survive_both_kinds_of_rekey() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let before = store.derive_subkey("test context").expose_secret().to_vec();
    store.rekey(KeyProtection::KeyFile, false).unwrap();
    store.rekey(KeyProtection::KeyFile, true).unwrap();
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(
        reopened
            .derive_subkey("test context")
            .expose_secret()
            .to_vec(),
        before
    );
    let other = Store::init(tempfile::tempdir().unwrap().path()).unwrap();
    assert_ne!(
        other.derive_subkey("test context").expose_secret().to_vec(),
        before
    );
}

#[test]
fn half_done_rekey_is_finished_or_discarded_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    store
        .set(&project("p"), &secret("s"), &value(b"kept"))
        .unwrap();
    // Crash after the store file was written, before `key.next` was renamed.
    let current_key = fs::read(dir.path().join(KEY_FILE)).unwrap();
    store.rekey(KeyProtection::KeyFile, false).unwrap();
    let new_key = fs::read(dir.path().join(KEY_FILE)).unwrap();
    write_private(&dir.path().join(NEXT_KEY_FILE), &new_key);
    write_private(&dir.path().join(KEY_FILE), &current_key);
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(decrypted(&reopened, "p", "s"), b"kept");
    assert_eq!(fs::read(dir.path().join(KEY_FILE)).unwrap(), new_key);
    assert!(!dir.path().join(NEXT_KEY_FILE).exists());
    // Crash before the store file was written: the stray key is dropped.
    write_private(&dir.path().join(NEXT_KEY_FILE), &[9u8; 32]);
    let stale_temp = dir
        .path()
        .join(format!(".{STORE_FILE}.0123456789abcdef.tmp"));
    fs::write(&stale_temp, b"half").unwrap();
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(decrypted(&reopened, "p", "s"), b"kept");
    assert_eq!(fs::read(dir.path().join(KEY_FILE)).unwrap(), new_key);
    assert!(!dir.path().join(NEXT_KEY_FILE).exists());
    assert!(!stale_temp.exists(), "stale temp file left behind");
}

#[test]
fn rollback_below_the_audited_generation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let key = crate::audit::CheckpointKey::from_store(&store);
    let log = AuditLog::create_anchored(dir.path(), key).unwrap();
    let old_copy = fs::read(dir.path().join(STORE_FILE)).unwrap();
    store
        .set(&project("p"), &secret("s"), &value(b"v"))
        .unwrap();
    let written = |store: &Store| Event::StoreWrite {
        store: store.store_id().into(),
        generation: store.generation(),
    };
    log.append(written(&store)).unwrap();
    let other = Event::StoreWrite {
        store: "0".repeat(32),
        generation: 99,
    };
    log.append(other).unwrap();
    Store::open(dir.path()).unwrap();
    fs::write(dir.path().join(STORE_FILE), &old_copy).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::RolledBack {
                found: 0,
                recorded: 1,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("generation 0") && text.contains("generation 1"),
        "{text}"
    );
}

#[test]
fn stale_handle_sees_a_rollback_under_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let old_copy = fs::read(dir.path().join(STORE_FILE)).unwrap();
    store
        .set(&project("p"), &secret("s"), &value(b"v"))
        .unwrap();
    fs::write(dir.path().join(STORE_FILE), &old_copy).unwrap();
    let err = store
        .set(&project("p"), &secret("t"), &value(b"w"))
        .unwrap_err();
    assert!(matches!(err, StoreError::RolledBack { .. }), "{err}");
    assert_eq!(fs::read(dir.path().join(STORE_FILE)).unwrap(), old_copy);
}

#[test]
fn binary_value_rotates_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let first: Vec<u8> = vec![0xff, 0xfe, 0x00, 0x80, b'\n', 0xc3];
    let second: Vec<u8> = (0..=255u8).collect();
    store
        .set(&project("p"), &secret("bin"), &value(&first))
        .unwrap();
    assert_eq!(
        decrypted(&Store::open(dir.path()).unwrap(), "p", "bin"),
        first
    );
    store
        .rotate(&project("p"), &secret("bin"), &value(&second))
        .unwrap();
    let reopened = Store::open(dir.path()).unwrap();
    let (info, got) = reopened.decrypt(&project("p"), &secret("bin")).unwrap();
    assert_eq!((info.version, got.expose_secret()), (2, &second[..]));
}
