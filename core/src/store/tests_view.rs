//! Consistency tests: handles opened before another process's rekey, a
//! reader whose key and store file disagree, an interrupted `init`. (Fault
//! injection against the binary: tests/e2e/faults*.rs.)

use std::fs;

use secrecy::SecretString;

use super::recover::NEXT_KEY_FILE;
use super::tests::{decrypted, project, secret, value};
use super::*;

const PASS: &str = "correct horse battery staple";

#[test]
fn a_writer_opened_before_a_data_key_rekey_takes_up_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Store::init(dir.path()).unwrap();
    first
        .set(&project("p"), &secret("a"), &value(b"one"))
        .unwrap();
    let mut stale = Store::open(dir.path()).unwrap();
    first.rekey(KeyProtection::KeyFile, true).unwrap();
    // Before: "failed its integrity check ... restore from a backup".
    stale
        .set(&project("p"), &secret("b"), &value(b"two"))
        .unwrap();
    stale
        .rotate(&project("p"), &secret("a"), &value(b"three"))
        .unwrap();
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(decrypted(&reopened, "p", "a"), b"three");
    assert_eq!(decrypted(&reopened, "p", "b"), b"two");
    assert_eq!(reopened.generation(), 4);
}

#[test]
fn a_passphrase_writer_after_a_data_key_rekey_stops_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let protection = || KeyProtection::Passphrase(SecretString::from(PASS));
    let mut first = Store::init_with(dir.path(), protection()).unwrap();
    let ask = || Ok(SecretString::from(PASS));
    let mut stale = Store::open_with(dir.path(), &ask).unwrap();
    first.rekey(protection(), true).unwrap();
    let before = fs::read(dir.path().join(STORE_FILE)).unwrap();
    let err = stale
        .set(&project("p"), &secret("b"), &value(b"two"))
        .unwrap_err();
    assert!(matches!(err, StoreError::RekeyedMeanwhile), "{err}");
    assert!(err.hint().unwrap().contains("run the command again"));
    assert_eq!(fs::read(dir.path().join(STORE_FILE)).unwrap(), before);
}

#[test]
fn a_store_file_that_no_key_opens_is_still_refused_after_the_retry() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    store
        .set(&project("p"), &secret("a"), &value(b"one"))
        .unwrap();
    let other = tempfile::tempdir().unwrap();
    Store::init(other.path()).unwrap();
    fs::copy(other.path().join(KEY_FILE), dir.path().join(KEY_FILE)).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Unauthenticated { .. }), "{err}");
}

#[test]
fn init_promotes_its_key_and_leaves_no_key_next() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path()).unwrap();
    assert!(dir.path().join(KEY_FILE).exists());
    assert!(!dir.path().join(NEXT_KEY_FILE).exists());
}

#[test]
fn an_init_stopped_before_promoting_its_key_is_completed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(dir.path()).unwrap();
    store
        .set(&project("p"), &secret("a"), &value(b"one"))
        .unwrap();
    // What a kill between publishing the store file and the rename leaves.
    let (key, next) = (dir.path().join(KEY_FILE), dir.path().join(NEXT_KEY_FILE));
    fs::rename(&key, &next).unwrap();
    let opened = Store::open(dir.path()).unwrap();
    assert_eq!(decrypted(&opened, "p", "a"), b"one");
    assert!(key.exists() && !next.exists());
}

#[test]
fn unfinished_is_the_only_error_that_took_effect() {
    let io = || StoreError::io("sync the directory", "/x")(std::io::Error::other("EIO"));
    let unfinished = io().unfinished();
    assert!(unfinished.took_effect());
    assert!(!io().took_effect());
    // Wrapping twice does not nest.
    let twice = io().unfinished().unfinished();
    assert!(matches!(&twice, StoreError::Unfinished(inner) if !inner.took_effect()));
    assert!(unfinished.to_string().contains("the change took effect"));
    assert!(unfinished.hint().unwrap().contains("next command"));
}

#[test]
fn reopen_reads_the_file_now_and_refuses_a_rekeyed_or_tampered_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Store::init(dir.path()).unwrap();
    let held = Store::open(dir.path()).unwrap();
    writer
        .set(&project("p"), &secret("a"), &value(b"one"))
        .unwrap();
    // A copy made after the write sees it, with the held keys.
    let copy = held.reopen().unwrap();
    assert_eq!(decrypted(&copy, "p", "a"), b"one");
    // A file altered since is refused as at open.
    let path = dir.path().join(STORE_FILE);
    let bytes = fs::read(&path).unwrap();
    fs::write(
        &path,
        String::from_utf8(bytes.clone())
            .unwrap()
            .replace("\"p\"", "\"q\""),
    )
    .unwrap();
    assert!(held.reopen().is_err());
    fs::write(&path, bytes).unwrap();
    // A new data key is not taken up: the daemon must unlock again.
    writer.rekey(KeyProtection::KeyFile, true).unwrap();
    assert!(matches!(held.reopen(), Err(StoreError::RekeyedMeanwhile)));
}
