//! Checkpoint text round trip, strict parsing, MAC and atomic storage.

use super::vectors_gen::{LOG, vector_key, vector_key_for};
use super::*;

fn sample() -> Checkpoint {
    let ts = datetime!(2026-11-26 12:00:00.123456 UTC);
    Checkpoint::seal_at(&vector_key(), LOG, 41, Hash::of(b"head"), ts).unwrap()
}

#[test]
fn text_round_trips_and_authenticates() {
    let cp = sample();
    assert_eq!(cp.size, 42);
    let parsed = Checkpoint::parse(&format!("  {cp}\n")).unwrap();
    assert_eq!(parsed, cp);
    assert!(parsed.is_authentic(&vector_key()));
}

#[test]
fn any_changed_field_fails_the_mac() {
    let key = vector_key();
    let cp = sample();
    let mut edits = vec![cp.clone(); 4];
    edits[0].size += 1;
    edits[1].head = Hash::of(b"other head");
    edits[2].log = LogId::from_bytes([1; 16]);
    edits[3].ts += time::Duration::microseconds(1);
    for edited in edits {
        assert!(!edited.is_authentic(&key), "{edited}");
    }
    let other_key = CheckpointKey::new(Box::new([3u8; 32]).into());
    assert!(!cp.is_authentic(&other_key));
}

#[test]
fn parse_rejects_other_spellings() {
    let good = sample().to_string();
    let bad = [
        good.replace("size=42", "size=042"),
        good.replace("size=42", "size=+42"),
        good.replace("size=42", "size=0"),
        good.replace(" v1 ", " v2 "),
        good.replace("scopehold-audit-checkpoint", "scopehold-audit"),
        good.replace(" head=", "  head="),
        good.replace("mac=", "mac=0"),
        good.to_uppercase(),
        good.replace(".123456Z", ".123456+00:00"),
        format!("{good} extra=1"),
        good.replace(" time=", " ts="),
    ];
    for text in bad {
        assert!(Checkpoint::parse(&text).is_err(), "accepted {text}");
    }
}

#[test]
fn store_and_load_replace_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(CHECKPOINT_FILE);
    assert_eq!(Checkpoint::load(&path).unwrap(), None);
    sample().store(dir.path(), true).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap(), Some(sample()));
    std::fs::write(&path, "garbage\n").unwrap();
    assert!(matches!(
        Checkpoint::load(&path),
        Err(CheckpointError::Malformed { .. })
    ));
}

#[test]
fn anchored_appends_keep_the_checkpoint_at_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::create_anchored(dir.path(), vector_key_for("store-1")).unwrap();
    for event in sample_events() {
        let record = log.append(event).unwrap();
        let cp = Checkpoint::load(&dir.path().join(CHECKPOINT_FILE))
            .unwrap()
            .unwrap();
        assert_eq!((cp.size, cp.head), (record.seq + 1, record.hash));
        assert!(cp.is_authentic(&vector_key()));
    }
}

#[test]
fn key_debug_is_redacted() {
    let shown = format!("{:?}", vector_key());
    assert_eq!(shown, "CheckpointKey([REDACTED])");
}
