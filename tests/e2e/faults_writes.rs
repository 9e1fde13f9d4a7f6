//! Fault injection (see `faults.rs`) into `secret set`, `rotate`, `rm` and
//! `accept-restore --yes`: exit status and audit log tell the truth about
//! the change, and the next command works.

use std::process::Output;

use crate::faults::*;
use crate::harness::*;

/// The names `secret list` shows.
fn listed(world: &World, context: &str) -> String {
    let out = world.run(&["secret", "list"]);
    assert!(out.status.success(), "{context}: list:\n{}", text(&out));
    stdout(&out)
}

/// One write command under every fault; `check` sees the world afterwards
/// and whether the store changed.
fn write_under_faults(test: &str, args: &[&str], input: &[u8], check: impl Fn(&World, bool, &str)) {
    if !strace_or_skip(test) {
        return;
    }
    let template = vault_world();
    let runs = every_fault(
        &template,
        args,
        input,
        &[Fault::Eio, Fault::Kill],
        |world: &World, out: &Output, fault, context: &str| {
            assert_truthful(world, out, fault, 2, context);
            let changed = file_generation(world) > 2;
            check(world, changed, context);
        },
    );
    assert!(runs >= 10, "only {runs} faulted runs");
}

#[test]
fn secret_set_under_faults_tells_the_truth() {
    let args = ["secret", "set", "gamma", "--project", "vault"];
    write_under_faults(
        "set faults",
        &args,
        b"gamma-value\n",
        |world, changed, c| {
            assert_eq!(listed(world, c).contains("gamma"), changed, "{c}");
        },
    );
}

#[test]
fn secret_rotate_under_faults_tells_the_truth() {
    let template = vault_world();
    let old = resolve_both(&template, "template");
    let args = ["secret", "rotate", "alpha"];
    write_under_faults("rotate faults", &args, b"alpha-2\n", |world, changed, c| {
        let now = resolve_both(world, c);
        assert_eq!(now[1], old[1], "{c}: beta changed");
        assert_eq!(now[0] != old[0], changed, "{c}: alpha vs generation");
    });
}

#[test]
fn secret_rm_under_faults_tells_the_truth() {
    let args = ["secret", "rm", "beta", "--force"];
    write_under_faults("rm faults", &args, b"", |world, changed, c| {
        assert_eq!(!listed(world, c).contains("beta"), changed, "{c}");
    });
}

/// A vault world whose store file was put back to its generation-1 copy
/// after one more write (generation 2 recorded).
fn restored_vault() -> World {
    let world = World::with_policy(FAULT_POLICY);
    world.set_secret("vault", "alpha", "alpha-value");
    let backup = std::fs::read(world.home().join("secrets.json")).unwrap();
    world.set_secret("vault", "beta", "beta-value");
    std::fs::write(world.home().join("secrets.json"), backup).unwrap();
    world
}

#[test]
fn accept_restore_under_faults_never_restamps_unrecorded() {
    if !strace_or_skip("accept-restore faults") {
        return;
    }
    let template = restored_vault();
    let args = ["accept-restore", "--yes"];
    let faults = [Fault::Eio, Fault::Kill];
    every_fault(&template, &args, b"", &faults, |world, out, fault, c| {
        assert!(!stderr(out).contains("panicked"), "{c}: {}", text(out));
        let restamped = file_generation(world) > 1;
        let restores = records_lenient(world)
            .iter()
            .filter(|r| r["kind"] == "store.restore")
            .count();
        assert!(!restamped || restores == 1, "{c}: re-stamped, unrecorded");
        if out.status.success() {
            assert_eq!(recorded_generation(world), file_generation(world), "{c}");
        } else if fault == Fault::Eio && restamped {
            let said = stderr(out);
            let truthful = said.contains("in effect") || said.contains("audit record failed");
            assert!(truthful, "{c}: {}", text(out));
        }
        // The next command works, or the restore is still refused and
        // accepting it again works.
        if !world.run(&["secret", "list"]).status.success() {
            let again = world.run(&["accept-restore", "--yes"]);
            assert!(again.status.success(), "{c}: {}", text(&again));
        }
        assert!(listed(world, c).contains("alpha"), "{c}");
        let verify = world.run(&["audit", "verify"]);
        assert!(
            !stdout(&verify).contains("INVALID"),
            "{c}: {}",
            text(&verify)
        );
    });
}
