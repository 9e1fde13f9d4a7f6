//! The backend's operations against a real throwaway cluster (the e2e
//! tests' harness); each test prints SKIP and passes without PostgreSQL.

use std::sync::Arc;

use secrecy::{SecretBox, SecretString};

use super::{Document, Found, PgError, PgState, SCHEMA_VERSION};
use crate::audit::{AnchorSource, Checkpoint, CheckpointKey, Event, Verdict, verify_anchored};

#[path = "../../../../tests/e2e/pg_cluster.rs"]
pub(super) mod pg_cluster;
use pg_cluster::{PgCluster, URL_PASSWORD};

pub(super) fn key() -> Arc<CheckpointKey> {
    Arc::new(CheckpointKey::new(SecretBox::new(Box::new([7u8; 32]))))
}

pub(super) fn document(generation: u64) -> Document {
    Document {
        store_id: "0123456789abcdef0123456789abcdef".into(),
        generation,
        text: format!("{{\"generation\":{generation}}}\n"),
    }
}

pub(super) fn connect(pg: &PgCluster) -> PgState {
    PgState::connect(&SecretString::from(pg.url())).unwrap()
}

/// A record of a kind that may be written without the key.
fn event(n: u64) -> Event {
    Event::LogRecover {
        dropped_bytes: n,
        dropped_hash: crate::audit::Hash::of(b"x"),
    }
}

/// The chain verified as `audit verify` does, with the head's checkpoint.
fn verdict(state: &PgState) -> (Verdict, u64) {
    let export = state.export().unwrap();
    let checkpoint = Checkpoint::load(&export.dir().join(crate::audit::CHECKPOINT_FILE))
        .unwrap()
        .into_iter()
        .map(|cp| (AnchorSource::Local, cp))
        .collect();
    let anchored = verify_anchored(&export.audit_path(), checkpoint, Some(&key())).unwrap();
    (anchored.verdict, anchored.report.records)
}

#[test]
fn init_creates_once_then_joins() {
    let Some(pg) = PgCluster::start() else { return };
    let state = connect(&pg);
    assert_eq!(
        state.initialise(document(0), key()).unwrap(),
        Found::Created
    );
    let other = connect(&pg);
    assert_eq!(
        other.initialise(document(5), key()).unwrap(),
        Found::Existing
    );
    assert_eq!(other.document().unwrap(), document(0));
    assert_eq!(
        pg.psql("SELECT max(version) FROM schema_version"),
        SCHEMA_VERSION.to_string()
    );
    assert_eq!(verdict(&state), (Verdict::Intact, 1));
}

#[test]
fn concurrent_appends_from_four_hosts_make_one_chain() {
    let Some(pg) = PgCluster::start() else { return };
    connect(&pg).initialise(document(0), key()).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let state = Arc::new(connect(&pg));
            for t in 0..4 {
                let state = state.clone();
                scope.spawn(move || {
                    for n in 0..10 {
                        let keyed = (t % 2 == 0).then(key);
                        state.append(vec![event(n)], keyed, n % 3 != 0).unwrap();
                    }
                });
            }
        }
    });
    let state = connect(&pg);
    assert_eq!(verdict(&state), (Verdict::Intact, 161));
    assert_eq!(
        pg.psql("SELECT count(DISTINCT seq), max(seq) FROM audit_record"),
        "161|160"
    );
}

#[test]
fn a_store_write_needs_the_generation_it_read_and_records_it() {
    let Some(pg) = PgCluster::start() else { return };
    let state = connect(&pg);
    state.initialise(document(0), key()).unwrap();
    let store = document(0).store_id;
    assert_eq!(state.recorded_generation(&store, key()).unwrap(), None);
    let record = state.write_document(0, document(1), vec![], key()).unwrap();
    assert_eq!(record.seq, 1);
    assert!(matches!(
        state.write_document(0, document(1), vec![], key()),
        Err(PgError::Conflict)
    ));
    assert_eq!(state.document().unwrap(), document(1));
    assert_eq!(state.recorded_generation(&store, key()).unwrap(), Some(1));
    // A forged store.write (no MAC) does not count.
    state
        .append(
            vec![Event::StoreWrite {
                store: store.clone(),
                generation: 9,
            }],
            None,
            true,
        )
        .unwrap();
    assert_eq!(state.recorded_generation(&store, key()).unwrap(), Some(1));
}

#[test]
fn a_newer_schema_is_refused() {
    let Some(pg) = PgCluster::start() else { return };
    let state = connect(&pg);
    state.initialise(document(0), key()).unwrap();
    pg.psql("INSERT INTO schema_version (version) VALUES (99)");
    let error = state.document().unwrap_err();
    assert!(
        matches!(error, PgError::SchemaTooNew { found: 99, .. }),
        "{error}"
    );
    let error = state.initialise(document(0), key()).unwrap_err();
    assert!(error.to_string().contains("version 99"), "{error}");
}

#[test]
fn an_unreachable_database_is_unavailable_and_never_shows_the_password() {
    let Some(pg) = PgCluster::start() else { return };
    let state = connect(&pg);
    state.initialise(document(0), key()).unwrap();
    pg.stop();
    let error = state.append(vec![event(1)], Some(key()), true).unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    let shown = format!("{error} {error:?} {:?}", error.hint());
    assert!(!shown.contains(URL_PASSWORD), "{shown}");
    let bad = SecretString::from(format!("postgresql://u:{URL_PASSWORD}@/db?host=%zz"));
    let shown = format!("{:?}", PgState::connect(&bad).map(drop));
    assert!(!shown.contains(URL_PASSWORD), "{shown}");
}

#[test]
fn a_changed_head_refuses_keyed_appends() {
    let Some(pg) = PgCluster::start() else { return };
    let state = connect(&pg);
    state.initialise(document(0), key()).unwrap();
    state
        .append(vec![event(1), event(2)], Some(key()), true)
        .unwrap();
    pg.psql("UPDATE chain_head SET checkpoint = regexp_replace(checkpoint, 'size=3', 'size=2')");
    let error = state.append(vec![event(3)], Some(key()), true).unwrap_err();
    assert!(error.to_string().contains("refusing to append"), "{error}");
    assert_eq!(pg.psql("SELECT count(*) FROM audit_record"), "3");
}
