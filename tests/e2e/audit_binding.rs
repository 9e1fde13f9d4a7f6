//! The audit log bound to its store, against a state-dir writer without the
//! key (T3): a forged well-chained record, a store swapped in from another
//! state dir, a truncated or rewritten log followed by ordinary runs. None
//! releases a value the operator did not store, and none verifies INTACT.

use std::fs;

use scopehold_core::audit::{Event, Record, read_records};

use crate::harness::*;

/// The blake3 the probe prints for a released `value`.
fn released(out: &std::process::Output, value: &str) -> bool {
    let digest = blake3::hash(value.as_bytes()).to_hex().to_string();
    stdout(out).contains(&digest)
}

fn get(world: &World) -> std::process::Output {
    world.exec("probe", "support-analysis", &["get:posthog-read"])
}

fn verify(world: &World) -> (Option<i32>, String) {
    let out = world.run(&["audit", "verify"]);
    (out.status.code(), stdout(&out))
}

/// What someone who can write the file but holds no key can append: the
/// next record, chained with the public hash, no MAC.
fn append_forged(world: &World, event: Event) {
    let path = world.audit_path();
    let last = read_records(&path).unwrap().pop().unwrap();
    let forged = Record::seal(last.log, last.seq + 1, last.ts, last.hash, event).unwrap();
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(&forged.to_line().unwrap());
    text.push('\n');
    fs::write(&path, text).unwrap();
}

/// Rewrites the log without the records `drop` selects, re-chained with
/// the public hash (MACs cannot be recomputed without the key; kept as
/// they were, they no longer match).
fn rechain_without(world: &World, drop: impl Fn(&Record) -> bool) {
    let path = world.audit_path();
    let mut out: Vec<Record> = Vec::new();
    for record in read_records(&path).unwrap() {
        if drop(&record) {
            continue;
        }
        let (seq, prev) = match out.last() {
            Some(last) => (last.seq + 1, last.hash),
            None => (0, record.prev),
        };
        let mut sealed = Record::seal(record.log, seq, record.ts, prev, record.event).unwrap();
        sealed.mac = record.mac;
        out.push(sealed);
    }
    let text: String = out.iter().map(|r| r.to_line().unwrap() + "\n").collect();
    fs::write(&path, text).unwrap();
}

#[test]
fn an_old_store_put_back_with_one_forged_store_write_releases_nothing() {
    let world = World::new();
    let (old, new) = (canary(), canary());
    world.set_secret("analytics", "posthog-read", &old);
    let old_store = fs::read(world.home().join("secrets.json")).unwrap();
    let old_generation = read_records(&world.audit_path())
        .unwrap()
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            Event::StoreWrite { store, generation } => Some((store.clone(), *generation)),
            _ => None,
        })
        .unwrap();
    let rotate = run_with_input(
        &world,
        &["secret", "rotate", "posthog-read"],
        format!("{new}\n").as_bytes(),
    );
    assert!(rotate.status.success(), "{}", text(&rotate));
    assert!(released(&get(&world), &new));

    fs::write(world.home().join("secrets.json"), &old_store).unwrap();
    let (store, generation) = old_generation;
    append_forged(&world, Event::StoreWrite { store, generation });

    let out = get(&world);
    assert!(!released(&out, &old), "{}", text(&out));
    assert!(!released(&out, &new), "{}", text(&out));
    assert!(
        stderr(&out).contains("rolled back") || stderr(&out).contains("older"),
        "{}",
        text(&out)
    );
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("result: INVALID: FORGED"), "{shown}");
    assert!(
        shown.contains("store.write record without a MAC"),
        "{shown}"
    );
}

#[test]
fn a_forged_resolution_is_reported_and_never_anchored() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    assert!(get(&world).status.success());
    let last = read_records(&world.audit_path()).unwrap().pop().unwrap();
    let Event::ExecEnd {
        run,
        agent,
        project,
        ..
    } = last.event
    else {
        panic!("the run ends with exec.end: {last:?}");
    };
    let secret = scopehold_core::names::SecretName::new("posthog-read").unwrap();
    let resolve = Event::SecretResolve {
        run,
        agent,
        project,
        secret,
        version: 1,
    };
    append_forged(&world, resolve);
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("forged record"), "{shown}");
    assert!(!shown.contains("INTACT"), "{shown}");
}

#[test]
fn records_without_a_mac_at_the_end_are_counted_as_unauthenticated() {
    // A run of an agent that holds nothing (no grants, no pin) never opens
    // the store: its records are chained but carry no MAC, and verify says
    // so instead of "anchored". (An agent with grants opens the store to
    // check cached code, docs/cache.md, so its records carry MACs.)
    let world = World::with_policy(&format!(
        "{POLICY}\n[agents.bare]\nproject = \"analytics\"\n"
    ));
    let out = world.exec("hello", "bare", &[]);
    assert!(out.status.success(), "{}", text(&out));
    // policy.change (the first sight of tasks.toml), exec.start, exec.end.
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("the last 3 record(s) are NOT authenticated"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "result: INTACT (anchored up to seq 0; the last 3 record(s) unauthenticated)"
        ),
        "{shown}"
    );
}

#[test]
fn a_store_from_another_state_dir_is_refused_naming_both_ids() {
    let (ours, theirs) = (World::new(), World::new());
    let (mine, foreign) = (canary(), canary());
    ours.set_secret("analytics", "posthog-read", &mine);
    theirs.set_secret("analytics", "posthog-read", &foreign);
    assert!(released(&get(&ours), &mine));
    let id = |world: &World| {
        let text = fs::read_to_string(world.home().join("secrets.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["store_id"].as_str().unwrap().to_owned()
    };
    let (our_id, their_id) = (id(&ours), id(&theirs));
    for file in ["key", "secrets.json"] {
        fs::copy(theirs.home().join(file), ours.home().join(file)).unwrap();
    }
    for _ in 0..2 {
        let out = get(&ours);
        assert!(!released(&out, &foreign), "{}", text(&out));
        assert!(!released(&out, &mine), "{}", text(&out));
        let err = stderr(&out);
        assert!(err.contains(&our_id) && err.contains(&their_id), "{err}");
    }
    let (code, shown) = verify(&ours);
    assert_ne!(code, Some(0), "{shown}");
    assert!(!shown.contains("INTACT"), "{shown}");
    // The checkpoint is still the one our store's key made.
    for _ in 0..2 {
        let set = run_with_input(
            &ours,
            &["secret", "set", "x", "--project", "analytics"],
            b"v\n",
        );
        assert!(!set.status.success(), "{}", text(&set));
    }
    assert!(!verify(&ours).1.contains("INTACT"));
}

#[test]
fn a_truncated_log_stays_truncated_after_ordinary_runs() {
    let world = World::new();
    let value = canary();
    world.set_secret("analytics", "posthog-read", &value);
    for _ in 0..3 {
        assert!(released(&get(&world), &value));
    }
    // `head -n -5 audit.jsonl`
    let text_before = fs::read_to_string(world.audit_path()).unwrap();
    let lines: Vec<&str> = text_before.lines().collect();
    fs::write(
        world.audit_path(),
        lines[..lines.len() - 5].join("\n") + "\n",
    )
    .unwrap();
    for _ in 0..2 {
        let out = get(&world);
        assert_eq!(out.status.code(), Some(118), "{}", text(&out));
        assert!(!released(&out, &value), "{}", text(&out));
        assert!(
            stderr(&out).contains("runner audit verify"),
            "{}",
            text(&out)
        );
    }
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("result: INVALID: TRUNCATED"), "{shown}");
}

#[test]
fn store_changes_on_a_truncated_log_are_refused_before_they_are_made() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    world.set_secret("analytics", "other", "x");
    let text_before = fs::read_to_string(world.audit_path()).unwrap();
    let lines: Vec<&str> = text_before.lines().collect();
    fs::write(
        world.audit_path(),
        lines[..lines.len() - 2].join("\n") + "\n",
    )
    .unwrap();
    let store_before = fs::read(world.home().join("secrets.json")).unwrap();
    let attempts: [(&[&str], &[u8]); 4] = [
        (&["secret", "set", "new", "--project", "analytics"], b"v"),
        (&["secret", "rotate", "posthog-read"], b"v2"),
        (&["secret", "rm", "other"], b""),
        (&["rekey"], b""),
    ];
    for (args, input) in attempts {
        let out = run_with_input(&world, args, input);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert!(
            stderr(&out).contains("refusing to change the store"),
            "{args:?}: {}",
            text(&out)
        );
        let store_now = fs::read(world.home().join("secrets.json")).unwrap();
        assert!(store_now == store_before, "{args:?} changed the store");
    }
    assert!(!world.home().join("key.next").exists());
}

#[test]
fn a_rewrite_without_one_secrets_resolutions_never_verifies_intact() {
    let world = World::new();
    let (value, other) = (canary(), canary());
    world.set_secret("analytics", "posthog-read", &value);
    world.set_secret("analytics", "never-stored", &other);
    for _ in 0..2 {
        let out = world.exec(
            "probe",
            "support-analysis",
            &["get:posthog-read", "get:never-stored"],
        );
        assert!(
            released(&out, &value) && released(&out, &other),
            "{}",
            text(&out)
        );
    }
    rechain_without(
        &world,
        |r| matches!(&r.event, Event::SecretResolve { secret, .. } if secret.as_str() == "never-stored"),
    );
    for _ in 0..2 {
        let out = get(&world);
        assert_eq!(out.status.code(), Some(118), "{}", text(&out));
        assert!(!released(&out, &value), "{}", text(&out));
    }
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(1), "{shown}");
    assert!(!shown.contains("INTACT"), "{shown}");
    // Even with the MACs stripped and the checkpoint deleted, nothing
    // re-anchors it: the runs refuse and verify does not say INTACT.
    rechain_without(&world, |_| false);
    let stripped: String = read_records(&world.audit_path())
        .unwrap()
        .into_iter()
        .map(|mut r| {
            r.mac = None;
            r.to_line().unwrap() + "\n"
        })
        .collect();
    fs::write(world.audit_path(), stripped).unwrap();
    fs::remove_file(world.home().join("audit.checkpoint")).unwrap();
    let out = get(&world);
    assert!(!released(&out, &value), "{}", text(&out));
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("result: INVALID: FORGED"), "{shown}");
}
