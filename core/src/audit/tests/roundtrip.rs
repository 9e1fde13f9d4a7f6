//! Append/read round trips, the hash test vector, create/open, recovery.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use super::*;

#[test]
fn every_kind_round_trips_through_the_file() {
    let (dir, log) = new_log();
    let mut appended = Vec::new();
    for event in sample_events() {
        appended.push(log.append(event).unwrap());
    }
    let records = read_records(log.path()).unwrap();
    assert_eq!(records.len(), 1 + appended.len());
    assert!(matches!(&records[0].event, Event::LogInit { store } if store == "store-1"));
    assert_eq!(&records[1..], &appended[..]);
    for (record, event) in records[1..].iter().zip(sample_events()) {
        assert_eq!(record.event, event);
    }
    let report = verify(log.path()).unwrap();
    assert!(report.is_intact(), "{:?}", report.first_problem);
    assert_eq!(report.records, records.len() as u64);
    assert_eq!(report.head, Some(appended.last().unwrap().hash));
    assert_eq!(report.log, Some(records[0].log));
    drop(dir);
}

#[test]
fn an_approval_round_trips_and_verifies() {
    let (_dir, log) = new_log();
    let event = Event::SecretApprove {
        run: run_id(0xab),
        agent: agent("support-analysis"),
        project: project("analytics"),
        secret: secret("posthog-read"),
        component: Hash::of(b"component bytes"),
        outcome: token("timed-out"),
        by_uid: u32::MAX,
        by_user: "op \u{e9}\n".into(),
    };
    let appended = log.append(event.clone()).unwrap();
    let records = read_records(log.path()).unwrap();
    assert_eq!(records[1], appended);
    assert_eq!(records[1].event, event);
    assert!(verify(log.path()).unwrap().is_intact());
}

#[test]
fn append_links_records() {
    let (_dir, log) = new_log();
    let a = log.append(sample_events().remove(0)).unwrap();
    let b = AuditLog::open(log.path().parent().unwrap())
        .unwrap()
        .append(sample_events().remove(1))
        .unwrap();
    assert_eq!((a.seq, b.seq), (1, 2));
    assert_eq!(b.prev, a.hash);
    assert_eq!(a.log, b.log);
    assert_eq!(b.compute_hash(), Some(b.hash));
    assert_eq!(
        a.ts.nanosecond() % 1000,
        0,
        "timestamps are whole microseconds"
    );
}

#[test]
fn line_form_is_stable() {
    let record = Record::seal(
        LogId::from_bytes([7; 16]),
        1,
        TS,
        Hash::ZERO,
        sample_events().remove(4),
    )
    .unwrap();
    assert_eq!(
        record.to_line().unwrap(),
        format!(
            "{{\"v\":1,\"log\":\"{}\",\"seq\":1,\"ts\":\"2026-11-26T12:00:00.123456Z\",\
             \"kind\":\"secret.set\",\"project\":\"analytics\",\"secret\":\"k\",\"version\":1,\
             \"prev\":\"{}\",\"hash\":\"{}\"}}",
            "07".repeat(16),
            "0".repeat(64),
            record.hash
        )
    );
}

/// The encoding is spelt out byte by byte here, independently of
/// `encode.rs`, as `docs/audit-format.md` describes it.
fn spec_encoding(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(&(name.len() as u64).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value);
    }
    out
}

#[test]
fn hash_test_vector() {
    let log =
        LogId::from_bytes(*b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f");
    let event = Event::SecretResolve {
        run: run_id(0xaa),
        agent: agent("support-analysis"),
        project: project("analytics"),
        secret: secret("posthog-read"),
        version: 3,
    };
    let record = Record::seal(log, 1, TS, Hash::from_bytes([0x11; 32]), event).unwrap();
    let encoding = spec_encoding(&[
        ("v", &1u32.to_le_bytes()),
        ("log", log.as_bytes()),
        ("seq", &1u64.to_le_bytes()),
        ("ts", b"2026-11-26T12:00:00.123456Z"),
        ("kind", b"secret.resolve"),
        ("run", &[0xaa; 16]),
        ("agent", b"support-analysis"),
        ("project", b"analytics"),
        ("secret", b"posthog-read"),
        ("version", &3u32.to_le_bytes()),
        ("prev", &[0x11; 32]),
    ]);
    let expected = Hash::from(
        blake3::Hasher::new_derive_key(HASH_CONTEXT)
            .update(&encoding)
            .finalize(),
    );
    assert_eq!(record.hash, expected);
    // The fixed vector: if this changes, every existing log stops verifying.
    assert_eq!(
        record.hash.to_string(),
        "293ce1ef9a468160e562b937d3d5147711e226ea6c6239cb8d3d77c43727351c"
    );
}

/// `grant.add` as `docs/audit-format.md` specifies it: operator fields
/// first, `uid` u32 LE, `approve` one byte; the line spells it `true`.
#[test]
fn grant_add_encoding_follows_the_spec() {
    let log = LogId::from_bytes([0x01; 16]);
    let event = Event::GrantAdd {
        user: "alice".into(),
        uid: 1000,
        hostname: "build-1".into(),
        command: "runner grant posthog-read --agent support-analysis".into(),
        agent: agent("support-analysis"),
        project: project("analytics"),
        secret: secret("posthog-read"),
        expires: "never".into(),
        hosts: "https://us.posthog.com".into(),
        approve: true,
    };
    let record = Record::seal(log, 7, TS, Hash::from_bytes([0x22; 32]), event).unwrap();
    let encoding = spec_encoding(&[
        ("v", &1u32.to_le_bytes()),
        ("log", &[0x01; 16]),
        ("seq", &7u64.to_le_bytes()),
        ("ts", b"2026-11-26T12:00:00.123456Z"),
        ("kind", b"grant.add"),
        ("user", b"alice"),
        ("uid", &1000u32.to_le_bytes()),
        ("hostname", b"build-1"),
        (
            "command",
            b"runner grant posthog-read --agent support-analysis",
        ),
        ("agent", b"support-analysis"),
        ("project", b"analytics"),
        ("secret", b"posthog-read"),
        ("expires", b"never"),
        ("hosts", b"https://us.posthog.com"),
        ("approve", &[1]),
        ("prev", &[0x22; 32]),
    ]);
    let expected = blake3::Hasher::new_derive_key(HASH_CONTEXT)
        .update(&encoding)
        .finalize();
    assert_eq!(record.hash, Hash::from(expected));
    let line = record.to_line().unwrap();
    assert!(line.contains(r#""hosts":"https://us.posthog.com","approve":true,"prev""#));
    assert_eq!(Record::parse_line(line.as_bytes()).unwrap(), record);
}

#[test]
fn create_refuses_an_existing_log_and_sets_mode_0600() {
    let (dir, log) = new_log();
    let mode = std::fs::metadata(log.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let err = AuditLog::create(dir.path(), "other").unwrap_err();
    assert!(matches!(err, AuditError::AlreadyExists { .. }), "{err}");
    assert!(err.hint().is_some());
    assert_eq!(
        read_records(log.path()).unwrap().len(),
        1,
        "existing log untouched"
    );
}

#[test]
fn open_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = AuditLog::open(dir.path()).unwrap_err();
    assert!(matches!(err, AuditError::NotFound { .. }));
    assert!(err.hint().unwrap().contains("runner init"));
    let log = AuditLog::create(dir.path(), "s").unwrap();
    std::fs::set_permissions(log.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = AuditLog::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("mode 644"), "{err}");
    assert!(err.hint().unwrap().contains("chmod 600"));
}

#[test]
fn torn_tail_is_reported_then_recovered_visibly() {
    let (_dir, log) = new_log();
    log.append(sample_events().remove(0)).unwrap();
    let torn = b"{\"v\":1,\"log\":\"0011";
    std::fs::OpenOptions::new()
        .append(true)
        .open(log.path())
        .unwrap()
        .write_all(torn)
        .unwrap();

    let problem = first_problem(log.path());
    assert_eq!(
        problem.kind,
        ProblemKind::TornTail {
            bytes: torn.len() as u64
        }
    );
    assert!(!problem.kind.is_tampering());
    assert_eq!(
        (problem.line, problem.seq, problem.expected_seq),
        (3, None, 2)
    );
    assert!(problem.to_string().contains("not tampering"), "{problem}");

    let record = log.append(sample_events().remove(1)).unwrap();
    assert_eq!(record.seq, 3);
    let records = read_records(log.path()).unwrap();
    let expected = Event::LogRecover {
        dropped_bytes: torn.len() as u64,
        dropped_hash: Hash::of(torn),
    };
    assert_eq!(records[2].event, expected);
    assert!(verify(log.path()).unwrap().is_intact());
}

#[test]
fn append_refuses_a_damaged_last_record() {
    let (_dir, log) = new_log();
    log.append(sample_events().remove(1)).unwrap();
    let text = std::fs::read_to_string(log.path()).unwrap();
    std::fs::write(log.path(), text.replace("\"version\":3", "\"version\":4")).unwrap();
    let err = log.append(sample_events().remove(1)).unwrap_err();
    assert!(matches!(err, AuditError::DamagedTail { .. }), "{err}");
    assert!(err.to_string().contains("hash mismatch"), "{err}");
    assert!(err.hint().unwrap().contains("audit verify"));

    std::fs::write(log.path(), "").unwrap();
    let err = log.append(sample_events().remove(1)).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn tail_is_found_behind_long_records() {
    // Records bigger than the first read window (8 KiB) force it to grow.
    let (_dir, log) = new_log();
    let big = |n: usize| Event::SecretDeny {
        run: run_id(1),
        agent: agent("a"),
        project: project("p"),
        secret: "s".into(),
        reason: token("not-granted"),
        detail: "x".repeat(n),
    };
    log.append(big(20_000)).unwrap();
    log.append(big(60_000)).unwrap();
    let r = log.append(big(10)).unwrap();
    assert_eq!(r.seq, 3);
    assert!(verify(log.path()).unwrap().is_intact());
}

#[test]
fn oversized_record_is_refused_and_nothing_written() {
    let (_dir, log) = new_log();
    let before = std::fs::read(log.path()).unwrap();
    let event = Event::SecretDeny {
        run: run_id(1),
        agent: agent("a"),
        project: project("p"),
        secret: "s".into(),
        reason: token("not-granted"),
        detail: "x".repeat(MAX_LINE_BYTES),
    };
    let err = log.append(event).unwrap_err();
    assert!(matches!(err, AuditError::RecordTooLarge { .. }), "{err}");
    assert_eq!(std::fs::read(log.path()).unwrap(), before);
}

#[test]
fn read_records_names_line_and_seq() {
    let mut lines = lines_of(&numbered_chain(LogId::from_bytes([1; 16]), 4));
    lines[3].push(' ');
    let (_dir, path) = write_log(&lines);
    let err = read_records(&path).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("line 4 (after record seq 2)"), "{text}");
    assert!(text.contains("canonical"), "{text}");
}

#[test]
fn run_ids_are_random_hex() {
    let (a, b) = (new_run_id().unwrap(), new_run_id().unwrap());
    assert_ne!(a, b);
    assert_eq!(a.to_string().len(), 32);
    assert_eq!(a.to_string().parse::<RunId>().unwrap(), a);
}
