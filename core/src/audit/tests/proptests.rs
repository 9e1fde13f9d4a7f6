//! Property tests: random records round-trip, and any single-byte change
//! to a record line or a log file is detected.

use proptest::prelude::*;
use time::OffsetDateTime;

use super::*;
use crate::audit::record::{Parsed, Scratch};

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter)
}

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,15}"
}

fn tok() -> impl Strategy<Value = Token> {
    "[a-z][a-z0-9]{0,5}(-[a-z0-9]{1,5}){0,2}".prop_map(|t| Token::new(t).unwrap())
}

fn run() -> impl Strategy<Value = RunId> {
    any::<[u8; 16]>().prop_map(RunId::from_bytes)
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash::from_bytes)
}

/// Who and where: run id, agent, project.
fn ctx() -> impl Strategy<Value = (RunId, String, String)> {
    (run(), name(), name())
}

/// The policy-change kinds, with operator fields.
fn policy_event() -> impl Strategy<Value = Event> {
    let by = (text(), any::<u32>(), text(), text());
    (
        by,
        (name(), name(), name()),
        (text(), text(), any::<bool>()),
        hash(),
        0..6u8,
    )
        .prop_map(
            |((user, uid, hostname, command), (a, p, s), (t1, t2, approve), policy, which)| {
                let (agent, project, secret) = (agent(&a), project(&p), secret(&s));
                match which {
                    0 => Event::ProjectAdd {
                        user,
                        uid,
                        hostname,
                        command,
                        project,
                        description: t1,
                    },
                    1 => Event::AgentAdd {
                        user,
                        uid,
                        hostname,
                        command,
                        agent,
                        project,
                        description: t1,
                    },
                    2 => Event::AgentRemove {
                        user,
                        uid,
                        hostname,
                        command,
                        agent,
                        project,
                    },
                    3 => Event::GrantAdd {
                        user,
                        uid,
                        hostname,
                        command,
                        agent,
                        project,
                        secret,
                        expires: t1,
                        hosts: t2,
                        approve,
                    },
                    4 => Event::GrantRevoke {
                        user,
                        uid,
                        hostname,
                        command,
                        agent,
                        project,
                        secret,
                    },
                    _ => Event::PolicyChange {
                        user,
                        uid,
                        hostname,
                        command,
                        policy,
                        changes: t1,
                    },
                }
            },
        )
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        policy_event(),
        text().prop_map(|store| Event::LogInit { store }),
        (any::<u64>(), hash()).prop_map(|(dropped_bytes, dropped_hash)| Event::LogRecover {
            dropped_bytes,
            dropped_hash
        }),
        (
            ctx(),
            hash(),
            hash(),
            text(),
            proptest::option::of((hash(), any::<u64>()))
        )
            .prop_map(|((run, a, p), component, policy, policy_path, script)| {
                let (script, script_bytes) = script.unzip();
                Event::ExecStart {
                    run,
                    agent: agent(&a),
                    project: project(&p),
                    component,
                    policy,
                    policy_path,
                    script,
                    script_bytes,
                }
            }),
        (ctx(), name(), any::<u32>()).prop_map(|((run, a, p), s, version)| Event::SecretResolve {
            run,
            agent: agent(&a),
            project: project(&p),
            secret: secret(&s),
            version,
        }),
        (ctx(), text(), tok(), text()).prop_map(|((run, a, p), secret, reason, detail)| {
            Event::SecretDeny {
                run,
                agent: agent(&a),
                project: project(&p),
                secret,
                reason,
                detail,
            }
        }),
        (ctx(), any::<i32>(), any::<u64>(), tok(), any::<u64>()).prop_map(
            |((run, a, p), exit_code, duration_ms, outcome, repeats)| {
                Event::ExecEnd {
                    run,
                    agent: agent(&a),
                    project: project(&p),
                    exit_code,
                    duration_ms,
                    outcome,
                    repeats,
                }
            }
        ),
        (
            ctx(),
            (text(), text(), text()),
            (tok(), tok()),
            text(),
            any::<u16>()
        )
            .prop_map(
                |((run, a, p), (method, target, path), (decision, reason), injected, status)| {
                    Event::HttpRequest {
                        run,
                        agent: agent(&a),
                        project: project(&p),
                        method,
                        target,
                        path,
                        decision,
                        reason,
                        injected,
                        status,
                    }
                }
            ),
        (ctx(), (text(), text(), text())).prop_map(
            |((run, a, p), (tool, client, client_version))| Event::ToolCall {
                run,
                agent: agent(&a),
                project: project(&p),
                tool,
                client,
                client_version,
            }
        ),
        ((text(), text(), text()), (text(), tok(), text())).prop_map(
            |((tool, as_agent, client), (client_version, reason, detail))| Event::ToolRefused {
                tool,
                as_agent,
                client,
                client_version,
                reason,
                detail,
            }
        ),
        ((text(), text()), hash(), tok(), text()).prop_map(
            |((as_agent, path), component, reason, detail)| Event::ExecRefused {
                as_agent,
                path,
                component,
                reason,
                detail,
            }
        ),
        (text(), any::<u64>())
            .prop_map(|(store, generation)| Event::StoreWrite { store, generation }),
        (text(), any::<u64>(), any::<u64>()).prop_map(|(store, generation, replaces)| {
            Event::StoreRestore {
                store,
                generation,
                replaces,
            }
        }),
        (text(), text()).prop_map(|(store, detail)| Event::StoreRekey { store, detail }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(segment, records)| Event::SegmentClose { segment, records }),
        (any::<u64>(), text(), any::<u64>()).prop_map(|(segment, store, generation)| {
            Event::SegmentOpen {
                segment,
                store,
                generation,
            }
        }),
        (name(), name(), any::<u32>(), 0..3u8).prop_map(|(p, s, version, which)| {
            let (project, secret) = (project(&p), secret(&s));
            match which {
                0 => Event::SecretSet {
                    project,
                    secret,
                    version,
                },
                1 => Event::SecretRotate {
                    project,
                    secret,
                    version,
                },
                _ => Event::SecretRemove {
                    project,
                    secret,
                    version,
                },
            }
        }),
    ]
}

fn timestamp() -> impl Strategy<Value = OffsetDateTime> {
    (0i64..253_402_300_800, 0u32..1_000_000).prop_map(|(secs, micros)| {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
            + time::Duration::microseconds(micros.into())
    })
}

fn record() -> impl Strategy<Value = Record> {
    (
        any::<[u8; 16]>(),
        any::<u64>(),
        timestamp(),
        hash(),
        event(),
    )
        .prop_map(|(log, seq, ts, prev, event)| {
            Record::seal(LogId::from_bytes(log), seq, ts, prev, event).unwrap()
        })
}

proptest! {
    #[test]
    fn random_records_round_trip(record in record()) {
        let line = record.to_line().unwrap();
        prop_assert_eq!(Record::parse_line(line.as_bytes()).unwrap(), record);
    }

    #[test]
    fn any_byte_change_in_a_line_is_detected(record in record(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut line = record.to_line().unwrap().into_bytes();
        let at = pos.index(line.len());
        prop_assume!(line[at] != byte);
        line[at] = byte;
        if let Ok(parsed) = Parsed::from_line(&line, &mut Scratch::default()) {
            prop_assert_ne!(parsed.computed, parsed.record.hash, "undetected: {}", String::from_utf8_lossy(&line));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_byte_change_in_a_file_is_detected(
        events in proptest::collection::vec(event(), 1..4),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let (_dir, path) = write_log(&lines_of(&chain(LogId::from_bytes([3; 16]), events)));
        let mut bytes = std::fs::read(&path).unwrap();
        let at = pos.index(bytes.len());
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        std::fs::write(&path, &bytes).unwrap();
        let report = verify(&path).unwrap();
        prop_assert!(!report.is_intact(), "undetected change at byte {}", at);
    }
}
