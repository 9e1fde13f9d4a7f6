//! Test vectors of rotated logs (written by `vectors_gen::generate`):
//! four segments, `audit.00000000000000000000.jsonl` (seq 0-4: `log.init`,
//! three events, `segment.close`), `...05.jsonl` (seq 5-9, with a
//! `store.write` of the log's store at seq 7), `...10.jsonl` (seq 10-14,
//! with one of another store at seq 12) and the active `audit.jsonl` (seq
//! 15-18: `segment.open`, carrying generation 1 like the open at seq 10, and
//! three events), then each attack on the files. The expected verdicts are
//! written by hand from the attack.

use time::Duration;

use super::vectors_gen::{LOG, T0, Vector, cp, lines, text, vector_key};
use super::*;

const SEGMENTS: u64 = 4;

const STORE: &str = "store-vectors";

/// The three events of each segment: segment 1 records a write of the log's
/// store, segment 2 one of another store (which must not be carried).
fn segment_events(segment: u64) -> Vec<Event> {
    let mut events: Vec<Event> = sample_events().into_iter().take(3).collect();
    let write = |store: &str, generation| Event::StoreWrite {
        store: store.into(),
        generation,
    };
    match segment {
        1 => events[1] = write(STORE, 1),
        2 => events[1] = write("store-other", 9),
        _ => {}
    }
    events
}

/// The records of each segment, the last one active.
fn segmented(log: LogId, first_seq: u64) -> Vec<Vec<Record>> {
    build(log, first_seq, None)
}

/// Like [`segmented`]; `forged`: `(segment, generation)` written into that
/// segment's open instead of the true carried generation.
fn build(log: LogId, first_seq: u64, forged: Option<(u64, u64)>) -> Vec<Vec<Record>> {
    let (mut seq, mut prev) = (first_seq, Hash::ZERO);
    let mut recorded = 0;
    let mut seal = |event: Event| {
        let ts = T0 + Duration::seconds(seq as i64);
        let record = Record::seal(log, seq, ts, prev, event).unwrap();
        (seq, prev) = (seq + 1, record.hash);
        record.with_mac(vector_key().record())
    };
    let mut files = Vec::new();
    for segment in 0..SEGMENTS {
        let generation = match forged {
            Some((at, generation)) if at == segment => generation,
            _ => recorded,
        };
        let first = match segment {
            0 => Event::LogInit {
                store: STORE.into(),
            },
            _ => Event::SegmentOpen {
                segment,
                store: STORE.into(),
                generation,
            },
        };
        let mut file = vec![seal(first)];
        for event in segment_events(segment) {
            if let Event::StoreWrite { store, generation } = &event
                && store == STORE
            {
                recorded = *generation;
            }
            file.push(seal(event));
        }
        if segment + 1 < SEGMENTS {
            let records = file.len() as u64 + 1;
            file.push(seal(Event::SegmentClose { segment, records }));
        }
        files.push(file);
    }
    files
}

/// A vector from segment files: `(first seq, records)` sealed, then active.
fn vector(
    name: &'static str,
    sealed: &[&[Record]],
    active: Option<&[Record]>,
    local: Option<Checkpoint>,
    expected: &'static str,
) -> Vector<'static> {
    let bytes = |records: &[Record]| text(&lines(records)).unwrap();
    Vector {
        name,
        log: active.map(bytes),
        sealed: sealed.iter().map(|r| (r[0].seq, bytes(r))).collect(),
        local,
        anchor: None,
        expected,
    }
}

/// A sealed segment as it would be named by another first seq.
fn renamed(records: &[Record], first_seq: u64) -> (u64, Vec<u8>) {
    (first_seq, text(&lines(records)).unwrap())
}

pub(super) fn vectors() -> Vec<Vector<'static>> {
    let key = vector_key();
    let f = segmented(LOG, 0);
    let all: Vec<Record> = f.concat();
    let full = Some(cp(&key, &all, all.len()));
    let (s0, s1, s2, active) = (&f[0][..], &f[1][..], &f[2][..], &f[3][..]);
    let mut v = vec![
        vector(
            "ok_segments",
            &[s0, s1, s2],
            Some(active),
            full.clone(),
            "verdict: intact\nproblem: none\nlocal: matches\n",
        ),
        vector(
            "ok_rotation_interrupted",
            &[s0, s1],
            Some(s2),
            Some(cp(&key, &all, 14)),
            "verdict: torn\nproblem: rotation-interrupted seq=- line=6\nlocal: extends\n",
        ),
        vector(
            "fail_segment_missing_first",
            &[s1, s2],
            Some(active),
            full.clone(),
            "verdict: invalid\nproblem: segment-missing seq=- line=1 \
             file=audit.00000000000000000005.jsonl\nlocal: unchecked\n",
        ),
        vector(
            "fail_segment_missing_middle",
            &[s0, s2],
            Some(active),
            full.clone(),
            "verdict: invalid\nproblem: segment-missing seq=- line=1 \
             file=audit.00000000000000000010.jsonl\nlocal: unchecked\n",
        ),
        vector(
            "fail_segment_missing_last",
            &[s0, s1],
            Some(active),
            full.clone(),
            "verdict: invalid\nproblem: segment-missing seq=15 line=1\nlocal: unchecked\n",
        ),
        vector(
            "fail_segment_active_deleted",
            &[s0, s1, s2],
            None,
            full.clone(),
            "verdict: invalid\nproblem: segment-missing seq=- line=0\nlocal: unchecked\n",
        ),
        vector(
            "fail_segment_truncated",
            &[s0, &s1[..4], s2],
            Some(active),
            full.clone(),
            "verdict: invalid\nproblem: segment-unclosed seq=- line=5 \
             file=audit.00000000000000000005.jsonl\nlocal: unchecked\n",
        ),
    ];
    let mut anchored = vector(
        "ok_anchor_before_rotation",
        &[s0, s1, s2],
        Some(active),
        None,
        "verdict: intact\nproblem: none\nanchor: extends\n",
    );
    anchored.anchor = Some(cp(&key, &all, 3));
    v.push(anchored);
    let mut swapped = vector(
        "fail_segments_swapped",
        &[s0],
        Some(active),
        full.clone(),
        "verdict: invalid\nproblem: segment-misnamed seq=10 line=1 \
         file=audit.00000000000000000005.jsonl\nlocal: unchecked\n",
    );
    swapped.sealed.extend([renamed(s2, 5), renamed(s1, 10)]);
    v.push(swapped);
    let mut moved = vector(
        "fail_segment_renamed",
        &[s0, s2],
        Some(active),
        full.clone(),
        "verdict: invalid\nproblem: segment-misnamed seq=- line=1 \
         file=audit.00000000000000000006.jsonl\nlocal: unchecked\n",
    );
    moved.sealed.push(renamed(s1, 6));
    v.push(moved);
    // seq 3 moved from the end of segment 0 to the start of segment 1.
    let (mut m0, mut m1) = (s0.to_vec(), s1.to_vec());
    m1.insert(1, m0.remove(3));
    v.push(vector(
        "fail_record_moved_between_segments",
        &[&m0, &m1, s2],
        Some(active),
        full.clone(),
        "verdict: invalid\nproblem: out-of-order seq=4 line=4 \
         file=audit.00000000000000000000.jsonl\nlocal: unchecked\n",
    ));
    // Well-formed segments of this log id, named for their first seq, but
    // not of this chain.
    let forged = segmented(LOG, 2).remove(1);
    let mut extra = vector(
        "fail_segment_forged_extra",
        &[s0, s1, s2],
        Some(active),
        full.clone(),
        "verdict: invalid\nproblem: segment-extra seq=- line=1 \
         file=audit.00000000000000000007.jsonl\nlocal: unchecked\n",
    );
    extra.sealed.push(renamed(&forged, 7));
    v.push(extra);
    let mut beyond = vector(
        "fail_segment_forged_beyond_active",
        &[s0, s1, s2],
        Some(active),
        full,
        "verdict: invalid\nproblem: segment-extra seq=- line=1 \
         file=audit.00000000000000000030.jsonl\nlocal: unchecked\n",
    );
    beyond.sealed.push(renamed(&segmented(LOG, 25)[1], 30));
    v.push(beyond);
    v.push(carried_forged(&key));
    v
}

/// The active segment's open claims no store write was recorded (hiding
/// the one at seq 7 from the rollback check), the chain resealed after it
/// and a checkpoint made with the key: only the carry check catches it.
fn carried_forged(key: &CheckpointKey) -> Vector<'static> {
    let f = build(LOG, 0, Some((3, 0)));
    let all: Vec<Record> = f.concat();
    vector(
        "fail_segment_carried_generation",
        &[&f[0], &f[1], &f[2]],
        Some(&f[3]),
        Some(cp(key, &all, all.len())),
        "verdict: invalid\nproblem: carried-generation seq=15 line=1\nlocal: unchecked\n",
    )
}
