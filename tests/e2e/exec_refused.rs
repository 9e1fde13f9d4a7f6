//! Refused runs are audited and their errors are precise: an unknown agent,
//! an unpinned component, a core module, random bytes, text, a directory
//! and a component with an import the runner does not provide each refuse
//! the run (exit 126, no task code, no `exec.start`) and leave one
//! `exec.refused` record naming the reason; the log still verifies.

use std::path::Path;

use crate::harness::*;

fn write(world: &World, name: &str, bytes: &[u8]) -> String {
    let path = world.tmp.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs `exec PATH --agent AGENT` and returns its stderr, checking the
/// refusal and its one record; returns (stderr, record).
fn refused(world: &World, path: &str, agent: &str, reason: &str) -> (String, serde_json::Value) {
    let before = world.records_of("exec.refused").len();
    let out = world.run(&["exec", path, "--agent", agent]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert!(stdout(&out).is_empty(), "the task ran: {}", stdout(&out));
    let records = world.records_of("exec.refused");
    assert_eq!(records.len(), before + 1, "{}", text(&out));
    let record = records.last().unwrap().clone();
    assert_eq!(record["reason"], reason, "{record}");
    assert_eq!(record["as_agent"], agent, "{record}");
    assert_eq!(record["path"], path, "{record}");
    assert!(world.records_of("exec.start").is_empty());
    (stderr(&out), record)
}

fn component_hash(path: &str) -> String {
    blake3::hash(&std::fs::read(path).unwrap())
        .to_hex()
        .to_string()
}

#[test]
fn unknown_agent_and_unpinned_component_are_recorded() {
    let pinned = format!("blake3:{}", "0".repeat(64));
    let world = World::with_policy(&format!(
        "{POLICY}\n[agents.pinned]\nproject = \"analytics\"\ncomponents = [\"{pinned}\"]\n"
    ));
    let hello = guest("hello");
    let hello = hello.to_str().unwrap();
    let (err, record) = refused(&world, hello, "nobody", "unknown-agent");
    assert!(err.contains("nobody"), "{err}");
    assert_eq!(record["component"], component_hash(hello));
    let (err, record) = refused(&world, hello, "pinned", "unpinned");
    assert!(err.contains("not pinned"), "{err}");
    assert!(record["detail"].as_str().unwrap().contains("not pinned"));
    // A hostile agent name is kept as given, escaped in the readable log.
    let (_, _) = refused(&world, hello, "x\u{1b}[2Jevil", "unknown-agent");
    let shown = stdout(&world.ok(&["audit", "log", "--outcome", "refused"]));
    assert_eq!(shown.lines().count(), 3, "{shown}");
    assert!(!shown.contains('\u{1b}'), "{shown}");
    assert!(
        shown.contains("exec.refused   agent nobody task "),
        "{shown}"
    );
    let out = world.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn a_core_module_is_named_with_the_fix() {
    let world = World::new();
    let module = write(&world, "module.wasm", &wat::parse_str("(module)").unwrap());
    let (err, record) = refused(&world, &module, "support-analysis", "core-module");
    assert!(
        err.contains("is not a component: it is a core WebAssembly module"),
        "{err}"
    );
    assert!(
        err.contains("hint: not a component: build for wasm32-wasip2")
            && err.contains("wasm-tools component new"),
        "{err}"
    );
    assert_eq!(record["component"], component_hash(&module));
    // `digest` refuses it too: a digest to pin must be of a component.
    let out = world.run(&["digest", &module]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("core WebAssembly module"));
    assert!(stdout(&out).is_empty());
}

#[test]
fn bytes_text_and_directories_are_told_apart() {
    let world = World::new();
    let mut noise = [0u8; 256];
    getrandom::fill(&mut noise).unwrap();
    noise[0] = 0x7f; // never the `\0asm` magic by chance
    for (name, bytes) in [
        ("noise.wasm", &noise[..]),
        ("notes.wasm", b"hello, world\n"),
    ] {
        let path = write(&world, name, bytes);
        let (err, _) = refused(&world, &path, "support-analysis", "not-wasm");
        assert!(err.contains("is not a WebAssembly file"), "{err}");
        assert!(
            err.contains("hint: a task is a WASI 0.2 command component"),
            "{err}"
        );
        let out = world.run(&["digest", &path]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("is not a WebAssembly file"));
    }
    let dir = world.tmp.path().join("task-dir.wasm");
    std::fs::create_dir(&dir).unwrap();
    let (err, record) = refused(
        &world,
        dir.to_str().unwrap(),
        "support-analysis",
        "unreadable",
    );
    assert!(err.contains("is a directory"), "{err}");
    assert_eq!(record["component"], "0".repeat(64));
}

#[test]
fn an_unsupported_import_is_recorded() {
    let world = World::new();
    let wasm = wat::parse_str(r#"(component (import "evil:net/raw-socket" (func)))"#).unwrap();
    let path = write(&world, "evil.wasm", &wasm);
    let (err, record) = refused(&world, &path, "support-analysis", "unsupported-import");
    assert!(err.contains("evil:net/raw-socket"), "{err}");
    assert!(
        record["detail"]
            .as_str()
            .unwrap()
            .contains("evil:net/raw-socket")
    );
}

#[test]
fn without_a_state_dir_a_refusal_is_still_refused() {
    let world = World::new();
    std::fs::remove_dir_all(world.home()).unwrap();
    let out = world.run(&[
        "exec",
        guest("hello").to_str().unwrap(),
        "--agent",
        "nobody",
    ]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert!(!Path::new(&world.home()).exists());
}
