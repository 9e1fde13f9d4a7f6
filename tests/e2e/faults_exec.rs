//! Fault injection (see `faults.rs`) into `runner exec`: an I/O error or a
//! kill at every state-changing call of a run that resolves two secrets.
//! Whatever fails, no value reaches the task unless its `secret.resolve`
//! record is in the log, the log never verifies as tampered, and the next
//! run resolves both secrets.

use crate::faults::*;
use crate::harness::*;

/// The secrets the probe printed as granted (`get NAME: granted ...`).
fn granted(out: &std::process::Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|line| line.contains(": granted"))
        .filter_map(|line| line.strip_prefix("get ")?.split(':').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn exec_under_an_error_or_a_kill_releases_nothing_unaudited() {
    if !strace_or_skip("exec faults") {
        return;
    }
    let template = vault_world();
    // Warmed: the compiled component is cached, so the runs below change
    // only the audit log and its checkpoint.
    let expected = resolve_both(&template, "template");
    let wasm = guest("probe");
    let args = [
        "exec",
        wasm.to_str().unwrap(),
        "--agent",
        "reader",
        "--",
        "get:alpha",
        "get:beta",
    ];
    let faults = [Fault::Eio, Fault::Kill];
    // Runs in which the task got a value: the check below must have bitten.
    let released = std::cell::Cell::new(0);
    let runs = every_fault(&template, &args, b"", &faults, |world, out, _, c| {
        assert!(!stderr(out).contains("panicked"), "{c}: {}", text(out));
        let resolved: Vec<String> = records_lenient(world)
            .iter()
            .filter(|r| r["kind"] == "secret.resolve")
            .map(|r| r["secret"].as_str().unwrap_or_default().to_owned())
            .collect();
        for name in granted(out) {
            assert!(resolved.contains(&name), "{c}: {name} released unaudited");
            released.set(released.get() + 1);
        }
        let verify = world.run(&["audit", "verify"]);
        assert!(
            !stdout(&verify).contains("INVALID"),
            "{c}: {}",
            text(&verify)
        );
        assert_eq!(resolve_both(world, c), expected, "{c}");
    });
    assert!(runs >= 10, "only {runs} faulted runs");
    assert!(released.get() > 0, "no faulted run released a value");
    println!(
        "exec faults: {runs} runs, {} values released",
        released.get()
    );
}
