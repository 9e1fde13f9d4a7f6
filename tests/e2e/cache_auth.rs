//! The compiled-code cache against a state-dir writer (issue 12 item 8): an
//! artifact compiled from another component, copied under a pinned
//! component's name, never runs as that agent; agents that hold nothing keep
//! the cheap warm path.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

const HIT: &str = "compiled-code cache hit";

/// A policy with `pinned` (pinned to `hello`, granted posthog-read),
/// `granted` (granted, unpinned) and `bare` (nothing).
fn pinned_world() -> World {
    let digest = component_digest(&guest("hello"));
    let world = World::with_policy(&format!(
        r#"
[projects.analytics]
[agents.pinned]
project = "analytics"
components = ["{digest}"]
grants = [{{ secret = "posthog-read" }}]
[agents.granted]
project = "analytics"
grants = [{{ secret = "posthog-read" }}]
[agents.bare]
project = "analytics"
"#
    ));
    world.set_secret("analytics", "posthog-read", &canary());
    world
}

/// `runner digest`'s `blake3:<hex>` for a component.
fn component_digest(path: &Path) -> String {
    let out = std::process::Command::new(RUNNER)
        .arg("digest")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    stdout(&out).split_whitespace().next().unwrap().to_owned()
}

/// The cache artifact of a component (named by the blake3 hex of its bytes).
fn artifact_of(world: &World, component: &Path) -> PathBuf {
    let digest = component_digest(component);
    let hex = digest.trim_start_matches("blake3:");
    let found = std::fs::read_dir(world.home().join("cache"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_name().unwrap().to_string_lossy().starts_with(hex));
    found.unwrap_or_else(|| panic!("no artifact for {}", component.display()))
}

fn exec_debug(world: &World, guest_name: &str, agent: &str) -> Output {
    let out = world
        .exec_cmd(guest_name, agent, &[])
        .env("RUST_LOG", "runner=debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    out
}

#[test]
fn another_components_artifact_never_runs_as_a_pinned_agent() {
    for compiler in ["granted", "bare"] {
        let world = pinned_world();
        exec_debug(&world, "hello", "pinned");
        // The attacker's code, compiled (and cached) by an ordinary run
        // (which `bare` may fail: it is denied the secret).
        world.exec("support-analysis", compiler, &[]);
        let hello = artifact_of(&world, &guest("hello"));
        let stolen = artifact_of(&world, &guest("support-analysis"));
        std::fs::copy(&stolen, &hello).unwrap();
        let out = exec_debug(&world, "hello", "pinned");
        assert!(
            stdout(&out).contains("hello from a ScopeHold task"),
            "{compiler}: {}",
            text(&out)
        );
        assert!(!stdout(&out).contains("resolved"), "{}", text(&out));
        assert!(!stderr(&out).contains(HIT), "{}", text(&out));
        let by_pinned = world.records_of("secret.resolve");
        assert!(
            by_pinned.iter().all(|r| r["agent"] != "pinned"),
            "{by_pinned:?}"
        );
        if compiler == "granted" {
            assert!(stderr(&out).contains("MAC mismatch"), "{}", text(&out));
        }
        // The recompiled code replaced it, and is loaded next time.
        let next = exec_debug(&world, "hello", "pinned");
        assert!(stderr(&next).contains(HIT), "{}", text(&next));
        assert!(!stderr(&next).contains("warning"), "{}", text(&next));
    }
}

#[test]
fn an_agent_that_holds_nothing_keeps_the_cheap_warm_path() {
    let world = pinned_world();
    exec_debug(&world, "hello", "bare");
    let out = exec_debug(&world, "hello", "bare");
    assert!(stderr(&out).contains(HIT), "{}", text(&out));
    // Its artifact carries no tag, so a pinned run compiles it again (once).
    let pinned = exec_debug(&world, "hello", "pinned");
    assert!(!stderr(&pinned).contains(HIT), "{}", text(&pinned));
    assert!(!stderr(&pinned).contains("warning"), "{}", text(&pinned));
    let again = exec_debug(&world, "hello", "bare");
    assert!(stderr(&again).contains(HIT), "{}", text(&again));
}
