//! The store generation carried by `segment.open`: what rotation writes,
//! that it reads only the segment it seals, and that verify refuses a
//! carried value that disagrees with the records before it; the strict parse
//! of the segment records.

use std::fs;

use super::rotation::{close, lines_in, problem, sealed_chain, sealed_files, set, write_segments};
use super::*;

fn written(store: &str, generation: u64) -> Event {
    Event::StoreWrite {
        store: store.into(),
        generation,
    }
}

/// `segment.open` of store `store-1` carrying `generation`.
fn carrying(segment: u64, generation: u64) -> Event {
    Event::SegmentOpen {
        segment,
        store: "store-1".into(),
        generation,
    }
}

/// What the active segment's `segment.open` carries.
fn carried(log: &AuditLog) -> (String, u64) {
    match &lines_in(log.path())[0].event {
        Event::SegmentOpen {
            store, generation, ..
        } => (store.clone(), *generation),
        other => panic!("the active segment starts with {other:?}"),
    }
}

#[test]
fn rotation_carries_the_last_write_of_the_logs_store() {
    let (dir, log) = new_log();
    log.rotate().unwrap();
    assert_eq!(carried(&log), ("store-1".into(), 0), "nothing recorded yet");
    log.append(written("store-1", 5)).unwrap();
    log.append(written("store-1", 4)).unwrap(); // a writer that finished late
    log.append(written("other-store", 99)).unwrap();
    log.rotate().unwrap();
    assert_eq!(
        carried(&log),
        ("store-1".into(), 4),
        "the last one, not another store's"
    );
    // A segment without store writes passes on what it started with.
    log.append(set(1)).unwrap();
    log.rotate().unwrap();
    log.rotate().unwrap();
    assert_eq!(carried(&log), ("store-1".into(), 4));
    let report = verify(log.path()).unwrap();
    assert!(report.is_intact(), "{:?}", report.first_problem);
    assert_eq!(sealed_files(dir.path()).len(), 4);
}

#[test]
fn a_rotation_finished_after_a_crash_carries_the_value_too() {
    let (_dir, log) = new_log();
    log.append(written("store-1", 3)).unwrap();
    let checkpoint = super::rotation::saved_checkpoint(log.path());
    let rotation = log.rotate().unwrap();
    // Back to the state a crash after the close left (the checkpoint had
    // not moved yet); the next append finishes the rotation.
    fs::rename(&rotation.sealed, log.path()).unwrap();
    checkpoint.restore();
    log.append(set(1)).unwrap();
    assert_eq!(carried(&log), ("store-1".into(), 3));
    assert!(verify(log.path()).unwrap().is_intact());
}

#[test]
fn rotation_reads_only_the_segment_it_seals() {
    let (dir, log) = new_log();
    log.append(written("store-1", 2)).unwrap();
    log.rotate().unwrap();
    log.append(set(1)).unwrap();
    // The older segment replaced by garbage of the same length holding the
    // store.write spelling: reading it would fail the rotation.
    let older = &sealed_files(dir.path())[0];
    let len = fs::metadata(older).unwrap().len() as usize;
    fs::write(older, &br#"{"kind":"store.write"}"#.repeat(len)[..len]).unwrap();
    log.rotate().unwrap();
    assert_eq!(carried(&log), ("store-1".into(), 2));
}

#[test]
fn a_wrong_carried_generation_is_reported() {
    // Every hash valid: only the carry check can see it.
    let r = sealed_chain(vec![
        written("store-1", 5),
        written("other-store", 9),
        close(0, 4),
        carrying(1, 0),
        set(1),
    ]);
    let dir = write_segments(&[&r[..4], &r[4..]]);
    let p = problem(dir.path());
    assert_eq!(
        p.kind,
        ProblemKind::CarriedGeneration {
            carried: 0,
            recorded: 5
        }
    );
    assert!(p.kind.is_tampering());
    assert_eq!((p.file.as_str(), p.line, p.seq), (AUDIT_FILE, 1, Some(4)));
    assert!(p.to_string().contains("carries store generation 0"), "{p}");
    // The right value verifies.
    let r = sealed_chain(vec![written("store-1", 5), close(0, 3), carrying(1, 5)]);
    let dir = write_segments(&[&r[..3], &r[3..]]);
    assert!(verify(&dir.path().join(AUDIT_FILE)).unwrap().is_intact());
}

#[test]
fn a_carried_store_id_other_than_the_logs_is_reported() {
    let r = sealed_chain(vec![
        close(0, 2),
        Event::SegmentOpen {
            segment: 1,
            store: "other-store".into(),
            generation: 0,
        },
    ]);
    let dir = write_segments(&[&r[..2], &r[2..]]);
    match problem(dir.path()).kind {
        ProblemKind::SegmentMismatch(reason) => {
            assert!(reason.contains("names store \"other-store\""), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn segment_open_needs_its_carried_store_and_generation() {
    let r = sealed_chain(vec![close(0, 2), carrying(1, 0)]);
    let line = r[2].to_line().unwrap();
    for field in ["store", "generation"] {
        let value = match field {
            "store" => "\"store-1\"",
            _ => "0",
        };
        let bad = line.replace(&format!(",\"{field}\":{value}"), "");
        assert_ne!(bad, line);
        let err = Record::parse_line(bad.as_bytes()).unwrap_err();
        assert!(err.contains(&format!("missing field `{field}`")), "{err}");
    }
}

#[test]
fn segment_records_reject_each_others_fields() {
    let r = sealed_chain(vec![close(0, 2)]);
    let line = r[1].to_line().unwrap();
    let bad = line.replace("\"records\":2,", "");
    assert!(
        Record::parse_line(bad.as_bytes())
            .unwrap_err()
            .contains("records")
    );
    let bad = line.replace(
        "\"kind\":\"segment.close\",\"segment\":0,",
        "\"kind\":\"segment.open\",\"segment\":0,\"store\":\"store-1\",\"generation\":0,",
    );
    let err = Record::parse_line(bad.as_bytes()).unwrap_err();
    assert!(err.contains("unknown field `records`"), "{err}");
}
