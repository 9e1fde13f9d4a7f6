//! `runner explain`, `runner digest`, pinning an agent to its code, and policy
//! file hygiene.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::*;
use crate::limits::hostile_world;

/// The digest `runner digest` prints for `wasm`.
fn digest(world: &World, wasm: &Path) -> String {
    let out = world.ok(&["digest", wasm.to_str().unwrap()]);
    let line = stdout(&out);
    let (digest, path) = line.trim_end().split_once("  ").expect("DIGEST  PATH");
    assert_eq!(path, wasm.to_str().unwrap());
    assert_eq!(
        digest,
        format!(
            "blake3:{}",
            blake3::hash(&std::fs::read(wasm).unwrap()).to_hex()
        )
    );
    digest.to_owned()
}

#[test]
fn explain_shows_everything_a_run_would_get_and_runs_nothing() {
    let world = World::with_policy(&format!(
        "{POLICY}\n[agents.reporter]\nproject = \"analytics\"\n\
         grants = [{{ secret = \"posthog-read\" }}, {{ secret = \"old\", expires = \"2020-01-01T00:00:00Z\" }}]\n\
         dirs = [{{ host = \"./data\", guest = \"/data\" }}, {{ host = \"/srv/out\", guest = \"/out\", mode = \"rw\" }}]\n\
         env = {{ LOG_LEVEL = \"info\" }}\n\
         [agents.reporter.limits]\ntimeout = \"5s\"\nmemory = \"64MiB\"\n"
    ));
    let hello = guest("hello");
    // Its directories do not exist: explain says the run would fail, as
    // exec would refuse it (`readiness.rs`).
    let out = world.run(&["explain", hello.to_str().unwrap(), "--agent", "reporter"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = stdout(&out)
        .replace(&digest(&world, &hello), "blake3:<digest of hello.wasm>")
        .replace(world.tmp.path().to_str().unwrap(), "<tmp>");
    golden("explain_reporter", &shown);
    let out = world.ok(&[
        "explain",
        hello.to_str().unwrap(),
        "--agent",
        "support-analysis",
    ]);
    let shown = stdout(&out).replace(&digest(&world, &hello), "blake3:<digest of hello.wasm>");
    golden("explain_support_analysis", &shown);
    assert!(
        world.records().iter().all(|r| r["kind"] != "exec.start"),
        "explain started a run"
    );
}

#[test]
fn pinning_accepts_the_pinned_component_and_refuses_a_recompiled_one() {
    let world = World::new();
    let hello = guest("hello");
    let pinned = digest(&world, &hello);
    // "Recompiled": the same code with one more custom section, so a
    // different digest for a component that would run the same.
    let mut other = std::fs::read(&hello).unwrap();
    other.extend_from_slice(&[0, 8, 7, b'r', b'e', b'b', b'u', b'i', b'l', b'd']);
    let rebuilt = world.tmp.path().join("hello-rebuilt.wasm");
    std::fs::write(&rebuilt, &other).unwrap();
    let seen = digest(&world, &rebuilt);
    assert_ne!(pinned, seen);
    std::fs::write(
        world.config(),
        format!("[projects.analytics]\n[agents.greeter]\nproject = \"analytics\"\ncomponents = [\"{pinned}\"]\n"),
    )
    .unwrap();
    let ok = world.run(&["exec", hello.to_str().unwrap(), "--agent", "greeter"]);
    assert!(ok.status.success(), "{}", text(&ok));
    let refused = world.run(&["exec", rebuilt.to_str().unwrap(), "--agent", "greeter"]);
    assert_eq!(refused.status.code(), Some(126), "{}", text(&refused));
    assert!(
        stderr(&refused).contains(&format!("hint: the component's digest is {seen}")),
        "{}",
        text(&refused)
    );
    assert_eq!(
        world.records_of("exec.start").len(),
        1,
        "the refused component was started"
    );
    let explained = world.run(&["explain", rebuilt.to_str().unwrap(), "--agent", "greeter"]);
    assert_eq!(explained.status.code(), Some(1), "{}", text(&explained));
    assert!(stdout(&explained).contains("may run as greeter: no: its digest is not in components"));
}

#[test]
fn a_policy_file_others_can_write_is_refused() {
    let world = hostile_world("");
    for mode in [0o664, 0o646] {
        std::fs::set_permissions(world.config(), std::fs::Permissions::from_mode(mode)).unwrap();
        let out = world.exec("hello", "hostile", &[]);
        assert_eq!(out.status.code(), Some(126), "{}", text(&out));
        assert!(
            stderr(&out).contains("is writable by other users"),
            "{}",
            text(&out)
        );
        assert!(
            stderr(&out).contains("hint: run `chmod go-w "),
            "{}",
            text(&out)
        );
    }
    assert!(world.records_of("exec.start").is_empty());
    std::fs::set_permissions(world.config(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = world.exec("hello", "hostile", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let start = &world.records_of("exec.start")[0];
    let bytes = std::fs::read(world.config()).unwrap();
    assert_eq!(start["policy"], blake3::hash(&bytes).to_hex().as_str());
}
