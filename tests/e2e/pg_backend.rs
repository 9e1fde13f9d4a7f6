//! The PostgreSQL backend end to end: `init` creates or joins, hosts share
//! one store and one chain, 4 hosts × 8 concurrent runs make one intact
//! chain with no fork and no gap, a rotation on one host is resolved at the
//! new version on all (docs/postgres.md).

use std::process::Stdio;

use crate::harness::{canary, contains, stderr, stdout, text};
use crate::pg_cluster::{PgCluster, URL_PASSWORD};
use crate::pg_hosts::{PgHost, digest};

#[test]
fn init_creates_once_and_a_second_host_joins_with_the_key_file() {
    let Some(pg) = PgCluster::start() else { return };
    let a = PgHost::new(&pg, "host-a");
    let created = a.ok(&["init"]);
    assert!(stdout(&created).contains("created"), "{}", text(&created));
    // The state dir holds the key only: store and log are in the database.
    assert_eq!(a.state_files(), ["key"]);
    let value = canary();
    a.set_secret("posthog-read", &value);

    let b = PgHost::new(&pg, "host-b");
    // Without the key a host cannot join, and is told how to get it.
    let keyless = b.run(&["init"]);
    assert!(!keyless.status.success(), "{}", text(&keyless));
    assert!(
        stderr(&keyless).contains("no key file"),
        "{}",
        text(&keyless)
    );
    assert!(
        stderr(&keyless).contains("hint: copy the key file"),
        "{}",
        text(&keyless)
    );
    assert!(b.state_files().is_empty(), "{:?}", b.state_files());
    std::fs::remove_dir(b.home()).unwrap();
    b.copy_key_from(&a);
    let joined = b.ok(&["init"]);
    assert!(stdout(&joined).contains("joined"), "{}", text(&joined));
    assert_eq!(pg.psql("SELECT count(*) FROM store_document"), "1");
    let inits = "SELECT count(*) FROM audit_record WHERE kind = 'log.init'";
    assert_eq!(pg.psql(inits), "1", "a join never re-creates");
    let listed = b.ok(&["secret", "list"]);
    assert!(
        stdout(&listed).contains("posthog-read"),
        "{}",
        text(&listed)
    );
    let run = b.exec_cmd("probe", &["get:posthog-read"]).output().unwrap();
    assert!(stdout(&run).contains(&digest(&value)), "{}", text(&run));
    // Values never reach the database: only ciphertexts are stored.
    let leaked = format!("SELECT count(*) FROM store_document WHERE document LIKE '%{value}%'");
    assert_eq!(pg.psql(&leaked), "0");
    let in_log = format!("SELECT count(*) FROM audit_record WHERE line LIKE '%{value}%'");
    assert_eq!(pg.psql(&in_log), "0");
}

#[test]
fn a_host_with_another_key_cannot_join_and_changes_nothing() {
    let Some(pg) = PgCluster::start() else { return };
    let a = PgHost::first(&pg, "host-a");
    a.set_secret("posthog-read", &canary());
    let before = pg.psql("SELECT generation, md5(document) FROM store_document");
    let records = pg.psql("SELECT count(*) FROM audit_record");
    let stranger = PgHost::new(&pg, "host-x");
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    stranger.write_key(&key);
    let stranger = stranger.run(&["init"]);
    assert!(!stranger.status.success(), "{}", text(&stranger));
    assert!(contains(&stranger.stderr, "hint:"), "{}", text(&stranger));
    assert_eq!(
        pg.psql("SELECT generation, md5(document) FROM store_document"),
        before
    );
    assert_eq!(pg.psql("SELECT count(*) FROM audit_record"), records);
}

#[test]
fn four_hosts_thirty_two_concurrent_runs_make_one_chain() {
    let Some(pg) = PgCluster::start() else { return };
    let a = PgHost::first(&pg, "host-a");
    let value = canary();
    a.set_secret("posthog-read", &value);
    let mut hosts = vec![a];
    for i in 1..4 {
        hosts.push(PgHost::joining(&pg, &format!("host-{i}"), &hosts[0]));
    }
    let children: Vec<_> = hosts
        .iter()
        .flat_map(|host| (0..8).map(move |_| host))
        .map(|host| {
            let mut cmd = host.exec_cmd("probe", &["get:posthog-read"]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        assert!(stdout(&out).contains(&digest(&value)), "{}", text(&out));
    }
    // One chain: seqs 0..n-1, each once, one log id.
    let shape = "SELECT count(*), count(DISTINCT seq), min(seq), max(seq), count(DISTINCT log) \
                 FROM audit_record";
    let [count, distinct, min, max, logs]: [u64; 5] = pg
        .psql(shape)
        .split('|')
        .map(|n| n.parse().unwrap())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    assert_eq!(
        (count, distinct, min, max + 1, logs),
        (count, count, 0, count, 1)
    );
    let per_host = "SELECT host, count(*) FROM audit_record WHERE kind = 'secret.resolve' \
                    GROUP BY host ORDER BY host";
    assert_eq!(
        pg.psql(per_host),
        "host-1|8\nhost-2|8\nhost-3|8\nhost-a|8",
        "every run's resolution is recorded, naming its host"
    );
    for host in &hosts {
        let (code, report) = host.verify();
        assert_eq!(code, 0, "{report}");
        assert_eq!(report["verdict"], "intact", "{report}");
        assert_eq!(report["records_valid"], count, "{report}");
    }

    // A rotation on one host is what every host resolves next.
    let rotated = canary();
    hosts[2].rotate("posthog-read", &rotated);
    for host in &hosts {
        let out = host
            .exec_cmd("probe", &["get:posthog-read"])
            .output()
            .unwrap();
        assert!(stdout(&out).contains(&digest(&rotated)), "{}", text(&out));
    }
    let versions = "SELECT line::json->>'version' FROM audit_record \
                    WHERE kind = 'secret.resolve' ORDER BY seq DESC LIMIT 4";
    assert_eq!(pg.psql(versions), "2\n2\n2\n2");
}

#[test]
fn the_url_password_never_shows() {
    let Some(pg) = PgCluster::start() else { return };
    let a = PgHost::first(&pg, "host-a");
    a.set_secret("posthog-read", &canary());
    let outputs = [
        a.run(&["secret", "list"]),
        a.run(&["audit", "verify"]),
        a.exec_cmd("probe", &["get:posthog-read"]).output().unwrap(),
    ];
    pg.stop();
    let failed = [
        a.run(&["secret", "list"]),
        a.exec_cmd("probe", &["get:posthog-read"]).output().unwrap(),
        a.cmd(&["audit", "verify"])
            .env("RUST_LOG", "trace")
            .output()
            .unwrap(),
    ];
    for out in failed.iter() {
        assert!(!out.status.success(), "{}", text(out));
        assert!(contains(&out.stderr, "database"), "{}", text(out));
    }
    for out in outputs.iter().chain(&failed) {
        let all = [&out.stdout[..], &out.stderr[..]].concat();
        assert!(!contains(&all, URL_PASSWORD), "{}", text(out));
    }
    pg.resume();
    let stored = format!("SELECT count(*) FROM audit_record WHERE line LIKE '%{URL_PASSWORD}%'");
    assert_eq!(pg.psql(&stored), "0");
}

#[test]
fn the_url_flag_selects_the_database_and_its_password_never_shows() {
    let Some(pg) = PgCluster::start() else { return };
    let a = PgHost::first(&pg, "host-a");
    a.set_secret("posthog-read", &canary());
    let url = pg.url();
    let flagged = |args: &[&str]| {
        let mut cmd = a.cmd(args);
        cmd.env_remove("SCOPEHOLD_DATABASE_URL")
            .args(["--database-url", &url]);
        cmd.output().unwrap()
    };
    let listed = flagged(&["secret", "list"]);
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(
        stdout(&listed).contains("posthog-read"),
        "{}",
        text(&listed)
    );
    // Without a URL the database is not guessed at, and files are not used.
    let mut bare = a.cmd(&["secret", "list"]);
    let missing = bare.env_remove("SCOPEHOLD_DATABASE_URL").output().unwrap();
    assert!(!missing.status.success(), "{}", text(&missing));
    assert!(
        stderr(&missing).contains("SCOPEHOLD_DATABASE_URL"),
        "{}",
        text(&missing)
    );
    // A malformed URL and an unreachable database: errors, never the password.
    let mut malformed = a.cmd(&["secret", "list"]);
    let bad_url = format!("postgresql://test:{URL_PASSWORD}@localhost:notaport/db");
    let malformed = malformed
        .args(["--database-url", &bad_url])
        .output()
        .unwrap();
    assert!(!malformed.status.success(), "{}", text(&malformed));
    pg.stop();
    let down = flagged(&["audit", "verify"]);
    assert!(!down.status.success(), "{}", text(&down));
    assert!(contains(&down.stderr, "database"), "{}", text(&down));
    for out in [&listed, &missing, &malformed, &down] {
        let all = [&out.stdout[..], &out.stderr[..]].concat();
        assert!(!contains(&all, URL_PASSWORD), "{}", text(out));
    }
}
