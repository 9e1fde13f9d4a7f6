//! The store document in PostgreSQL under concurrent writers, rollback and
//! rekey: no update is lost when hosts write at once, an older document put
//! back with SQL is refused as a rolled-back store file is, and a rekey on
//! one host is what every host needs next (docs/postgres.md).

use std::process::Stdio;

use crate::harness::{canary, contains, feed, stderr, stdout, text};
use crate::pg_cluster::PgCluster;
use crate::pg_hosts::{PgHost, digest};

#[test]
fn concurrent_sets_on_two_hosts_lose_no_update() {
    let Some(pg) = PgCluster::start() else { return };
    let a = PgHost::first(&pg, "host-a");
    let b = PgHost::joining(&pg, "host-b", &a);
    let hosts = [&a, &b];
    let children: Vec<_> = (0..8)
        .map(|i| {
            let name = format!("s{i}");
            let args = ["secret", "set", &name, "--project", "analytics", "--force"];
            let mut cmd = hosts[i % 2].cmd(&args);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            feed(cmd, format!("{}\n", canary()).as_bytes())
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let listed = b.ok(&["secret", "list"]);
    for i in 0..8 {
        assert!(
            stdout(&listed).contains(&format!("s{i}")),
            "{}",
            text(&listed)
        );
    }
    assert_eq!(pg.psql("SELECT generation FROM store_document"), "8");
    let writes = "SELECT count(*) FROM audit_record WHERE kind = 'store.write'";
    assert_eq!(pg.psql(writes), "8", "one store.write per committed change");
    let (code, report) = a.verify();
    assert_eq!(code, 0, "{report}");
}

#[test]
fn an_older_document_put_back_with_sql_is_refused_as_a_rollback() {
    let Some(pg) = PgCluster::start() else { return };
    let host = PgHost::first(&pg, "host-a");
    host.set_secret("posthog-read", &canary());
    pg.psql("CREATE TABLE old AS SELECT * FROM store_document");
    host.rotate("posthog-read", &canary());
    let put_back = "UPDATE store_document SET generation = old.generation, \
                    document = old.document FROM old";
    pg.psql(put_back);
    let run = host
        .exec_cmd("probe", &["get:posthog-read"])
        .output()
        .unwrap();
    assert!(!run.status.success(), "{}", text(&run));
    assert!(!contains(&run.stdout, "granted"), "{}", text(&run));
    assert!(stderr(&run).contains("rolled back"), "{}", text(&run));
    let set = feed(
        host.cmd(&[
            "secret",
            "set",
            "other",
            "--project",
            "analytics",
            "--force",
        ]),
        b"v\n",
    )
    .wait_with_output()
    .unwrap();
    assert!(!set.status.success(), "{}", text(&set));
    assert!(stderr(&set).contains("rolled back"), "{}", text(&set));
    // A document whose generation alone was raised fails its MAC.
    pg.psql("UPDATE store_document SET generation = 99");
    let listed = host.run(&["secret", "list"]);
    assert!(!listed.status.success(), "{}", text(&listed));
}

#[test]
fn a_rekey_on_one_host_needs_the_new_key_on_the_others() {
    let Some(pg) = PgCluster::start() else { return };
    let a = PgHost::first(&pg, "host-a");
    let b = PgHost::joining(&pg, "host-b", &a);
    let value = canary();
    a.set_secret("posthog-read", &value);
    let old_key = std::fs::read(a.home().join("key")).unwrap();
    a.ok(&["rekey", "--data-key"]);
    let new_key = std::fs::read(a.home().join("key")).unwrap();
    assert_ne!(old_key, new_key);
    assert!(
        !a.state_files().contains(&"key.next".into()),
        "{:?}",
        a.state_files()
    );
    let resolves = |host: &PgHost| {
        let out = host
            .exec_cmd("probe", &["get:posthog-read"])
            .output()
            .unwrap();
        (
            out.status.success() && stdout(&out).contains(&digest(&value)),
            out,
        )
    };
    assert!(resolves(&a).0, "{}", text(&resolves(&a).1));
    let (ok, out) = resolves(&b);
    assert!(!ok, "the old key still opens the store:\n{}", text(&out));
    assert!(!contains(&out.stdout, "granted"), "{}", text(&out));
    // The operator distributes the new key file.
    std::fs::write(b.home().join("key"), &new_key).unwrap();
    assert!(resolves(&b).0, "{}", text(&resolves(&b).1));
    let (code, report) = b.verify();
    assert_eq!(code, 0, "{report}");
}

#[test]
fn hosts_join_a_passphrase_store_with_the_passphrase_and_hold_no_key() {
    let Some(pg) = PgCluster::start() else { return };
    let pass = "correct horse battery staple";
    let with_pass = |host: &PgHost, pass: &str, args: &[&str]| {
        let mut cmd = host.cmd(args);
        cmd.env("SCOPEHOLD_PASSPHRASE", pass);
        cmd.output().unwrap()
    };
    let a = PgHost::new(&pg, "host-a");
    let created = with_pass(&a, pass, &["init", "--passphrase"]);
    assert!(stdout(&created).contains("created"), "{}", text(&created));
    let value = canary();
    let mut set = a.cmd(&["secret", "set", "posthog-read", "--project", "analytics"]);
    set.env("SCOPEHOLD_PASSPHRASE", pass);
    let set = feed(set, format!("{value}\n").as_bytes())
        .wait_with_output()
        .unwrap();
    assert!(set.status.success(), "{}", text(&set));

    let stranger = PgHost::new(&pg, "host-x");
    let refused = with_pass(
        &stranger,
        "a different passphrase here",
        &["init", "--passphrase"],
    );
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(contains(&refused.stderr, "hint:"), "{}", text(&refused));

    let b = PgHost::new(&pg, "host-b");
    let joined = with_pass(&b, pass, &["init", "--passphrase"]);
    assert!(stdout(&joined).contains("joined"), "{}", text(&joined));
    assert!(b.state_files().is_empty(), "{:?}", b.state_files());
    let mut run = b.exec_cmd("probe", &["get:posthog-read"]);
    let run = run.env("SCOPEHOLD_PASSPHRASE", pass).output().unwrap();
    assert!(stdout(&run).contains(&digest(&value)), "{}", text(&run));
    assert_eq!(pg.psql("SELECT count(*) FROM store_document"), "1");
}
