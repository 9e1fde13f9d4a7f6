//! A store document the caller holds (the database backend): created,
//! opened, changed in memory and taken up again with the checks of a store
//! file, never writing a store file.

use std::fs;

use super::recover::NEXT_KEY_FILE;
use super::tests::{decrypted, project, secret, value};
use super::*;

/// A new document with its key file installed, as `runner init` leaves it.
fn created(dir: &Path) -> Store {
    let store = Store::create_document(dir, KeyProtection::KeyFile).unwrap();
    assert!(dir.join(NEXT_KEY_FILE).exists() && !dir.join(KEY_FILE).exists());
    store.install_key().unwrap();
    store
}

#[test]
fn a_document_round_trips_and_no_store_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = created(dir.path());
    store
        .set(&project("p"), &secret("a"), &value(b"one"))
        .unwrap();
    assert_eq!(store.generation(), 1);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        [KEY_FILE],
        "only the key file: no store file, no lock"
    );
    let text = store.document();
    assert!(!text.contains("one"));
    let opened = Store::open_document(dir.path(), text.as_bytes(), &|| unreachable!()).unwrap();
    assert_eq!(opened.store_id(), store.store_id());
    assert_eq!(decrypted(&opened, "p", "a"), b"one");
}

#[test]
fn a_changed_document_or_a_foreign_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = created(dir.path());
    store
        .set(&project("p"), &secret("a"), &value(b"v"))
        .unwrap();
    let text = store.document();
    let changed = text.replace("\"generation\": 1", "\"generation\": 9");
    let err = Store::open_document(dir.path(), changed.as_bytes(), &|| unreachable!()).unwrap_err();
    assert!(matches!(err, StoreError::Unauthenticated { .. }), "{err}");
    assert!(err.to_string().contains(DOCUMENT_LABEL), "{err}");
    let other = tempfile::tempdir().unwrap();
    created(other.path());
    let err = Store::open_document(other.path(), text.as_bytes(), &|| unreachable!()).unwrap_err();
    assert!(matches!(err, StoreError::Unauthenticated { .. }), "{err}");
}

#[test]
fn taking_up_an_older_document_is_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = created(dir.path());
    let old = store.document();
    store
        .set(&project("p"), &secret("a"), &value(b"v"))
        .unwrap();
    let newer = store.document();
    let mut reader = Store::open_document(dir.path(), old.as_bytes(), &|| unreachable!()).unwrap();
    reader.take_document(newer.as_bytes()).unwrap();
    assert_eq!(reader.generation(), 1);
    let err = reader.take_document(old.as_bytes()).unwrap_err();
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
}

#[test]
fn an_init_killed_after_its_commit_is_completed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create_document(dir.path(), KeyProtection::KeyFile).unwrap();
    // Committed, then killed before `install_key`.
    let text = store.document();
    drop(store);
    Store::open_document(dir.path(), text.as_bytes(), &|| unreachable!()).unwrap();
    assert!(dir.path().join(KEY_FILE).exists());
    assert!(!dir.path().join(NEXT_KEY_FILE).exists());
}

#[test]
fn a_rekey_of_a_document_installs_its_key_only_when_settled() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = created(dir.path());
    store
        .set(&project("p"), &secret("a"), &value(b"v"))
        .unwrap();
    let old_key = fs::read(dir.path().join(KEY_FILE)).unwrap();
    store.rekey(KeyProtection::KeyFile, true).unwrap();
    assert_eq!(fs::read(dir.path().join(KEY_FILE)).unwrap(), old_key);
    store.settle_rekey().unwrap();
    assert_ne!(fs::read(dir.path().join(KEY_FILE)).unwrap(), old_key);
    let text = store.document();
    let opened = Store::open_document(dir.path(), text.as_bytes(), &|| unreachable!()).unwrap();
    assert_eq!(decrypted(&opened, "p", "a"), b"v");
}
