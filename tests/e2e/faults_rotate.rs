//! Fault injection (see `faults.rs`) into `runner audit rotate`: an I/O
//! error or a kill at every state-changing call never makes the log verify
//! as tampered, and the next run finishes the rotation (or keeps the log as
//! it was), resolves its secrets, and leaves a log that verifies intact.

use std::process::Output;

use crate::faults::*;
use crate::harness::*;

/// What `audit verify` says of `world`'s log: exit code and stdout.
fn verdict(world: &World) -> (Option<i32>, String) {
    let out = world.run(&["audit", "verify"]);
    (out.status.code(), stdout(&out))
}

fn check_after_rotate(world: &World, out: &Output, context: &str) {
    assert!(
        !stderr(out).contains("panicked"),
        "{context}: panic\n{}",
        text(out)
    );
    let (code, shown) = verdict(world);
    // Right after the fault: intact, or an interrupted rotation / torn
    // line (exit 3), never INVALID.
    assert!(
        matches!(code, Some(0) | Some(3)) && !shown.contains("INVALID"),
        "{context}: verify after the fault:\n{shown}"
    );
    // The next run completes whatever was interrupted and resolves both.
    resolve_both(world, context);
    let (code, shown) = verdict(world);
    assert_eq!(code, Some(0), "{context}: verify after a run:\n{shown}");
    let sealed = std::fs::read_dir(world.home())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("audit.") && name.ends_with(".jsonl") && name != "audit.jsonl"
        })
        .count();
    assert!(sealed <= 1, "{context}: {sealed} sealed segments");
}

#[test]
fn audit_rotate_under_faults_never_reads_as_tampering() {
    if !strace_or_skip("audit rotate faults") {
        return;
    }
    let template = vault_world();
    resolve_both(&template, "template");
    let runs = every_fault(
        &template,
        &["audit", "rotate"],
        b"",
        &[Fault::Eio, Fault::Kill],
        |world: &World, out: &Output, _fault, context: &str| {
            check_after_rotate(world, out, context);
        },
    );
    assert!(runs >= 10, "only {runs} faulted runs");
}
