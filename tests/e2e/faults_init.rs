//! Fault injection (see `faults.rs`) into `runner init`: a full disk, an
//! I/O error or a kill at every state-changing call leaves a state dir that
//! a second `init` completes or redoes (or one that is initialised and
//! works); a crash is never reported as tampering. And the KDF caps: a
//! header asking for more than `init --passphrase` writes is refused before
//! any key-derivation work.

use std::time::{Duration, Instant};

use crate::faults::*;
use crate::harness::*;
use crate::store_custody::PASS;

/// A world with a tasks.toml and no state dir yet.
fn bare_world() -> World {
    let world = World {
        tmp: tempfile::tempdir().unwrap(),
    };
    std::fs::write(world.config(), FAULT_POLICY).unwrap();
    world
}

/// After a faulted init: `init` again finishes the job (or says the dir is
/// initialised, and then every command works); the store and log work.
fn check_init(world: &World, first: &std::process::Output, context: &str) {
    assert!(
        !stderr(first).contains("panicked"),
        "{context}: {}",
        text(first)
    );
    if world.home().exists() {
        let verify = world.run(&["audit", "verify"]);
        assert!(
            !stdout(&verify).contains("TAMPERED"),
            "{context}: a crash reported as tampering:\n{}",
            text(&verify)
        );
    }
    let again = world.run(&["init"]);
    if !again.status.success() {
        // Only a complete init is refused (the commands below prove it).
        let said = stderr(&again);
        assert!(said.contains("already initialised"), "{context}: {said}");
    }
    world.set_secret("vault", "alpha", "alpha-value");
    world.set_secret("vault", "beta", "beta-value");
    resolve_both(world, context);
    let verify = world.run(&["audit", "verify"]);
    assert!(verify.status.success(), "{context}: {}", text(&verify));
}

#[test]
fn init_under_a_full_disk_an_error_or_a_kill_is_completed_by_init() {
    if !strace_or_skip("init faults") {
        return;
    }
    let template = bare_world();
    let faults = [Fault::Eio, Fault::Enospc, Fault::Kill];
    let runs = every_fault(&template, &["init"], b"", &faults, |world, out, _, c| {
        check_init(world, out, c)
    });
    assert!(runs >= 20, "only {runs} faulted runs");
}

#[test]
fn an_interrupted_init_is_redone_not_called_initialised() {
    // The state a kill between creating the lock and the store leaves:
    // before the fix, init said "already initialised" and every other
    // command "not initialised".
    let world = bare_world();
    std::fs::create_dir(world.home()).unwrap();
    let home = world.home();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::write(home.join("store.lock"), b"").unwrap();
    std::fs::write(home.join("key.next"), [7u8; 32]).unwrap();
    std::fs::write(home.join("audit.jsonl"), b"").unwrap();
    std::fs::set_permissions(
        home.join("audit.jsonl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    // The empty log a crash leaves is not called tampering.
    let verify = world.run(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(3), "{}", text(&verify));
    assert!(
        stdout(&verify).contains("`runner init` was interrupted"),
        "{}",
        text(&verify)
    );
    let out = world.run(&["init"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("completed an interrupted init"));
    assert!(!home.join("key.next").exists());
    world.set_secret("vault", "alpha", "a");
    // A dir with anything else in it is still refused, and kept.
    std::fs::remove_file(home.join("secrets.json")).unwrap();
    let refused = world.run(&["init"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(home.join("key").exists() && home.join("audit.jsonl").exists());
}

#[test]
fn kdf_settings_above_what_init_writes_are_refused_before_any_work() {
    let world = bare_world();
    let init = run_env(
        &world,
        &["init", "--passphrase"],
        &[("SCOPEHOLD_PASSPHRASE", PASS)],
    );
    assert!(init.status.success(), "{}", text(&init));
    let path = world.home().join("secrets.json");
    let clean = std::fs::read_to_string(&path).unwrap();
    // The old caps' maximums (1 GiB, 16 passes, 8 lanes) cost ~30 s and a
    // gigabyte before the integrity check failed; one step over today's.
    for (field, value) in [
        ("memory_kib", "1048576"),
        ("memory_kib", "65537"),
        ("passes", "16"),
        ("passes", "4"),
        ("lanes", "8"),
        ("lanes", "2"),
    ] {
        let json: serde_json::Value = serde_json::from_str(&clean).unwrap();
        let now = &json["kek"][field];
        let edited = clean.replace(
            &format!("\"{field}\": {now}"),
            &format!("\"{field}\": {value}"),
        );
        assert_ne!(edited, clean, "{field}");
        std::fs::write(&path, &edited).unwrap();
        let started = Instant::now();
        // No passphrase given: refused before it would be asked for.
        let out = world.run(&["secret", "list"]);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{field}={value}"
        );
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            stderr(&out).contains("Argon2id"),
            "{field}={value}: {}",
            text(&out)
        );
        assert!(
            !stderr(&out).contains("passphrase was given"),
            "{}",
            text(&out)
        );
    }
    std::fs::write(&path, &clean).unwrap();
    let ok = run_env(
        &world,
        &["secret", "list"],
        &[("SCOPEHOLD_PASSPHRASE", PASS)],
    );
    assert!(ok.status.success(), "{}", text(&ok));
}
