//! Each kind of tampering is detected and named precisely.
//!
//! The log under test: line n (1-based) holds seq n-1; seq 0 is `log.init`,
//! seqs 1..=9 are `secret.set` with version = seq.

use super::*;

const LOG: LogId = LogId::from_bytes([0x42; 16]);

fn lines() -> Vec<String> {
    lines_of(&numbered_chain(LOG, 9))
}

fn problem_of(lines: &[String]) -> Problem {
    let (_dir, path) = write_log(lines);
    first_problem(&path)
}

fn assert_problem(p: &Problem, line: u64, seq: Option<u64>, kind: ProblemKind) {
    assert_eq!((p.line, p.seq, &p.kind), (line, seq, &kind), "{p}");
    assert!(p.kind.is_tampering());
}

#[test]
fn intact_log_verifies() {
    let (_dir, path) = write_log(&lines());
    let report = verify(&path).unwrap();
    assert_eq!(report.first_problem, None);
    assert_eq!(report.records, 10);
}

#[test]
fn modified_field_is_a_hash_mismatch_at_that_seq() {
    for (from, to) in [
        ("\"version\":4", "\"version\":5"),
        ("\"seq\":4", "\"seq\":5"),
        ("\"secret\":\"s\"", "\"secret\":\"t\""),
    ] {
        let mut l = lines();
        l[4] = l[4].replace(from, to);
        let p = problem_of(&l);
        assert_eq!((p.line, &p.kind), (5, &ProblemKind::HashMismatch), "{from}");
        assert_eq!(p.to_string().split(':').nth(1), Some(" hash mismatch"));
    }
    let mut l = lines();
    l[4] = l[4].replace("2026-11-26T12:00:00.123456Z", "2026-11-26T12:00:00.123457Z");
    assert_problem(&problem_of(&l), 5, Some(4), ProblemKind::HashMismatch);
}

/// Changes the first hex digit of `field`'s value.
fn flip_hex(line: &mut String, field: &str) {
    let at = line.find(&format!("\"{field}\":\"")).unwrap() + field.len() + 4;
    let new = if line.as_bytes()[at] == b'0' {
        "1"
    } else {
        "0"
    };
    line.replace_range(at..at + 1, new);
}

#[test]
fn modified_prev_hash_or_log_is_a_hash_mismatch() {
    for field in ["prev", "hash", "log"] {
        let mut l = lines();
        flip_hex(&mut l[6], field);
        assert_problem(&problem_of(&l), 7, Some(6), ProblemKind::HashMismatch);
    }
}

#[test]
fn deleted_record_is_a_sequence_gap() {
    let mut l = lines();
    l.remove(5);
    let p = problem_of(&l);
    assert_problem(
        &p,
        6,
        Some(6),
        ProblemKind::SequenceGap {
            expected: 5,
            found: 6,
        },
    );
    assert!(
        p.to_string().starts_with(
            "record seq 6 (audit.jsonl line 6): sequence gap: expected seq 5, found 6"
        ),
        "{p}"
    );
    let mut l = lines();
    l.drain(3..6);
    assert_problem(
        &problem_of(&l),
        4,
        Some(6),
        ProblemKind::SequenceGap {
            expected: 3,
            found: 6,
        },
    );
}

#[test]
fn deleted_beginning_is_a_gap_at_line_one() {
    let mut l = lines();
    l.drain(0..2);
    assert_problem(
        &problem_of(&l),
        1,
        Some(2),
        ProblemKind::SequenceGap {
            expected: 0,
            found: 2,
        },
    );
}

#[test]
fn inserted_copy_is_out_of_order() {
    let mut l = lines();
    l.insert(4, l[3].clone());
    assert_problem(
        &problem_of(&l),
        5,
        Some(3),
        ProblemKind::OutOfOrder {
            expected: 4,
            found: 3,
        },
    );
}

#[test]
fn inserted_forged_record_breaks_seq_of_the_next() {
    // A forger who recomputes the hash can make the inserted record itself
    // look right; the original that follows then repeats its seq.
    let records = numbered_chain(LOG, 9);
    let forged = Record::seal(LOG, 4, TS, records[3].hash, sample_events().remove(1)).unwrap();
    let mut l = lines();
    l.insert(4, forged.to_line().unwrap());
    assert_problem(
        &problem_of(&l),
        6,
        Some(4),
        ProblemKind::OutOfOrder {
            expected: 5,
            found: 4,
        },
    );
}

#[test]
fn inserted_record_with_next_seq_breaks_the_chain() {
    // Same seq as the original it displaces and a prev that does not link.
    let forged = Record::seal(LOG, 4, TS, Hash::of(b"guess"), sample_events().remove(1)).unwrap();
    let mut l = lines();
    l[4] = forged.to_line().unwrap();
    assert_problem(&problem_of(&l), 5, Some(4), ProblemKind::BrokenChain);
}

#[test]
fn swapped_records_are_out_of_order_at_the_first() {
    let mut l = lines();
    l.swap(4, 5);
    let p = problem_of(&l);
    assert_problem(
        &p,
        5,
        Some(5),
        ProblemKind::OutOfOrder {
            expected: 4,
            found: 5,
        },
    );
    assert!(p.to_string().contains("out of order"), "{p}");
    let mut l = lines();
    let moved = l.remove(2);
    l.push(moved);
    assert_problem(
        &problem_of(&l),
        3,
        Some(3),
        ProblemKind::OutOfOrder {
            expected: 2,
            found: 3,
        },
    );
}

#[test]
fn edited_and_rehashed_record_breaks_the_next_link() {
    let records = numbered_chain(LOG, 9);
    let old = &records[4];
    let edited = Event::SecretSet {
        project: project("p"),
        secret: secret("other"),
        version: 4,
    };
    let resealed = Record::seal(LOG, old.seq, old.ts, old.prev, edited).unwrap();
    let mut l = lines();
    l[4] = resealed.to_line().unwrap();
    let p = problem_of(&l);
    assert_problem(&p, 6, Some(5), ProblemKind::BrokenChain);
    assert!(p.to_string().contains("broken chain"), "{p}");
}

#[test]
fn record_from_another_log_is_named() {
    let other = LogId::from_bytes([0x43; 16]);
    let mut l = lines();
    l[4] = lines_of(&numbered_chain(other, 9))[4].clone();
    let p = problem_of(&l);
    assert_problem(
        &p,
        5,
        Some(4),
        ProblemKind::LogIdMismatch {
            expected: LOG,
            found: other,
        },
    );
}

#[test]
fn init_must_be_first_and_only_first() {
    let records = numbered_chain(LOG, 3);
    let init = Record::seal(
        LOG,
        4,
        TS,
        records[3].hash,
        Event::LogInit { store: "x".into() },
    )
    .unwrap();
    let mut l = lines_of(&records);
    l.push(init.to_line().unwrap());
    assert_problem(&problem_of(&l), 5, Some(4), ProblemKind::MisplacedInit);

    let no_init = Record::seal(LOG, 0, TS, Hash::ZERO, sample_events().remove(4)).unwrap();
    assert_problem(
        &problem_of(&[no_init.to_line().unwrap()]),
        1,
        Some(0),
        ProblemKind::MissingInit,
    );
}

#[test]
fn malformed_line_names_line_and_expected_seq() {
    let mut l = lines();
    l[3] = "garbage".into();
    let p = problem_of(&l);
    assert!(matches!(p.kind, ProblemKind::Malformed(_)));
    assert_eq!((p.line, p.seq, p.expected_seq), (4, None, 3));
    assert!(
        p.to_string()
            .starts_with("audit.jsonl line 4 (seq 3): malformed record:"),
        "{p}"
    );
}

#[test]
fn blank_line_and_empty_file() {
    let mut l = lines();
    l.insert(2, String::new());
    assert!(matches!(problem_of(&l).kind, ProblemKind::Malformed(_)));
    // Without a checkpoint an empty log is what a crash inside `runner init`
    // leaves; with one it is reported as cut to nothing (vector
    // fail_all_removed).
    let p = problem_of(&[]);
    assert_eq!((p.line, &p.kind), (1, &ProblemKind::InitInterrupted));
    assert!(!p.kind.is_tampering());
}

#[test]
fn truncated_tail_needs_an_anchor() {
    // A chain alone cannot show that its newest records were cut off: the
    // shorter log verifies, with an earlier head. Callers compare the head
    // with a checkpoint kept elsewhere.
    let mut l = lines();
    l.truncate(7);
    let (_dir, path) = write_log(&l);
    let report = verify(&path).unwrap();
    assert!(report.is_intact());
    assert_eq!(
        (report.records, report.head),
        (7, Some(numbered_chain(LOG, 9)[6].hash))
    );
}
