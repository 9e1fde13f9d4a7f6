//! Secret custody against the real binary: tampering, rollback, KDF caps,
//! passphrases, crashes during writes, rotate/rm, rekey, binary values, and a
//! canary that never leaves the store.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use crate::harness::*;

const PASS: &str = "correct horse battery staple";

fn store_path(world: &World) -> std::path::PathBuf {
    world.home().join("secrets.json")
}

fn store_text(world: &World) -> String {
    std::fs::read_to_string(store_path(world)).unwrap()
}

/// Starts `runner ARGS` with `input` on stdin.
fn spawn_with_input(world: &World, args: &[&str], input: &[u8], env: &[(&str, &str)]) -> Child {
    let mut cmd = world.cmd(args);
    cmd.envs(env.iter().copied());
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child may already be dead (killed); a broken pipe is fine then.
    let _ = child.stdin.take().unwrap().write_all(input);
    child
}

fn run_with_input(world: &World, args: &[&str], input: &[u8]) -> Output {
    spawn_with_input(world, args, input, &[])
        .wait_with_output()
        .unwrap()
}

fn run_env(world: &World, args: &[&str], env: &[(&str, &str)]) -> Output {
    world.cmd(args).envs(env.iter().copied()).output().unwrap()
}

/// The `"field": "value"` strings of every entry, in file order.
fn entry_field(text: &str, field: &str) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    let entries = json["entries"].as_array().unwrap();
    entries
        .iter()
        .map(|e| e[field].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts every command that opens the store is refused and the file is
/// exactly `tampered` afterwards.
fn assert_refused(world: &World, tampered: &str, what: &str) {
    std::fs::write(store_path(world), tampered).unwrap();
    let list = world.run(&["secret", "list"]);
    let set = run_with_input(
        world,
        &["secret", "set", "fresh", "--project", "analytics"],
        b"v\n",
    );
    let run = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    for out in [&list, &set, &run] {
        assert!(!out.status.success(), "{what}: accepted\n{}", text(out));
        assert!(stderr(out).contains("error: "), "{what}: {}", text(out));
        assert!(
            stderr(out).contains("secrets.json"),
            "{what}: {}",
            text(out)
        );
    }
    assert_eq!(
        store_text(world),
        tampered,
        "{what}: the store file was changed"
    );
}

#[test]
fn tampered_store_is_refused_and_left_untouched() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    world.set_secret("analytics", "other", &canary());
    let clean = store_text(&world);
    let ciphertexts = entry_field(&clean, "ciphertext");
    let swapped = clean
        .replace(&ciphertexts[0], "SWAP")
        .replace(&ciphertexts[1], &ciphertexts[0])
        .replace("SWAP", &ciphertexts[1]);
    assert_refused(&world, &swapped, "swapped ciphertexts");
    // One entry block is `    {` ... `    }`: cut the first, or add a forged copy.
    let start = clean.find("    {\n").unwrap();
    let end = clean[start..].find("    },\n").unwrap() + start + "    },\n".len();
    let deleted = format!("{}{}", &clean[..start], &clean[end..]);
    assert_refused(&world, &deleted, "deleted entry");
    let forged = clean[start..end].replace("\"other\"", "\"forged\"");
    let appended = format!("{}{forged}{}", &clean[..start], &clean[start..]);
    assert_refused(&world, &appended, "forged entry");
    let mut seed = (clean.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = (seed % clean.len() as u64) as usize;
        let mut bytes = clean.clone().into_bytes();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(bytes).unwrap();
        assert_refused(&world, &changed, &format!("byte {at} changed"));
    }
    std::fs::write(store_path(&world), &clean).unwrap();
    world.ok(&["secret", "list"]);
}

#[test]
fn rolled_back_store_is_refused_naming_both_generations() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    let older = store_text(&world);
    world.set_secret("analytics", "second", &canary());
    let writes = world.records_of("store.write");
    let generations: Vec<u64> = writes
        .iter()
        .map(|r| r["generation"].as_u64().unwrap())
        .collect();
    assert_eq!(generations, [1, 2]);
    std::fs::write(store_path(&world), &older).unwrap();
    for out in [
        world.run(&["secret", "list"]),
        world.exec("probe", "support-analysis", &["get:posthog-read"]),
    ] {
        assert!(!out.status.success(), "{}", text(&out));
        let err = stderr(&out);
        assert!(err.contains("rolled back"), "{err}");
        assert!(
            err.contains("generation 1") && err.contains("generation 2"),
            "{err}"
        );
    }
    assert_eq!(store_text(&world), older);
}

fn passphrase_world() -> World {
    let world = World::with_policy(POLICY);
    // Replace the key-file store `World` made with a passphrase store.
    std::fs::remove_dir_all(world.home()).unwrap();
    let out = run_env(
        &world,
        &["init", "--passphrase"],
        &[("SCOPEHOLD_PASSPHRASE", PASS)],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!world.home().join("key").exists());
    world
}

#[test]
fn wrong_passphrase_and_corrupted_store_give_the_same_message() {
    let world = passphrase_world();
    let env = [("SCOPEHOLD_PASSPHRASE", PASS)];
    let out = spawn_with_input(
        &world,
        &["secret", "set", "k", "--project", "analytics"],
        b"v\n",
        &env,
    )
    .wait_with_output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let wrong = run_env(
        &world,
        &["secret", "list"],
        &[("SCOPEHOLD_PASSPHRASE", "not the one")],
    );
    let clean = store_text(&world);
    let json: serde_json::Value = serde_json::from_str(&clean).unwrap();
    let wrapped = json["wrapped_key"].as_str().unwrap();
    let flipped = format!(
        "{}{}",
        if wrapped.starts_with('0') { "1" } else { "0" },
        &wrapped[1..]
    );
    std::fs::write(store_path(&world), clean.replace(wrapped, &flipped)).unwrap();
    let corrupted = run_env(&world, &["secret", "list"], &env);
    assert!(!wrong.status.success() && !corrupted.status.success());
    assert_eq!(stderr(&wrong), stderr(&corrupted));
    assert!(stderr(&wrong).contains("wrong key"), "{}", text(&wrong));
    assert!(!contains(&wrong.stderr, PASS) && !contains(&wrong.stdout, PASS));
}

#[test]
fn kdf_settings_over_the_cap_are_refused_before_any_work() {
    let world = passphrase_world();
    let clean = store_text(&world);
    let json: serde_json::Value = serde_json::from_str(&clean).unwrap();
    let memory = json["kek"]["memory_kib"].as_u64().unwrap();
    let field = format!("\"memory_kib\": {memory}");
    // 4 TiB of memory: Argon2 would abort or take hours; the cap refuses it.
    let crafted = clean.replace(&field, "\"memory_kib\": 4294967295");
    std::fs::write(store_path(&world), &crafted).unwrap();
    let out = run_env(
        &world,
        &["secret", "list"],
        &[("SCOPEHOLD_PASSPHRASE", PASS)],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("Argon2id memory"), "{}", text(&out));
    assert_eq!(store_text(&world), crafted);
}

#[test]
fn killed_writers_never_lose_an_acknowledged_secret() {
    let world = World::new();
    let mut acknowledged = Vec::new();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d ^ u64::from(std::process::id());
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for batch in 0..50 {
        let mut children = Vec::new();
        for i in 0..4 {
            let name = format!("s{batch}-{i}");
            let value = format!("value-{batch}-{i}");
            let args = ["secret", "set", name.as_str(), "--project", "analytics"];
            let child = spawn_with_input(&world, &args, format!("{value}\n").as_bytes(), &[]);
            children.push((name, value, child, next() % 3 != 0));
        }
        std::thread::sleep(Duration::from_millis(next() % 40));
        for (name, value, mut child, kill) in children {
            if kill {
                let _ = child.kill();
            }
            if child.wait().unwrap().success() {
                acknowledged.push((name, value));
            }
        }
    }
    let listed = world.ok(&["secret", "list"]);
    let store = runner::store::Store::open(&world.home()).expect("the store opens");
    let project: runner::names::ProjectName = "analytics".parse().unwrap();
    for (name, value) in &acknowledged {
        assert!(stdout(&listed).contains(name.as_str()), "{name} lost");
        let (_, got) = store
            .decrypt(&project, &name.parse().unwrap())
            .expect("decrypts");
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&got),
            value.as_bytes(),
            "{name}"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(world.home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left after open: {leftovers:?}"
    );
    eprintln!("{} of 200 writes acknowledged", acknowledged.len());
}

/// `get:posthog-read` through the probe: the blake3 line it printed.
fn resolved_hash(world: &World, env: &[(&str, &str)]) -> String {
    let wasm = guest("probe");
    let args = [
        "exec",
        wasm.to_str().unwrap(),
        "--agent",
        "support-analysis",
        "--",
        "get:posthog-read",
    ];
    let out = run_env(world, &args, env);
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
    outputs.push(list);
    assert_canary_absent(&world, &second, &outputs);

    outputs.push(run_env(
        &world,
        &["secret", "rm", "posthog-read"],
        &[("SCOPEHOLD_PASSPHRASE", PASS)],
    ));
    assert!(outputs.last().unwrap().status.success());
    let wasm = guest("probe");
    let args = [
        "exec",
        wasm.to_str().unwrap(),
        "--agent",
        "support-analysis",
        "--",
        "get:posthog-read",
    ];
    let denied = run_env(&world, &args, &[("SCOPEHOLD_PASSPHRASE", PASS)]);
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
        &["secret", "set", "posthog-read", "--project", "analytics"],
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
    let out = run_with_input(&world, &["secret", "rotate", "posthog-read"], &rotated);
    assert!(out.status.success(), "{}", text(&out));
    check_value(&world.home(), &rotated);
}

fn check_value(home: &Path, expected: &[u8]) {
    let store = runner::store::Store::open(home).unwrap();
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
