//! Strict parsing: every deviation from what the writer writes is rejected.

use super::*;

/// A valid line of each kind, sealed at seq 1.
fn sample_lines() -> Vec<String> {
    sample_events()
        .into_iter()
        .map(|e| Record::seal(LogId::from_bytes([9; 16]), 1, TS, Hash::ZERO, e).unwrap())
        .map(|r| r.to_line().unwrap())
        .collect()
}

fn resolve_line() -> String {
    sample_lines().remove(1)
}

fn rejected(line: &str) -> String {
    match Record::parse_line(line.as_bytes()) {
        Ok(r) => panic!("accepted {line:?} as {r:?}"),
        Err(reason) => reason,
    }
}

fn assert_rejected(line: &str, needle: &str) {
    let reason = rejected(line);
    assert!(
        reason.contains(needle),
        "{line:?}: {reason:?} lacks {needle:?}"
    );
}

#[test]
fn valid_lines_parse_back_exactly() {
    for line in sample_lines() {
        let record = Record::parse_line(line.as_bytes()).unwrap();
        assert_eq!(record.to_line().unwrap(), line);
        assert_eq!(record.compute_hash(), Some(record.hash));
    }
}

#[test]
fn unknown_fields_are_rejected() {
    let line = resolve_line();
    assert_rejected(
        &line.replacen("{", "{\"extra\":1,", 1),
        "unknown field `extra`",
    );
    assert_rejected(
        &line.replacen("\"version\"", "\"store\":\"x\",\"version\"", 1),
        "unknown field `store`",
    );
    assert_rejected(
        &line.replacen("\"prev\"", "\"hash2\":1,\"prev\"", 1),
        "unknown field `hash2`",
    );
}

#[test]
fn duplicate_keys_are_rejected() {
    let line = resolve_line();
    for dup in [
        "\"agent\":\"x\",",
        "\"seq\":1,",
        "\"kind\":\"secret.resolve\",",
        "\"version\":3,",
    ] {
        let field = &dup[1..dup.find("\":").unwrap()];
        let reason = rejected(&line.replacen("\"prev\"", &format!("{dup}\"prev\""), 1));
        assert!(
            reason.contains("duplicate field") && reason.contains(field),
            "{dup}: {reason}"
        );
    }
}

#[test]
fn missing_fields_and_wrong_types_are_rejected() {
    let line = resolve_line();
    assert_rejected(
        &line.replace("\"version\":3,", ""),
        "missing field `version`",
    );
    assert_rejected(&line.replace("\"seq\":1,", ""), "missing field `seq`");
    assert_rejected(&line.replace("\"kind\":\"secret.resolve\",", ""), "kind");
    for (from, to) in [
        ("\"version\":3", "\"version\":\"3\""),
        ("\"version\":3", "\"version\":3.0"),
        ("\"version\":3", "\"version\":-3"),
        ("\"version\":3", "\"version\":4294967296"),
        ("\"seq\":1", "\"seq\":1e0"),
        ("\"seq\":1", "\"seq\":01"),
        ("\"seq\":1", "\"seq\":null"),
        ("\"agent\":\"support-analysis\"", "\"agent\":\"Support\""),
        ("\"kind\":\"secret.resolve\"", "\"kind\":\"secret.fetch\""),
    ] {
        assert!(
            Record::parse_line(line.replace(from, to).as_bytes()).is_err(),
            "{to}"
        );
    }
}

#[test]
fn format_version_must_be_one() {
    assert_rejected(
        &resolve_line().replace("{\"v\":1", "{\"v\":2"),
        "format version 2",
    );
}

#[test]
fn non_canonical_timestamps_are_rejected() {
    let line = resolve_line();
    for ts in [
        "2026-11-26T12:00:00.123Z",
        "2026-11-26T12:00:00.123456+00:00",
        "2026-11-26T13:00:00.123456+01:00",
        "2026-11-26t12:00:00.123456Z",
        "2026-11-26T12:00:00.123456000Z",
    ] {
        assert_rejected(
            &line.replace("2026-11-26T12:00:00.123456Z", ts),
            "not canonical",
        );
    }
}

#[test]
fn bad_hex_is_rejected() {
    let line = resolve_line();
    let upper = line.replace(&"0".repeat(64), &"A".repeat(64));
    assert_rejected(&upper, "lowercase hex");
    assert_rejected(
        &line.replace(&"09".repeat(16), &"09".repeat(15)),
        "32 lowercase hex",
    );
    assert_rejected(&line.replace(&"ab".repeat(16), &"xy".repeat(16)), "run id");
}

#[test]
fn carriage_returns_are_rejected() {
    let line = resolve_line();
    assert_rejected(&format!("{line}\r"), "carriage return");
    // In a file: CRLF line ends are malformed records, not silently accepted.
    let crlf: Vec<String> = lines_of(&numbered_chain(LogId::from_bytes([1; 16]), 2))
        .into_iter()
        .map(|l| l + "\r")
        .collect();
    let (_dir, path) = write_log(&crlf);
    let p = first_problem(&path);
    assert!(
        matches!(&p.kind, ProblemKind::Malformed(r) if r.contains("carriage return")),
        "{p}"
    );
    assert!(read_records(&path).is_err());
}

#[test]
fn over_long_lines_are_rejected() {
    let long = "x".repeat(MAX_LINE_BYTES + 1);
    assert_rejected(&long, "longer than 65536 bytes");
    let mut lines = lines_of(&numbered_chain(LogId::from_bytes([1; 16]), 2));
    lines.insert(1, "y".repeat(3 * MAX_LINE_BYTES));
    let (_dir, path) = write_log(&lines);
    let p = first_problem(&path);
    assert_eq!(p.line, 2);
    assert!(p.to_string().contains("longer than"), "{p}");
}

#[test]
fn other_spellings_of_the_same_record_are_rejected() {
    let line = resolve_line();
    for variant in [
        line.replacen("\"v\":1", "\"v\": 1", 1),
        line.replacen('{', "{ ", 1),
        line.replacen("support-analysis", "\\u0073upport-analysis", 1),
        line.replacen("\"seq\":1,", "", 1)
            .replacen("\"prev\"", "\"seq\":1,\"prev\"", 1),
        format!(" {line}"),
    ] {
        assert_rejected(&variant, "canonical");
    }
}

#[test]
fn escapes_round_trip_only_in_serde_json_spelling() {
    let deny = sample_lines().remove(2);
    assert!(deny.contains("\\u001f"), "{deny}");
    Record::parse_line(deny.as_bytes()).unwrap();
    // The same string, spelt with an uppercase escape.
    assert_rejected(&deny.replace("\\u001f", "\\u001F"), "canonical");
}

#[test]
fn events_deny_unknown_fields_on_their_own() {
    let json = r#"{"kind":"secret.set","project":"p","secret":"s","version":1,"agent":"a"}"#;
    let err = serde_json::from_str::<Event>(json).unwrap_err();
    assert!(err.to_string().contains("unknown field `agent`"), "{err}");
    let ok = r#"{"kind":"secret.set","project":"p","secret":"s","version":1}"#;
    assert!(matches!(
        serde_json::from_str::<Event>(ok).unwrap(),
        Event::SecretSet { .. }
    ));
}

#[test]
fn non_utf8_is_rejected() {
    let mut bytes = resolve_line().into_bytes();
    let at = bytes.len() - 10;
    bytes[at] = 0xff;
    assert!(Record::parse_line(&bytes).is_err());
}
