//! No false alarms and no time travel: `audit verify` running beside
//! `audit rotate` never reports a rotation as tampering or a torn log, and
//! a clock set back (real `faketime`) makes the runner refuse to append and
//! so to resolve, saying why.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn verify_beside_rotate_never_raises_a_false_verdict() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    let deadline = Instant::now() + Duration::from_secs(10);
    let (rotations, verdicts) = std::thread::scope(|s| {
        let rotator = s.spawn(|| {
            let mut n = 0;
            while Instant::now() < deadline {
                let out = world.run(&["audit", "rotate"]);
                assert!(out.status.success(), "{}", text(&out));
                n += 1;
            }
            n
        });
        let verifier = s.spawn(|| {
            let mut seen = Vec::new();
            while Instant::now() < deadline {
                let out = world.run(&["audit", "verify"]);
                seen.push((out.status.code(), stdout(&out)));
            }
            seen
        });
        (rotator.join().unwrap(), verifier.join().unwrap())
    });
    assert!(rotations > 5, "only {rotations} rotations ran");
    assert!(verdicts.len() > 5, "only {} verifies ran", verdicts.len());
    for (code, shown) in &verdicts {
        assert_eq!(*code, Some(0), "a false verdict during rotation:\n{shown}");
        assert!(shown.contains("result: INTACT (anchored)"), "{shown}");
    }
}

/// `faketime` from the distribution (package `faketime`), if installed.
fn faketime() -> Option<&'static str> {
    let found = Command::new("faketime")
        .args(["2020-01-01 00:00:00", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIPPED: faketime is not installed (apt-get install faketime)");
    }
    found.then_some("faketime")
}

/// `runner ARGS` in `world` with the clock at `at`.
fn at_time(world: &World, at: &str, args: &[&str]) -> std::process::Output {
    let runner = world.cmd(args);
    let mut cmd = Command::new("faketime");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", world.tmp.path())
        .arg(at)
        .arg(runner.get_program())
        .args(runner.get_args());
    cmd.output().unwrap()
}

#[test]
fn a_clock_set_back_revives_no_expired_grant() {
    let Some(_) = faketime() else { return };
    let world = World::new();
    let value = canary();
    world.set_secret("analytics", "old-key", &value);
    let wasm = guest("probe");
    let args = [
        "exec",
        wasm.to_str().unwrap(),
        "--agent",
        "support-analysis",
        "--",
        "get:old-key",
    ];
    // Now: the grant (expired 2020-01-01) is denied.
    let out = world.run(&args);
    assert!(
        stdout(&out).contains("get old-key: Denied"),
        "{}",
        text(&out)
    );
    // In 2019 the grant looks valid, but the log says it is later than that.
    let before = world.records().len();
    let out = at_time(&world, "2019-06-01 00:00:00", &args);
    let digest = blake3::hash(value.as_bytes()).to_hex().to_string();
    assert!(!stdout(&out).contains(&digest), "{}", text(&out));
    assert!(!contains(&out.stdout, &value) && !contains(&out.stderr, &value));
    assert_eq!(out.status.code(), Some(118), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("system clock") && err.contains("behind"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(world.records().len(), before, "nothing was appended");
    // Other writers refuse too, and the log verifies as before.
    let set = at_time(&world, "2019-06-01 00:00:00", &["audit", "rotate"]);
    assert!(!set.status.success(), "{}", text(&set));
    let out = world.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!stdout(&out).contains("timed before"), "{}", text(&out));
}
