//! `runner audit log --follow`: the records already there, then each one
//! appended, once, across rotation; a record that does not chain on is never
//! shown and ends the command with `audit verify`'s verdict; SIGINT ends it
//! cleanly (exit 0).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::harness::*;

/// `runner audit log --follow`, and its stdout line by line.
fn follow(world: &World) -> (Child, Receiver<String>) {
    let mut child = world
        .cmd(&["audit", "log", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (send, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    (child, lines)
}

/// Lines up to and including the first that contains `needle`.
fn until(lines: &Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        // A bound on a hang, not a timing assertion.
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {needle:?}; saw {seen:#?}"),
        }
    }
}

fn seq_of(line: &str) -> u64 {
    line.split_whitespace().next().unwrap().parse().unwrap()
}

fn interrupt(child: &Child) {
    // SAFETY: kill(2) on the pid of a child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
}

#[test]
fn follow_prints_each_appended_record_once_across_rotation_and_ends_on_sigint() {
    let world = World::new();
    world.set_secret("analytics", "first", "v1");
    let (child, lines) = follow(&world);
    let mut seen = until(&lines, "analytics/first");
    world.set_secret("analytics", "second", "v2");
    seen.extend(until(&lines, "analytics/second"));
    world.ok(&["audit", "rotate"]);
    seen.extend(until(&lines, "segment.open"));
    world.set_secret("analytics", "third", "v3");
    seen.extend(until(&lines, "analytics/third"));
    seen.extend(until(&lines, "store.write"));
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let seqs: Vec<u64> = seen.iter().map(|l| seq_of(l)).collect();
    let expected: Vec<u64> = (0..seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "each record once, in order:\n{seen:#?}");
    let logged = stdout(&world.ok(&["audit", "log"]));
    assert_eq!(logged.lines().count(), seen.len(), "{logged}");
}

#[test]
fn follow_never_shows_a_record_that_does_not_chain_on() {
    let world = World::new();
    let (child, lines) = follow(&world);
    until(&lines, "log.init");
    let log = std::fs::read_to_string(world.audit_path()).unwrap();
    // The last record again, as the next one: canonical, chained by `prev`,
    // but its hash no longer covers its fields.
    let line = log.lines().last().unwrap();
    let last: serde_json::Value = serde_json::from_str(line).unwrap();
    let seq = last["seq"].as_u64().unwrap() + 1;
    let forged = line
        .replace(&format!("\"seq\":{}", seq - 1), &format!("\"seq\":{seq}"))
        .replace(
            &format!("\"prev\":{}", last["prev"]),
            &format!("\"prev\":{}", last["hash"]),
        );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(world.audit_path())
        .unwrap();
    writeln!(file, "{forged}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("does not verify: INVALID"), "{err}");
    assert!(err.contains(&format!("record seq {seq}")), "{err}");
    // Every line the command printed (the reader ends at its stdout's end).
    let shown: Vec<u64> = lines.iter().map(|l| seq_of(&l)).collect();
    assert!(
        !shown.contains(&seq),
        "the forged record was shown: {shown:?}"
    );
}
