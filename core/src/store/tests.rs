//! Store behaviour: round trips, lifecycle errors, concurrency, no plaintext
//! on disk. Tampering and malformed files are in `tests_tamper`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use secrecy::{ExposeSecret, SecretSlice};

use super::*;

pub(super) fn project(name: &str) -> ProjectName {
    ProjectName::new(name).unwrap()
}

pub(super) fn secret(name: &str) -> SecretName {
    SecretName::new(name).unwrap()
}

pub(super) fn value(bytes: &[u8]) -> SecretSlice<u8> {
    SecretSlice::from(bytes.to_vec())
}

/// A random value no file could contain by accident.
pub(super) fn canary() -> String {
    let bytes = crypto::random::<16>().unwrap();
    format!("canary-{}", crypto::hex_encode(&bytes))
}

pub(super) fn decrypted(store: &Store, p: &str, n: &str) -> Vec<u8> {
    let (_, v) = store.decrypt(&project(p), &secret(n)).unwrap();
    v.expose_secret().to_vec()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn init_set_open_decrypt_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    assert_eq!(store.store_id().len(), 32);
    let info = store
        .set(
            &project("analytics"),
            &secret("posthog-read"),
            &value(b"phc_123"),
        )
        .unwrap();
    assert_eq!(info.version, 1);
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.store_id(), store.store_id());
    assert_eq!(
        decrypted(&reopened, "analytics", "posthog-read"),
        b"phc_123"
    );
    let (got, _) = reopened
        .decrypt(&project("analytics"), &secret("posthog-read"))
        .unwrap();
    assert_eq!(got, info);
    assert_eq!(reopened.check_integrity().ok(), Some(()));
    assert_eq!(mode(&dir.path().join(KEY_FILE)), 0o600);
    assert_eq!(mode(&dir.path().join(STORE_FILE)), 0o600);
    assert_eq!(file_names(dir.path()), [KEY_FILE, STORE_FILE, LOCK_FILE]);
}

#[test]
fn entries_are_sorted_and_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    for (p, n) in [
        ("web", "token"),
        ("analytics", "token"),
        ("analytics", "api"),
        ("ci", "deploy"),
    ] {
        store
            .set(&project(p), &secret(n), &value(n.as_bytes()))
            .unwrap();
    }
    let listed: Vec<String> = store
        .entries()
        .map(|e| format!("{}/{}", e.project, e.name))
        .collect();
    assert_eq!(
        listed,
        ["analytics/api", "analytics/token", "ci/deploy", "web/token"]
    );
    assert_eq!(
        store.projects_holding(&secret("token")),
        [project("analytics"), project("web")]
    );
    assert!(store.projects_holding(&secret("nope")).is_empty());
    assert_eq!(
        store
            .find(&project("ci"), &secret("deploy"))
            .unwrap()
            .version,
        1
    );
    assert!(store.find(&project("ci"), &secret("token")).is_none());
}

#[test]
fn canary_value_never_reaches_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let (first, second) = (canary(), canary());
    store
        .set(&project("p"), &secret("s"), &value(first.as_bytes()))
        .unwrap();
    store
        .rotate(&project("p"), &secret("s"), &value(second.as_bytes()))
        .unwrap();
    store
        .set(&project("p"), &secret("t"), &value(first.as_bytes()))
        .unwrap();
    for entry in fs::read_dir(dir.path()).unwrap() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        for needle in [&first, &second] {
            for form in [needle.clone(), crypto::hex_encode(needle.as_bytes())] {
                let found = bytes.windows(form.len()).any(|w| w == form.as_bytes());
                assert!(
                    !found,
                    "a stored value appears in plaintext in the state dir"
                );
            }
        }
    }
}

#[test]
fn init_twice_is_refused_and_keeps_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    store
        .set(&project("p"), &secret("s"), &value(b"kept"))
        .unwrap();
    let key = fs::read(dir.path().join(KEY_FILE)).unwrap();
    let file = fs::read(dir.path().join(STORE_FILE)).unwrap();
    let err = Store::init(dir.path()).err().unwrap();
    assert!(
        matches!(err, StoreError::AlreadyInitialised { .. }),
        "{err}"
    );
    assert!(err.hint().is_some());
    assert_eq!(fs::read(dir.path().join(KEY_FILE)).unwrap(), key);
    assert_eq!(fs::read(dir.path().join(STORE_FILE)).unwrap(), file);
    assert_eq!(
        decrypted(&Store::open(dir.path()).unwrap(), "p", "s"),
        b"kept"
    );
}

#[test]
fn init_refuses_an_existing_key_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(KEY_FILE), [9u8; 32]).unwrap();
    let err = Store::init(dir.path()).err().unwrap();
    assert!(
        matches!(err, StoreError::AlreadyInitialised { .. }),
        "{err}"
    );
    assert_eq!(fs::read(dir.path().join(KEY_FILE)).unwrap(), [9u8; 32]);
    assert!(!dir.path().join(STORE_FILE).exists());
}

#[test]
fn open_reports_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(&dir.path().join("absent")).err().unwrap();
    assert!(matches!(err, StoreError::NotInitialised { .. }), "{err}");
    assert_eq!(err.hint().unwrap(), "run `runner init`");
    let err = Store::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::NotInitialised { .. }), "{err}");

    Store::init(dir.path()).unwrap();
    let moved = dir.path().join("key.bak");
    fs::rename(dir.path().join(KEY_FILE), &moved).unwrap();
    let err = Store::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::MissingKeyFile { .. }), "{err}");
    fs::rename(&moved, dir.path().join(KEY_FILE)).unwrap();
    fs::remove_file(dir.path().join(STORE_FILE)).unwrap();
    let err = Store::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::MissingStoreFile { .. }), "{err}");
}

#[test]
fn key_file_mode_0644_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path()).unwrap();
    let key = dir.path().join(KEY_FILE);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let err = Store::open(dir.path()).err().unwrap();
    assert!(
        matches!(err, StoreError::KeyFilePermissions { mode: 0o644, .. }),
        "{err}"
    );
    assert_eq!(err.hint().unwrap(), format!("chmod 600 {}", key.display()));
}

#[test]
fn set_existing_and_missing_entries_are_errors_with_hints() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let (p, s) = (project("analytics"), secret("posthog-read"));
    store.set(&p, &s, &value(b"one")).unwrap();
    let err = store.set(&p, &s, &value(b"two")).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        err.hint().unwrap(),
        "use `runner secret rotate posthog-read --project analytics` to replace its value"
    );
    assert_eq!(decrypted(&store, "analytics", "posthog-read"), b"one");
    let other = secret("other");
    for err in [
        store.rotate(&p, &other, &value(b"x")).unwrap_err(),
        store.remove(&p, &other).unwrap_err(),
        store.decrypt(&p, &other).err().unwrap(),
    ] {
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
        assert!(
            err.hint()
                .unwrap()
                .contains("runner secret set other --project analytics")
        );
    }
    let err = store.set(&p, &other, &value(b"")).unwrap_err();
    assert!(matches!(err, StoreError::EmptyValue), "{err}");
    assert_eq!(
        store.generation(),
        1,
        "failed writes must not change the file"
    );
}

#[test]
fn rotate_bumps_version_and_replaces_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let (p, s) = (project("p"), secret("s"));
    let first = store.set(&p, &s, &value(b"old")).unwrap();
    let second = store.rotate(&p, &s, &value(b"new")).unwrap();
    let third = store.rotate(&p, &s, &value(b"newer")).unwrap();
    assert_eq!((first.version, second.version, third.version), (1, 2, 3));
    assert!(third.created >= first.created);
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(decrypted(&reopened, "p", "s"), b"newer");
    assert_eq!(reopened.find(&p, &s).unwrap(), &third);
}

#[test]
fn remove_deletes_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let (p, s) = (project("p"), secret("s"));
    store.set(&p, &s, &value(b"v")).unwrap();
    store.set(&p, &secret("keep"), &value(b"k")).unwrap();
    assert_eq!(store.remove(&p, &s).unwrap().name, s);
    assert!(store.find(&p, &s).is_none());
    let reopened = Store::open(dir.path()).unwrap();
    assert!(reopened.find(&p, &s).is_none());
    assert_eq!(decrypted(&reopened, "p", "keep"), b"k");
    assert!(matches!(
        store.remove(&p, &s),
        Err(StoreError::NotFound { .. })
    ));
    store.set(&p, &s, &value(b"again")).unwrap();
    assert_eq!(store.find(&p, &s).unwrap().version, 1);
}

#[test]
fn stale_handle_writes_do_not_lose_other_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Store::init(dir.path()).unwrap();
    let mut b = Store::open(dir.path()).unwrap();
    b.set(&project("p"), &secret("from-b"), &value(b"b"))
        .unwrap();
    a.set(&project("p"), &secret("from-a"), &value(b"a"))
        .unwrap();
    assert_eq!(
        decrypted(&a, "p", "from-b"),
        b"b",
        "the writer sees the state it wrote over"
    );
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.entries().count(), 2);
    assert_eq!(reopened.generation(), 2);
}

#[test]
fn concurrent_sets_through_separate_handles_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path()).unwrap();
    let threads: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|side| {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let mut store = Store::open(&dir).unwrap();
                for i in 0..20 {
                    let name = secret(&format!("{side}-{i}"));
                    store
                        .set(&project("p"), &name, &value(name.as_str().as_bytes()))
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.entries().count(), 40);
    assert_eq!(store.generation(), 40);
    for info in store.entries() {
        assert_eq!(
            decrypted(&store, "p", info.name.as_str()),
            info.name.as_str().as_bytes()
        );
    }
    assert_eq!(
        file_names(dir.path()),
        [KEY_FILE, STORE_FILE, LOCK_FILE],
        "temp files left"
    );
}

#[test]
fn subkeys_are_stable_and_separated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let again = Store::open(dir.path()).unwrap();
    let audit = store.derive_subkey("scopehold audit checkpoint v1");
    assert_eq!(
        audit.expose_secret(),
        again
            .derive_subkey("scopehold audit checkpoint v1")
            .expose_secret()
    );
    assert_ne!(
        audit.expose_secret(),
        store.derive_subkey("other v1").expose_secret()
    );
    let key = fs::read(dir.path().join(KEY_FILE)).unwrap();
    assert_ne!(&audit.expose_secret()[..], &key[..]);
}

#[test]
#[should_panic(expected = "reserved")]
fn subkey_refuses_the_data_key_context() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path())
        .unwrap()
        .derive_subkey(crypto::DATA_KEY_CONTEXT);
}

#[test]
fn debug_shows_only_the_store_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    let secret_value = canary();
    store
        .set(&project("p"), &secret("s"), &value(secret_value.as_bytes()))
        .unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains(store.store_id()), "{shown}");
    assert!(
        !shown.contains(&secret_value) && !shown.contains("key_id"),
        "{shown}"
    );
}
