//! Writes the test vectors in `core/tests/audit-vectors/` (run with
//! `cargo test -p scopehold-core --lib audit::tests::vectors_gen -- --ignored`).
//!
//! Each vector is a directory: `audit.jsonl` (absent for a deleted log),
//! sealed segments `audit.<first seq>.jsonl` for a rotated log (see
//! `vectors_segments.rs`), optionally `checkpoint` (the local one) and `anchor` (an exported one),
//! and `expected`, the verdict written here by hand from the attack, not
//! computed by the verifier. `vectors.rs` checks the verifier against them.

use std::fs;
use std::path::Path;

use time::Duration;

use super::*;

pub(super) const LOG: LogId = LogId::from_bytes([0x5c; 16]);
const OTHER_LOG: LogId = LogId::from_bytes([0x77; 16]);
pub(super) const T0: OffsetDateTime = datetime!(2026-11-26 12:00:00 UTC);

pub(super) fn vector_key() -> CheckpointKey {
    CheckpointKey::new(Box::new(*blake3::hash(b"scopehold audit vector key").as_bytes()).into())
}

/// [`vector_key`] bound to a store id (for logs made with `create_anchored`).
pub(super) fn vector_key_for(store: &str) -> CheckpointKey {
    let bytes = *blake3::hash(b"scopehold audit vector key").as_bytes();
    CheckpointKey::for_store(Box::new(bytes).into(), store)
}

/// A log as the runner writes it with the store key: every record MACed.
/// (Vectors that rewrite a log with it model an attacker who has the key:
/// only a checkpoint or anchor catches them.)
fn seal_all(log: LogId, events: Vec<Event>) -> Vec<Record> {
    let key = vector_key();
    forge_all(log, events)
        .into_iter()
        .map(|r| r.with_mac(key.record()))
        .collect()
}

/// The same chain written by someone without the key: no MACs.
fn forge_all(log: LogId, events: Vec<Event>) -> Vec<Record> {
    let mut prev = Hash::ZERO;
    let mut out = Vec::new();
    for (seq, event) in events.into_iter().enumerate() {
        let ts = T0 + Duration::seconds(seq as i64);
        let record = Record::seal(log, seq as u64, ts, prev, event).unwrap();
        prev = record.hash;
        out.push(record);
    }
    out
}

fn base_events() -> Vec<Event> {
    let init = Event::LogInit {
        store: "store-vectors".into(),
    };
    [vec![init], sample_events()].concat()
}

pub(super) fn lines(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.to_line().unwrap()).collect()
}

pub(super) fn cp(key: &CheckpointKey, records: &[Record], size: usize) -> Checkpoint {
    let last = &records[size - 1];
    Checkpoint::seal_at(key, last.log, last.seq, last.hash, T0 + Duration::hours(1)).unwrap()
}

pub(super) struct Vector<'a> {
    pub name: &'a str,
    pub log: Option<Vec<u8>>,
    /// Sealed segments: (first seq, bytes).
    pub sealed: Vec<(u64, Vec<u8>)>,
    pub local: Option<Checkpoint>,
    pub anchor: Option<Checkpoint>,
    pub expected: &'a str,
}

pub(super) fn text(lines: &[String]) -> Option<Vec<u8>> {
    Some((lines.join("\n") + "\n").into_bytes())
}

fn write(root: &Path, v: Vector<'_>) {
    let dir = root.join(v.name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    if let Some(log) = v.log {
        fs::write(dir.join("audit.jsonl"), log).unwrap();
    }
    for (first_seq, bytes) in v.sealed {
        fs::write(sealed_path(&dir.join("audit.jsonl"), first_seq), bytes).unwrap();
    }
    if let Some(cp) = v.local {
        fs::write(dir.join("checkpoint"), format!("{cp}\n")).unwrap();
    }
    if let Some(cp) = v.anchor {
        fs::write(dir.join("anchor"), format!("{cp}\n")).unwrap();
    }
    fs::write(dir.join("expected"), v.expected.trim_start()).unwrap();
}

fn edit(lines: &[String], index: usize, from: &str, to: &str) -> Vec<String> {
    let mut out = lines.to_vec();
    assert!(out[index].contains(from), "{}", out[index]);
    out[index] = out[index].replacen(from, to, 1);
    out
}

#[test]
#[ignore = "regenerates the committed test vectors"]
fn generate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/audit-vectors");
    for v in vectors() {
        write(&root, v);
    }
}

pub(super) fn vectors() -> Vec<Vector<'static>> {
    let key = vector_key();
    let base = seal_all(LOG, base_events());
    let l = lines(&base);
    let full = cp(&key, &base, 10);
    let mut v = Vec::new();
    let mut add = |name, log, local, anchor, expected| {
        v.push(Vector {
            name,
            log,
            sealed: Vec::new(),
            local,
            anchor,
            expected,
        })
    };
    let with_cp = Some(full.clone());
    add(
        "ok_intact",
        text(&l),
        with_cp.clone(),
        None,
        "verdict: intact\nproblem: none\nlocal: matches\n",
    );
    add(
        "ok_extends",
        text(&l),
        Some(cp(&key, &base, 7)),
        None,
        "verdict: intact\nproblem: none\nlocal: extends\n",
    );
    add(
        "ok_unanchored",
        text(&l),
        None,
        None,
        "verdict: unanchored\nproblem: none\n",
    );
    add(
        "ok_anchor_only",
        text(&l),
        None,
        with_cp.clone(),
        "verdict: intact\nproblem: none\nanchor: matches\n",
    );
    let mut torn = text(&l).unwrap();
    torn.extend_from_slice(&l[3].as_bytes()[..40]);
    add(
        "ok_torn_tail",
        Some(torn),
        with_cp.clone(),
        None,
        "verdict: torn\nproblem: torn-tail seq=- line=11\nlocal: matches\n",
    );
    add(
        "fail_byte_changed",
        text(&edit(&l, 4, "trapped", "trappex")),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: hash-mismatch seq=4 line=5\nlocal: unchecked\n",
    );
    let mut rehashed = base.clone();
    if let Event::ExecEnd { exit_code, .. } = &mut rehashed[4].event {
        *exit_code = 0;
    }
    let r = &rehashed[4];
    rehashed[4] = Record::seal(r.log, r.seq, r.ts, r.prev, r.event.clone()).unwrap();
    add(
        "fail_record_rehashed",
        text(&lines(&rehashed)),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: broken-chain seq=5 line=6\nlocal: unchecked\n",
    );
    let mut events = base_events();
    if let Event::ExecEnd { exit_code, .. } = &mut events[4] {
        *exit_code = 0;
    }
    add(
        "fail_chain_recomputed",
        text(&lines(&seal_all(LOG, events))),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: none\nlocal: rewritten\n",
    );
    let mut deleted = l.clone();
    deleted.remove(5);
    add(
        "fail_middle_deleted",
        text(&deleted),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: sequence-gap seq=6 line=6\nlocal: unchecked\n",
    );
    let mut events = base_events();
    events.drain(4..7);
    add(
        "fail_range_deleted_renumbered",
        text(&lines(&seal_all(LOG, events))),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: none\nlocal: truncated\n",
    );
    let mut swapped = l.clone();
    swapped.swap(4, 5);
    add(
        "fail_swapped",
        text(&swapped),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: out-of-order seq=5 line=5\nlocal: unchecked\n",
    );
    let mut dup = l.clone();
    dup.insert(5, l[4].clone());
    add(
        "fail_duplicated",
        text(&dup),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: out-of-order seq=4 line=6\nlocal: unchecked\n",
    );
    let forged = Record::seal(LOG, 5, base[5].ts, base[4].hash, base[2].event.clone()).unwrap();
    let mut inserted = l.clone();
    inserted.insert(5, forged.to_line().unwrap());
    add(
        "fail_forged_inserted",
        text(&inserted),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: forged-record seq=5 line=6\nlocal: unchecked\n",
    );
    add(
        "fail_last_removed",
        text(&l[..9]),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: none\nlocal: truncated\n",
    );
    add(
        "fail_last_two_removed",
        text(&l[..8]),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: none\nlocal: truncated\n",
    );
    add(
        "fail_all_removed",
        Some(Vec::new()),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: empty seq=- line=1\nlocal: truncated\n",
    );
    add(
        "fail_file_deleted",
        None,
        with_cp.clone(),
        None,
        "verdict: invalid\nmissing: true\nproblem: empty seq=- line=1\nlocal: truncated\n",
    );
    add(
        "fail_other_log",
        text(&lines(&seal_all(OTHER_LOG, base_events()))),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: none\nlocal: other-log\n",
    );
    let mut events = base_events();
    events.truncate(6);
    events.extend(sample_events().into_iter().rev().take(4));
    add(
        "fail_fork",
        text(&lines(&seal_all(LOG, events))),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: none\nlocal: rewritten\n",
    );
    add(
        "fail_checkpoint_rolled_back",
        text(&l[..7]),
        Some(cp(&key, &base, 7)),
        with_cp.clone(),
        "verdict: invalid\nproblem: none\nlocal: matches\nanchor: truncated\n",
    );
    let other = seal_all(OTHER_LOG, base_events());
    add(
        "fail_checkpoint_other_log",
        text(&l),
        Some(cp(&key, &other, 10)),
        None,
        "verdict: invalid\nproblem: none\nlocal: other-log\n",
    );
    let wrong_key = CheckpointKey::new(Box::new([9u8; 32]).into());
    add(
        "fail_checkpoint_forged",
        text(&l),
        Some(cp(&wrong_key, &base, 10)),
        None,
        "verdict: invalid\nproblem: none\nlocal: forged\n",
    );
    // Without the key (T3): appended, stripped or altered MACs.
    let appended = Record::seal(
        LOG,
        10,
        base[9].ts,
        base[9].hash,
        Event::StoreWrite {
            store: "store-vectors".into(),
            generation: 1,
        },
    )
    .unwrap();
    add(
        "fail_mac_missing_store_write",
        text(&[l.clone(), vec![appended.to_line().unwrap()]].concat()),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: forged-record seq=10 line=11\nlocal: matches\n",
    );
    let mut stripped = base.clone();
    stripped[2].mac = None;
    add(
        "fail_mac_stripped",
        text(&lines(&stripped)),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: forged-record seq=2 line=3\nlocal: unchecked\n",
    );
    let mut altered = base.clone();
    altered[2].mac = Some(Hash::of(b"not the mac"));
    add(
        "fail_mac_altered",
        text(&lines(&altered)),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: forged-record seq=2 line=3\nlocal: unchecked\n",
    );
    add(
        "fail_rechained_without_key",
        text(&lines(&forge_all(LOG, base_events()))),
        None,
        None,
        "verdict: invalid\nproblem: forged-record seq=0 line=1\n",
    );
    let tail = Record::seal(
        LOG,
        10,
        base[9].ts,
        base[9].hash,
        sample_events()[0].clone(),
    )
    .unwrap();
    add(
        "ok_unauthenticated_tail",
        text(&[l.clone(), vec![tail.to_line().unwrap()]].concat()),
        with_cp.clone(),
        None,
        "verdict: intact\nproblem: none\nlocal: extends\n",
    );
    let mut torn_mid = l.clone();
    torn_mid[4] = torn_mid[4][..60].to_owned();
    add(
        "fail_torn_line_in_middle",
        text(&torn_mid),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: malformed seq=- line=5\nlocal: unchecked\n",
    );
    add(
        "fail_unknown_field",
        text(&edit(&l, 4, ",\"prev\"", ",\"x\":1,\"prev\"")),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: malformed seq=- line=5\nlocal: unchecked\n",
    );
    add(
        "fail_duplicate_key",
        text(&edit(&l, 4, "\"seq\":4,", "\"seq\":4,\"seq\":4,")),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: malformed seq=- line=5\nlocal: unchecked\n",
    );
    add(
        "fail_crlf",
        Some((l.join("\r\n") + "\r\n").into_bytes()),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: malformed seq=- line=1\nlocal: unchecked\n",
    );
    let upper = base[4].hash.to_string();
    add(
        "fail_uppercase_hex",
        text(&edit(&l, 4, &upper, &upper.to_uppercase())),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: malformed seq=- line=5\nlocal: unchecked\n",
    );
    add(
        "fail_noncanonical_number",
        text(&edit(&l, 2, "\"version\":3", "\"version\":3.0")),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: malformed seq=- line=3\nlocal: unchecked\n",
    );
    add(
        "fail_noncanonical_timestamp",
        text(&edit(&l, 4, ".000000Z", ".000000+00:00")),
        with_cp.clone(),
        None,
        "verdict: invalid\nproblem: malformed seq=- line=5\nlocal: unchecked\n",
    );
    let moved = "\"agent\":\"support-analysi\",\"project\":\"sanalytics\"";
    add(
        "fail_length_prefix_ambiguity",
        text(&edit(
            &l,
            1,
            "\"agent\":\"support-analysis\",\"project\":\"analytics\"",
            moved,
        )),
        with_cp,
        None,
        "verdict: invalid\nproblem: hash-mismatch seq=1 line=2\nlocal: unchecked\n",
    );
    v.extend(super::vectors_segments::vectors());
    v
}
