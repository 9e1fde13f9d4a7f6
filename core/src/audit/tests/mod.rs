//! Tests of the audit log: round trips, the hash test vector, strict parsing,
//! tamper detection, concurrency and verify throughput.

mod carry;
mod checkpoint;
mod concurrent;
mod group;
mod guard;
mod proptests;
mod rotation;
mod roundtrip;
mod script_fields;
mod strict;
mod tamper;
mod vectors;
mod vectors_gen;
mod vectors_segments;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::names::{AgentName, ProjectName, SecretName};

pub(super) fn agent(name: &str) -> AgentName {
    AgentName::new(name).unwrap()
}

pub(super) fn project(name: &str) -> ProjectName {
    ProjectName::new(name).unwrap()
}

pub(super) fn secret(name: &str) -> SecretName {
    SecretName::new(name).unwrap()
}

pub(super) fn token(t: &str) -> Token {
    Token::new(t).unwrap()
}

pub(super) fn run_id(byte: u8) -> RunId {
    RunId::from_bytes([byte; 16])
}

/// One event of every kind callers append (all but `log.init`/`log.recover`).
pub(super) fn sample_events() -> Vec<Event> {
    let (run, agent, project) = (
        run_id(0xab),
        agent("support-analysis"),
        project("analytics"),
    );
    vec![
        Event::ExecStart {
            run,
            agent: agent.clone(),
            project: project.clone(),
            component: Hash::of(b"component bytes"),
            policy: Hash::of(b"policy bytes"),
            policy_path: "/home/op/tasks.toml".into(),
            script: None,
            script_bytes: None,
        },
        Event::SecretResolve {
            run,
            agent: agent.clone(),
            project: project.clone(),
            secret: secret("posthog-read"),
            version: 3,
        },
        Event::SecretDeny {
            run,
            agent: agent.clone(),
            project: project.clone(),
            secret: "<invalid name: 12 bytes>".into(),
            reason: token("not-granted"),
            detail: "no grant \"x\"\n\u{1f}\u{7f} é 🙂 \\".into(),
        },
        Event::ExecEnd {
            run,
            agent,
            project: project.clone(),
            exit_code: -3,
            duration_ms: u64::MAX,
            outcome: token("trapped"),
            repeats: u64::MAX,
        },
        Event::SecretSet {
            project: project.clone(),
            secret: secret("k"),
            version: 1,
        },
        Event::SecretRotate {
            project: project.clone(),
            secret: secret("k"),
            version: u32::MAX,
        },
        Event::SecretRemove {
            project: project.clone(),
            secret: secret("k"),
            version: 0,
        },
        Event::HttpRequest {
            run,
            agent: self::agent("support-analysis"),
            project,
            method: "GET".into(),
            target: "https://eu.posthog.com:443".into(),
            path: "/api/projects?key=[REDACTED:posthog-read]".into(),
            decision: token("allowed"),
            reason: token("sent"),
            injected: "posthog-read".into(),
            status: 200,
        },
        Event::StoreWrite {
            store: "store-1".into(),
            generation: 7,
        },
    ]
}

/// A state dir holding a fresh log, as `runner init` makes it: `log.init`
/// with its MAC and the first checkpoint, under the vector key bound to
/// store `store-1`; appends through it carry MACs.
pub(super) fn new_log() -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let key = vectors_gen::vector_key_for("store-1");
    let log = AuditLog::create_anchored(dir.path(), key).unwrap();
    (dir, log)
}

pub(super) const TS: OffsetDateTime = datetime!(2026-11-26 12:00:00.123456 UTC);

/// A well-formed chain built in memory (no fsync): `log.init` then `events`.
pub(super) fn chain(log: LogId, events: impl IntoIterator<Item = Event>) -> Vec<Record> {
    let init = Event::LogInit {
        store: "store-1".into(),
    };
    let mut records: Vec<Record> = Vec::new();
    for event in std::iter::once(init).chain(events) {
        let (seq, prev) = match records.last() {
            Some(last) => (last.seq + 1, last.hash),
            None => (0, Hash::ZERO),
        };
        records.push(Record::seal(log, seq, TS, prev, event).unwrap());
    }
    records
}

/// `n` records after `log.init`: secret.set events with version = index.
pub(super) fn numbered_chain(log: LogId, n: u32) -> Vec<Record> {
    chain(
        log,
        (1..=n).map(|v| Event::SecretSet {
            project: project("p"),
            secret: secret("s"),
            version: v,
        }),
    )
}

pub(super) fn lines_of(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.to_line().unwrap()).collect()
}

/// Writes `lines` as a log file (each with `\n`) in a fresh dir.
pub(super) fn write_log(lines: &[String]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    std::fs::write(
        &path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    (dir, path)
}

/// The first problem `verify` reports for `path` (panics if intact).
pub(super) fn first_problem(path: &Path) -> Problem {
    let report = verify(path).unwrap();
    report.first_problem.expect("tampering was not detected")
}
