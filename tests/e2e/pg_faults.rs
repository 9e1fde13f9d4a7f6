//! The PostgreSQL backend under faults and tampering: the database going
//! away mid-run fails closed, a killed runner leaves nothing half-written,
//! tampering done with SQL is reported by `audit verify` as file tampering
//! is, and a newer schema is refused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::harness::{canary, contains, stderr, text};
use crate::pg_cluster::PgCluster;
use crate::pg_hosts::PgHost;

/// `probe poll:posthog-read` (one resolution a second) with its lines.
fn start_polling(host: &PgHost) -> (Child, Receiver<String>) {
    let mut child = host
        .exec_cmd("probe", &["poll:posthog-read"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (send, lines) = channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    (child, lines)
}

fn next_line(lines: &Receiver<String>) -> Option<String> {
    lines.recv_timeout(Duration::from_secs(30)).ok()
}

fn host_with_secret(pg: &PgCluster) -> PgHost {
    let host = PgHost::first(pg, "host-a");
    host.set_secret("posthog-read", &canary());
    host
}

#[test]
fn the_database_going_away_mid_run_releases_nothing_more() {
    let Some(pg) = PgCluster::start() else { return };
    let host = host_with_secret(&pg);
    let (mut child, lines) = start_polling(&host);
    let first = next_line(&lines).expect("the probe polls");
    assert!(first.contains(": granted"), "{first}");
    pg.stop();
    let rest: Vec<String> = std::iter::from_fn(|| next_line(&lines)).collect();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    // At most the call already answered before the stop; none after it.
    assert!(
        rest.iter().filter(|l| l.contains(": granted")).count() <= 1,
        "granted without the database: {rest:?}"
    );
    assert_eq!(status.code(), Some(125), "{err}");
    assert!(err.contains("database"), "{err}");
    assert!(err.contains("hint: "), "{err}");

    pg.resume();
    let (code, report) = host.verify();
    assert!(code == 0 || code == 3, "{report}");
    assert_ne!(report["verdict"], "invalid", "{report}");
}

#[test]
fn a_run_started_while_the_database_is_down_never_starts_the_task() {
    let Some(pg) = PgCluster::start() else { return };
    let host = host_with_secret(&pg);
    pg.stop();
    let out = host
        .exec_cmd("probe", &["get:posthog-read"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!contains(&out.stdout, "granted"), "{}", text(&out));
    assert!(stderr(&out).contains("database"), "{}", text(&out));
}

#[test]
fn a_killed_runner_leaves_an_intact_chain_and_store() {
    let Some(pg) = PgCluster::start() else { return };
    let host = host_with_secret(&pg);
    for _ in 0..3 {
        let (mut child, lines) = start_polling(&host);
        let first = next_line(&lines).expect("the probe polls");
        assert!(first.contains(": granted"), "{first}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let (code, report) = host.verify();
    assert_eq!(code, 0, "{report}");
    host.ok(&["secret", "list"]);
    let out = host
        .exec_cmd("probe", &["get:posthog-read"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// A host with some history: resolutions, a rotation.
fn tampering_world(pg: &PgCluster) -> PgHost {
    let host = host_with_secret(pg);
    for _ in 0..2 {
        host.exec_cmd("probe", &["get:posthog-read"])
            .output()
            .unwrap();
    }
    host.rotate("posthog-read", &canary());
    host.exec_cmd("probe", &["get:posthog-read"])
        .output()
        .unwrap();
    let (code, report) = host.verify();
    assert_eq!(code, 0, "{report}");
    host
}

/// Runs `tamper`, checks verify's exit code and first problem, undoes it.
fn assert_reported(pg: &PgCluster, host: &PgHost, tamper: &str, undo: &str, reason: &str) {
    pg.psql(tamper);
    let (code, report) = host.verify();
    assert_eq!(code, 1, "{tamper}: {report}");
    assert_eq!(report["verdict"], "invalid", "{tamper}: {report}");
    let found = report["first_problem"]["code"].as_str().unwrap_or_default();
    let outcome = report["checkpoints"][0]["outcome"]
        .as_str()
        .unwrap_or_default();
    assert!(
        found == reason || outcome == reason,
        "{tamper}: wanted {reason}, got {report}"
    );
    pg.psql(undo);
    assert_eq!(host.verify().0, 0, "undoing {tamper} restores the chain");
}

#[test]
fn sql_tampering_is_reported_by_verify_as_file_tampering_is() {
    let Some(pg) = PgCluster::start() else { return };
    let host = tampering_world(&pg);
    pg.psql("CREATE TABLE saved AS SELECT * FROM audit_record; CREATE TABLE saved_head AS SELECT * FROM chain_head");
    let restore = "DELETE FROM audit_record; INSERT INTO audit_record SELECT * FROM saved; \
                   DELETE FROM chain_head; INSERT INTO chain_head SELECT * FROM saved_head";
    let resolve = "(SELECT min(seq) FROM audit_record WHERE kind = 'secret.resolve')";
    // UPDATE one record's line: its hash no longer matches.
    let update = format!(
        "UPDATE audit_record SET line = replace(line, '\"version\":1', '\"version\":7') \
         WHERE seq = {resolve}"
    );
    assert_reported(&pg, &host, &update, restore, "hash-mismatch");
    // DELETE one record from the middle: a gap.
    let delete = "DELETE FROM audit_record WHERE seq = 2";
    assert_reported(&pg, &host, delete, restore, "sequence-gap");
    // DELETE the newest record: shorter than the head's checkpoint.
    let cut = "DELETE FROM audit_record WHERE seq = (SELECT max(seq) FROM audit_record)";
    assert_reported(&pg, &host, cut, restore, "truncated");
    // INSERT a copy of a resolution as a new row: out of order.
    let insert = format!(
        "INSERT INTO audit_record (log, seq, kind, host, line) SELECT log, \
         (SELECT max(seq) + 1 FROM audit_record), kind, host, line FROM audit_record \
         WHERE seq = {resolve}"
    );
    assert_reported(&pg, &host, &insert, restore, "out-of-order");
    // A changed head row: its checkpoint no longer verifies.
    let head =
        "UPDATE chain_head SET checkpoint = regexp_replace(checkpoint, 'size=[0-9]+', 'size=2')";
    assert_reported(&pg, &host, head, restore, "forged");
}

#[test]
fn a_changed_head_row_stops_appends() {
    let Some(pg) = PgCluster::start() else { return };
    let host = tampering_world(&pg);
    pg.psql(
        "UPDATE chain_head SET checkpoint = regexp_replace(checkpoint, 'size=[0-9]+', 'size=2')",
    );
    let records = pg.psql("SELECT count(*) FROM audit_record");
    let out = host
        .exec_cmd("probe", &["get:posthog-read"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!contains(&out.stdout, "granted"), "{}", text(&out));
    assert_eq!(pg.psql("SELECT count(*) FROM audit_record"), records);
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let Some(pg) = PgCluster::start() else { return };
    let host = host_with_secret(&pg);
    pg.psql("INSERT INTO schema_version (version) VALUES (99)");
    for args in [&["secret", "list"][..], &["init"], &["audit", "verify"]] {
        let out = host.run(args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(err.contains("schema is version 99"), "{args:?}: {err}");
        assert!(err.contains("hint: "), "{args:?}: {err}");
    }
}
