//! Fault injection (see `faults.rs`) into `rekey`, `rekey --data-key` and
//! `rekey --passphrase`: whatever fails, every secret resolves afterwards
//! with the key in place, the next command leaves no half-done rekey
//! behind, and exit status and log tell the truth.

use std::process::Output;

use crate::faults::*;
use crate::harness::*;

/// After a faulted rekey: both secrets resolve with the key in place, no
/// `key.next` is left, and the outcome is reported truthfully.
fn check_rekey(world: &World, out: &Output, fault: Fault, context: &str, expected: &[String]) {
    // First what matters most: no secret lost.
    assert_eq!(resolve_both(world, context), expected, "{context}");
    assert_truthful(world, out, fault, 2, context);
    assert!(
        !world.home().join("key.next").exists(),
        "{context}: key.next left after the next command"
    );
    // The key file now in place is the one the store needs: a further
    // rekey (which reads it) works and the secrets still resolve.
    let again = world.run(&["rekey"]);
    assert!(again.status.success(), "{context}: {}", text(&again));
    assert_eq!(resolve_both(world, context), expected, "{context}");
}

fn rekey_under_faults(args: &[&str], test: &str) {
    if !strace_or_skip(test) {
        return;
    }
    let template = vault_world();
    let expected = resolve_both(&template, "template");
    assert_eq!(file_generation(&template), 2);
    let runs = every_fault(
        &template,
        args,
        b"",
        &[Fault::Eio, Fault::Kill],
        |world, out, fault, context| check_rekey(world, out, fault, context, &expected),
    );
    assert!(runs >= 20, "only {runs} faulted runs");
}

#[test]
fn rekey_under_an_error_or_a_kill_at_every_call_loses_no_secret() {
    rekey_under_faults(&["rekey"], "rekey faults");
}

#[test]
fn data_key_rekey_under_an_error_or_a_kill_at_every_call_loses_no_secret() {
    rekey_under_faults(&["rekey", "--data-key"], "rekey --data-key faults");
}

const NEW_PASS: &str = "a new passphrase for the vault";

#[test]
fn rekey_to_a_passphrase_under_an_error_or_a_kill_at_every_call_loses_no_secret() {
    if !strace_or_skip("rekey --passphrase faults") {
        return;
    }
    let template = vault_world();
    let expected = resolve_both(&template, "template");
    // Both variables: the new passphrase for the rekey, and the passphrase
    // that opens the store if the rekey took effect (ignored otherwise).
    let env = [
        ("SCOPEHOLD_NEW_PASSPHRASE", NEW_PASS),
        ("SCOPEHOLD_PASSPHRASE", NEW_PASS),
    ];
    let runs = every_fault_env(
        &template,
        &["rekey", "--passphrase"],
        &env,
        b"",
        &[Fault::Eio, Fault::Kill],
        |world, out, fault, context| {
            assert_eq!(
                resolve_both_env(world, &env, context),
                expected,
                "{context}"
            );
            assert_truthful(world, out, fault, 2, context);
            assert!(!world.home().join("key.next").exists(), "{context}");
        },
    );
    assert!(runs >= 10, "only {runs} faulted runs");
}
