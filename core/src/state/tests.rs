//! The state handle against a real state dir: a change is recorded as its
//! event then `store.write`, and a change the log would refuse is not made.

use secrecy::SecretSlice;

use super::{Change, State, StateError};
use crate::audit::{AUDIT_FILE, AuditLog, CheckpointKey, Event, read_records};
use crate::names::{ProjectName, SecretName};
use crate::store::Store;

fn state_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::init(tmp.path()).unwrap();
    AuditLog::create_anchored(tmp.path(), CheckpointKey::from_store(&store)).unwrap();
    tmp
}

fn names() -> (ProjectName, SecretName) {
    (
        ProjectName::new("p").unwrap(),
        SecretName::new("s").unwrap(),
    )
}

#[test]
fn a_change_is_recorded_as_its_event_then_the_new_generation() {
    let tmp = state_dir();
    let (project, name) = names();
    let value = SecretSlice::from(b"CANARY-state-value".to_vec());
    let mut state = State::open_for_change(tmp.path()).unwrap();
    let change = Change::Set {
        project: &project,
        name: &name,
        value: &value,
    };
    let written = state.write_store(change).unwrap();
    assert_eq!(written.entry.as_ref().map(|e| e.version), Some(1));
    assert!(written.unfinished.is_none());
    let records = read_records(&tmp.path().join(AUDIT_FILE)).unwrap();
    let [.., set, write] = records.as_slice() else {
        panic!("expected at least two records, got {}", records.len());
    };
    assert!(matches!(&set.event, Event::SecretSet { version: 1, secret, .. } if *secret == name));
    assert!(matches!(
        &write.event,
        Event::StoreWrite { generation, .. } if *generation == written.generation
    ));
    let log = std::fs::read_to_string(tmp.path().join(AUDIT_FILE)).unwrap();
    assert!(!log.contains("CANARY"), "a value reached the audit log");
}

#[test]
fn a_change_the_log_would_refuse_is_not_made() {
    let tmp = state_dir();
    let (project, name) = names();
    let value = SecretSlice::from(b"v1".to_vec());
    let mut state = State::open_for_change(tmp.path()).unwrap();
    let set = Change::Set {
        project: &project,
        name: &name,
        value: &value,
    };
    let generation = state.write_store(set).unwrap().generation;
    // Cut the log back to its first record: the checkpoint's head is gone.
    let path = tmp.path().join(AUDIT_FILE);
    let log = std::fs::read_to_string(&path).unwrap();
    let first = log.split_inclusive('\n').next().unwrap().to_owned();
    std::fs::write(&path, first).unwrap();
    let refused = State::open_for_change(tmp.path()).unwrap_err();
    assert!(
        matches!(refused, StateError::WouldNotRecord(_)),
        "{refused}"
    );
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(store.generation(), generation);
    assert!(store.find(&project, &name).is_some());
}
