//! Secret custody against the real binary: tampering, rollback, KDF caps,
//! passphrases, crashes during writes, rotate/rm, rekey, binary values, and a
//! canary that never leaves the store.

use std::time::Duration;

use crate::harness::*;

pub(crate) const PASS: &str = "correct horse battery staple";

fn store_path(world: &World) -> std::path::PathBuf {
    world.home().join("secrets.json")
}

fn store_text(world: &World) -> String {
    std::fs::read_to_string(store_path(world)).unwrap()
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
    let store = scopehold_core::store::Store::open(&world.home()).expect("the store opens");
    let project: scopehold_core::names::ProjectName = "analytics".parse().unwrap();
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
        .filter(|n| n.starts_with(".secrets.json.") && n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "store temp files left after open: {leftovers:?}"
    );
    eprintln!("{} of 200 writes acknowledged", acknowledged.len());
}
