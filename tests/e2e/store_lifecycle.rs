//! The secret lifecycle against the real binary: rotate, rm, rekey (both
//! kinds, key file and passphrase), binary values, and a canary that is
//! absent from every file and every output throughout.

use std::path::Path;
use std::process::Output;

use crate::harness::*;
use crate::store_custody::PASS;

/// `runner exec probe -- get:posthog-read` as support-analysis, with `env`.
fn probe_get(world: &World, env: &[(&str, &str)]) -> Output {
    let mut cmd = world.exec_cmd("probe", "support-analysis", &["get:posthog-read"]);
    cmd.envs(env.iter().copied()).output().unwrap()
}

/// `get:posthog-read` through the probe: the blake3 line it printed.
fn resolved_hash(world: &World, env: &[(&str, &str)]) -> String {
    let out = probe_get(world, env);
    assert!(out.status.success(), "{}", text(&out));
    let line = stdout(&out)
        .lines()
        .find(|l| l.contains("granted"))
        .map(str::to_owned);
    line.unwrap_or_else(|| panic!("not granted:\n{}", text(&out)))
}

/// Every file in the state dir and every output so far lack the canary.
fn assert_canary_absent(world: &World, canary: &str, outputs: &[Output]) {
    let hex: String = canary.bytes().map(|b| format!("{b:02x}")).collect();
    for (path, bytes) in world.state_bytes() {
        for needle in [canary, hex.as_str()] {
            assert!(
                !contains(&bytes, needle),
                "canary found in {}",
                path.display()
            );
        }
    }
    for out in outputs {
        assert!(
            !contains(&out.stdout, canary) && !contains(&out.stderr, canary),
            "canary in output"
        );
    }
}

#[test]
fn rotate_rm_and_rekey_keep_custody() {
    let world = World::new();
    let (first, second) = (canary(), canary());
    let mut outputs = vec![run_with_input(
        &world,
        &["secret", "set", "posthog-read", "--project", "analytics"],
        format!("{first}\n").as_bytes(),
    )];
    assert!(outputs[0].status.success());
    assert_canary_absent(&world, &first, &outputs);
    let v1 = resolved_hash(&world, &[]);
    outputs.push(run_with_input(
        &world,
        &["secret", "rotate", "posthog-read"],
        format!("{second}\n").as_bytes(),
    ));
    assert!(outputs[1].status.success(), "{}", text(&outputs[1]));
    let v2 = resolved_hash(&world, &[]);
    assert_ne!(v1, v2);
    let versions: Vec<u64> = world
        .records_of("secret.resolve")
        .iter()
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    assert_canary_absent(&world, &first, &outputs);

    let old_key = std::fs::read(world.home().join("key")).unwrap();
    outputs.push(world.ok(&["rekey"]));
    assert_eq!(resolved_hash(&world, &[]), v2, "same value after rekey");
    let second_key = std::fs::read(world.home().join("key")).unwrap();
    assert_ne!(old_key, second_key);
    outputs.push(world.ok(&["rekey", "--data-key"]));
    assert_eq!(
        resolved_hash(&world, &[]),
        v2,
        "same value after rekey --data-key"
    );
    for stale in [&old_key, &second_key] {
        let current = std::fs::read(world.home().join("key")).unwrap();
        std::fs::write(world.home().join("key"), stale).unwrap();
        let out = world.run(&["secret", "list"]);
        assert!(
            !out.status.success(),
            "an old key file still opens the store"
        );
        assert!(stderr(&out).contains("wrong key"), "{}", text(&out));
        std::fs::write(world.home().join("key"), current).unwrap();
    }
    let to_pass = [("SCOPEHOLD_NEW_PASSPHRASE", PASS)];
    outputs.push(run_env(
        &world,
        &["rekey", "--passphrase", "--data-key"],
        &to_pass,
    ));
    assert!(
        outputs.last().unwrap().status.success(),
        "{}",
        text(outputs.last().unwrap())
    );
    assert!(!world.home().join("key").exists());
    assert_eq!(resolved_hash(&world, &[("SCOPEHOLD_PASSPHRASE", PASS)]), v2);
    let list = run_env(
        &world,
        &["secret", "list"],
        &[("SCOPEHOLD_PASSPHRASE", PASS)],
    );
    assert!(stdout(&list).contains("LAST RESOLVED"), "{}", text(&list));
    let row: Vec<String> = stdout(&list)
        .lines()
        .find(|l| l.contains("posthog-read"))
        .expect("listed")
        .split("  ")
        .filter(|cell| !cell.is_empty())
        .map(|cell| cell.trim().to_owned())
        .collect();
    // PROJECT NAME VERSION CREATED ROTATED LAST-RESOLVED: version 2, rotated
    // and resolved times present, created from the log's secret.set; each
    // time with the relative one beside it.
    assert_eq!(row.len(), 6, "{}", text(&list));
    assert_eq!(row[2], "2");
    for cell in &row[3..] {
        assert!(cell.ends_with("(just now)"), "{}", text(&list));
        assert!(cell[..20].ends_with('Z'), "{}", text(&list));
    }
    assert!(row[3] <= row[4] && row[4] <= row[5], "{}", text(&list));
    outputs.push(list);
    assert_canary_absent(&world, &second, &outputs);

    outputs.push(run_env(
        &world,
        &["secret", "rm", "posthog-read", "--force"],
        &[("SCOPEHOLD_PASSPHRASE", PASS)],
    ));
    assert!(outputs.last().unwrap().status.success());
    let denied = probe_get(&world, &[("SCOPEHOLD_PASSPHRASE", PASS)]);
    assert!(
        stdout(&denied).contains("get posthog-read: Denied"),
        "{}",
        text(&denied)
    );
    outputs.push(denied);
    assert_canary_absent(&world, &first, &outputs);
    assert_canary_absent(&world, &second, &outputs);
    let generations: Vec<u64> = world
        .records_of("store.write")
        .iter()
        .map(|r| r["generation"].as_u64().unwrap())
        .collect();
    assert_eq!(generations, [1, 2, 3, 4, 5, 6], "every write audited");
}

#[test]
fn binary_value_is_kept_intact_and_unavailable_to_get_secret() {
    let world = World::new();
    let binary: Vec<u8> = vec![0xff, 0xfe, 0x00, 0x80, 0xc3, b'x'];
    let out = run_with_input(
        &world,
        &[
            "secret",
            "set",
            "posthog-read",
            "--project",
            "analytics",
            "--binary",
        ],
        &binary,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    assert!(
        stdout(&out).to_lowercase().contains("unavailable"),
        "{}",
        text(&out)
    );
    let deny = &world.records_of("secret.deny")[0];
    assert_eq!(deny["reason"], "not-text");
    let rotated: Vec<u8> = (0..=255u8).rev().collect();
    let out = run_with_input(
        &world,
        &["secret", "rotate", "posthog-read", "--binary"],
        &rotated,
    );
    assert!(out.status.success(), "{}", text(&out));
    check_value(&world.home(), &rotated);
}

fn check_value(home: &Path, expected: &[u8]) {
    let store = scopehold_core::store::Store::open(home).unwrap();
    let (info, got) = store
        .decrypt(
            &"analytics".parse().unwrap(),
            &"posthog-read".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(info.version, 2);
    assert!(
        secrecy::ExposeSecret::expose_secret(&got) == expected,
        "value changed"
    );
}
