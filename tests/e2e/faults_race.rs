//! Commands racing each other: exec, secret set, rotate, rekey (both kinds),
//! audit rotate and audit verify, in separate processes, for 20 seconds.
//! None may fail: no "integrity check failed" because a rekey swapped key
//! and store between two reads, no "rolled back" because a writer finished
//! between a reader's read of the store and of the log, no false verdict.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::faults::*;
use crate::harness::*;

const RUN_FOR: Duration = Duration::from_secs(20);

/// One kind of command; `i` counts its runs, so names and values differ.
fn run_one(world: &World, kind: &str, i: usize) -> std::process::Output {
    match kind {
        "exec" => world.exec("probe", "reader", &["get:alpha", "get:beta"]),
        "set" => {
            let name = format!("s{i}");
            let args = ["secret", "set", name.as_str(), "--project", "vault"];
            run_with_input(world, &args, b"v\n")
        }
        "rotate" => run_with_input(
            world,
            &["secret", "rotate", "alpha"],
            format!("{i}\n").as_bytes(),
        ),
        "rekey" => world.run(&["rekey"]),
        "rekey-data" => world.run(&["rekey", "--data-key"]),
        "audit-rotate" => world.run(&["audit", "rotate"]),
        "verify" => world.run(&["audit", "verify"]),
        other => unreachable!("{other}"),
    }
}

/// Whether `out` of `kind` is a success (exec must resolve both secrets).
fn succeeded(kind: &str, out: &std::process::Output) -> bool {
    let granted = stdout(out).matches("granted").count();
    out.status.success() && (kind != "exec" || granted == 2)
}

#[test]
fn racing_commands_never_fail_spuriously() {
    let world = vault_world();
    let kinds = [
        "exec",
        "exec",
        "set",
        "rotate",
        "rekey",
        "rekey-data",
        "audit-rotate",
        "verify",
    ];
    let stop = AtomicBool::new(false);
    let runs = AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let started = Instant::now();
    thread::scope(|scope| {
        for kind in kinds {
            let (world, stop, runs, failures) = (&world, &stop, &runs, &failures);
            scope.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let out = run_one(world, kind, i);
                    i += 1;
                    runs.fetch_add(1, Ordering::Relaxed);
                    if !succeeded(kind, &out) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{kind}: {}", text(&out)));
                    }
                }
            });
        }
        while started.elapsed() < RUN_FOR {
            thread::sleep(Duration::from_millis(200));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let failures = failures.into_inner().unwrap();
    let total = runs.load(Ordering::Relaxed);
    let mut first_of_each: Vec<&String> = Vec::new();
    for failure in &failures {
        let kind = failure.split(':').next();
        if !first_of_each.iter().any(|f| f.split(':').next() == kind) {
            first_of_each.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} runs failed; the first of each kind:\n{first_of_each:#?}",
        failures.len(),
    );
    assert!(total >= kinds.len() * 2, "only {total} runs");
    resolve_both(&world, "after the race");
    let verify = world.run(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
}
