//! One scenario against both backends, side by side: the same commands give
//! the same answers, the chain holds the same kinds of record in the same
//! order, and the same tampering (a record's line changed in `audit.jsonl`,
//! or with SQL) gets the same verdict from `audit verify`.

use serde_json::Value;

use crate::harness::{POLICY, canary, feed, stdout, text};
use crate::pg_cluster::PgCluster;
use crate::pg_hosts::{PgHost, digest};

/// A host on the file backend: the same layout, tasks.toml without
/// `[state]` (the database URL in its environment is then never used).
fn file_host(pg: &PgCluster) -> PgHost {
    let host = PgHost::new(pg, "host-f");
    std::fs::write(host.config(), POLICY).unwrap();
    host
}

/// The scenario: what each step answered, and the kinds of every record.
fn scenario(host: &PgHost) -> (Vec<String>, Vec<String>) {
    let mut seen = Vec::new();
    host.ok(&["init"]);
    let (one, two) = (canary(), canary());
    host.set_secret("posthog-read", &one);
    let get = || {
        let out = host
            .exec_cmd("probe", &["get:posthog-read"])
            .output()
            .unwrap();
        (out.status.code(), stdout(&out))
    };
    let (code, out) = get();
    seen.push(format!("{code:?} {}", out.contains(&digest(&one))));
    host.rotate("posthog-read", &two);
    let (code, out) = get();
    seen.push(format!("{code:?} {}", out.contains(&digest(&two))));
    let rm = feed(
        host.cmd(&[
            "secret",
            "rm",
            "posthog-read",
            "--project",
            "analytics",
            "--force",
        ]),
        b"",
    );
    let rm = rm.wait_with_output().unwrap();
    seen.push(format!("rm {:?}", rm.status.code()));
    let (code, out) = get();
    seen.push(format!("{code:?} {}", out.contains("granted")));
    let (code, report) = host.verify();
    seen.push(format!("verify {code} {}", report["verdict"]));
    let log = host.ok(&["audit", "log", "--json"]);
    let kinds = stdout(&log)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["kind"].to_string())
        .collect();
    (seen, kinds)
}

#[test]
fn both_backends_answer_the_same_and_record_the_same_chain() {
    let Some(pg) = PgCluster::start() else { return };
    let (file, db) = (file_host(&pg), PgHost::new(&pg, "host-p"));
    let (file_seen, file_kinds) = scenario(&file);
    let (db_seen, db_kinds) = scenario(&db);
    assert_eq!(file_seen, db_seen);
    assert!(file_seen[0].ends_with("true") && file_seen[1].ends_with("true"));
    assert!(file_seen[3].ends_with("false"), "{file_seen:?}");
    assert_eq!(file_kinds, db_kinds);
    assert!(db_kinds.len() > 8, "{db_kinds:?}");

    // The same change to the first resolution's record, in a file and a row.
    let log = file.home().join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let first = lines
        .iter()
        .position(|l| l.contains("secret.resolve"))
        .unwrap();
    lines[first] = lines[first].replace("\"version\":1", "\"version\":7");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let seq = "(SELECT min(seq) FROM audit_record WHERE kind = 'secret.resolve')";
    pg.psql(&format!(
        "UPDATE audit_record SET line = replace(line, '\"version\":1', '\"version\":7') \
         WHERE seq = {seq}"
    ));
    let verdict = |host: &PgHost| {
        let (code, report) = host.verify();
        let problem = &report["first_problem"];
        (
            code,
            report["verdict"].clone(),
            problem["code"].clone(),
            problem["seq"].clone(),
        )
    };
    let (on_file, on_db) = (verdict(&file), verdict(&db));
    assert_eq!(on_file, on_db, "{}", text_of(&file, &db));
    assert_eq!(on_db.0, 1);
}

fn text_of(file: &PgHost, db: &PgHost) -> String {
    format!(
        "{}\n{}",
        text(&file.run(&["audit", "verify"])),
        text(&db.run(&["audit", "verify"]))
    )
}

/// A tasks.toml that does not load: a file host still reads its own log
/// (with a warning, exit as `audit verify` says), a database host fails
/// instead of falling back to files it does not have; neither changes.
#[test]
fn a_broken_tasks_toml_is_read_around_on_files_only() {
    let Some(pg) = PgCluster::start() else { return };
    let file = file_host(&pg);
    file.ok(&["init"]);
    let db = PgHost::first(&pg, "host-d");
    for host in [&file, &db] {
        let mut policy = std::fs::read_to_string(host.config()).unwrap();
        policy.push_str("\n[agents.broken\n");
        std::fs::write(host.config(), policy).unwrap();
    }
    let read = file.run(&["audit", "verify"]);
    assert!(read.status.success(), "{}", text(&read));
    assert!(stdout(&read).contains("INTACT"), "{}", text(&read));
    let warned = crate::harness::stderr(&read);
    assert!(warned.contains("unclosed table"), "{}", text(&read));
    assert!(
        warned.contains("reading the state dir's own files"),
        "{}",
        text(&read)
    );
    let changed = feed(
        file.cmd(&["secret", "set", "x", "--project", "analytics"]),
        b"v",
    );
    let changed = changed.wait_with_output().unwrap();
    assert!(
        !changed.status.success(),
        "a change needs a tasks.toml that loads"
    );

    let refused = db.run(&["audit", "verify"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    let said = crate::harness::stderr(&refused);
    assert!(said.contains("unclosed table"), "{}", text(&refused));
    assert!(
        !said.contains("reading the state dir's own files"),
        "{}",
        text(&refused)
    );
}
