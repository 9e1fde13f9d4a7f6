//! Limits hold against tasks that try to exhaust them: each is stopped with
//! the limit's own exit code and an `exec.end` record naming the limit, and
//! the runner itself stays healthy (no panic, its own exit path).

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::harness::*;

/// A policy with one agent, `hostile`, whose table ends with `extra`.
pub fn hostile_world(extra: &str) -> World {
    World::with_policy(&format!(
        "[projects.analytics]\n\n[projects.billing]\n\n[agents.hostile]\nproject = \"analytics\"\n\
         grants = [{{ secret = \"posthog-read\" }}]\n{extra}\n"
    ))
}

/// Asserts the run ended by `limit` with `code`, recorded in exec.end.
pub fn assert_stopped(world: &World, out: &Output, code: i32, limit: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    let said = format!("exceeded its {limit} limit");
    assert!(stderr(out).contains(&said), "{}", text(out));
    assert_runner_healthy(out);
    let end = world.records_of("exec.end");
    let end = end.last().expect("an exec.end record");
    assert_eq!(
        end["outcome"],
        format!("limit-{}", limit.replace('_', "-")),
        "{end}"
    );
    assert_eq!(end["exit_code"], code, "{end}");
    world.ok(&["audit", "verify"]);
}

/// The runner did not panic or abort.
pub fn assert_runner_healthy(out: &Output) {
    let err = stderr(out);
    assert!(
        !err.contains("panicked at") && !err.contains("RUST_BACKTRACE"),
        "{}",
        text(out)
    );
    assert!(
        out.status.code().is_some(),
        "killed by a signal: {}",
        text(out)
    );
}

/// Runs the hog; returns its output and how long the run took, as recorded
/// in `exec.end` (from just before instantiation to the end; compiling the
/// component, which a loaded test machine slows down, is not part of it).
fn timed(world: &World, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = world.exec("hog", "hostile", args);
    let wall = started.elapsed();
    let end = world.records_of("exec.end");
    let ms = end
        .last()
        .and_then(|end| end["duration_ms"].as_u64())
        .expect("duration_ms");
    assert!(
        Duration::from_millis(ms) <= wall,
        "the run outlasted the process?"
    );
    (out, Duration::from_millis(ms))
}

#[test]
fn a_one_second_timeout_stops_an_infinite_loop_within_two_seconds() {
    let world = hostile_world("limits = { timeout = \"1s\" }");
    let (out, took) = timed(&world, &["spin"]);
    assert_stopped(&world, &out, 124, "timeout");
    assert!(stdout(&out).contains("start spin"), "{}", text(&out));
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[test]
fn the_timeout_stops_a_loop_of_host_calls_and_a_waiting_host_call() {
    let world = hostile_world("limits = { timeout = \"1s\" }");
    for step in ["host-spin", "sleep"] {
        let (out, took) = timed(&world, &[step]);
        assert_stopped(&world, &out, 124, "timeout");
        assert!(
            stdout(&out).contains(&format!("start {step}")),
            "{}",
            text(&out)
        );
        assert!(took < Duration::from_secs(2), "{step} took {took:?}");
    }
}

#[test]
fn a_memory_limit_stops_unbounded_allocation() {
    let world = hostile_world("limits = { memory = \"64MiB\" }");
    let out = world.exec("hog", "hostile", &["alloc:4"]);
    assert_stopped(&world, &out, 120, "memory");
    assert!(!stdout(&out).contains("done alloc"), "{}", text(&out));
}

/// The hand-written component from tests/guests/wat, compiled to a file.
pub fn wat_component(world: &World, name: &str) -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let source = workspace.join(format!("tests/guests/wat/{name}.wat"));
    let wasm = wat::parse_file(&source).expect("the .wat fixture compiles");
    let path = world.tmp.path().join(format!("{name}.wasm"));
    std::fs::write(&path, wasm).unwrap();
    path
}

fn exec_file(world: &World, wasm: &std::path::Path, agent: &str) -> Output {
    world.run(&["exec", wasm.to_str().unwrap(), "--agent", agent])
}

#[test]
fn a_64_mib_limit_holds_across_several_memories() {
    // Each memory grows 20 MiB, under the limit on its own; 80 MiB together.
    let world = hostile_world("limits = { memory = \"64MiB\" }");
    let wasm = wat_component(&world, "many-memories");
    let out = exec_file(&world, &wasm, "hostile");
    assert_stopped(&world, &out, 120, "memory");
    // The same component fits under a larger limit, so the sum is what stopped it.
    let roomy = hostile_world("limits = { memory = \"100MiB\" }");
    let wasm = wat_component(&roomy, "many-memories");
    let out = exec_file(&roomy, &wasm, "hostile");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn tables_count_towards_the_memory_limit() {
    let world = hostile_world("limits = { memory = \"64MiB\" }");
    let wasm = wat_component(&world, "many-tables");
    let out = exec_file(&world, &wasm, "hostile");
    assert_stopped(&world, &out, 120, "memory");
    let roomy = hostile_world("limits = { memory = \"128MiB\" }");
    let wasm = wat_component(&roomy, "many-tables");
    let out = exec_file(&roomy, &wasm, "hostile");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn too_many_instances_memories_or_tables_are_refused() {
    // many-memories has five core instances and four memories.
    let world = hostile_world("limits = { instances = 3 }");
    let wasm = wat_component(&world, "many-memories");
    let out = exec_file(&world, &wasm, "hostile");
    assert_stopped(&world, &out, 121, "instances");
}

#[test]
fn output_past_the_limit_stops_the_task() {
    let world = hostile_world("limits = { output = \"1MiB\" }");
    let out = world.exec("hog", "hostile", &["flood"]);
    assert_stopped(&world, &out, 123, "output");
    assert!(
        out.stdout.len() <= 1 << 20,
        "{} bytes got out",
        out.stdout.len()
    );
    assert!(!stdout(&out).contains("done flood"), "the flood went on");
    // Output within the limit passes untouched.
    let out = world.exec("hog", "hostile", &["print:900000"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains(&"y".repeat(900_000)));
}

#[test]
fn deep_recursion_traps_without_hurting_the_runner() {
    let world = hostile_world("");
    let out = world.exec("hog", "hostile", &["recurse"]);
    assert_eq!(out.status.code(), Some(134), "{}", text(&out));
    assert_runner_healthy(&out);
    assert_eq!(world.records_of("exec.end")[0]["outcome"], "trapped");
}

#[test]
fn secret_calls_past_the_limit_stop_the_task_and_each_call_is_audited() {
    let world = hostile_world("limits = { secret_calls = 50 }");
    let canary = canary();
    world.set_secret("analytics", "posthog-read", &canary);
    let out = world.exec("hog", "hostile", &["get-many:100000:posthog-read"]);
    assert_stopped(&world, &out, 122, "secret_calls");
    // The first resolution is recorded; the 49 repeats are counted in exec.end.
    assert_eq!(world.records_of("secret.resolve").len(), 1);
    assert_eq!(world.records_of("exec.end")[0]["repeats"], 49);
    assert!(!contains(&out.stdout, &canary) && !contains(&out.stderr, &canary));
    assert!(
        !world
            .state_bytes()
            .iter()
            .any(|(_, bytes)| contains(bytes, &canary))
    );
}

#[test]
fn a_task_within_its_limits_runs_normally() {
    let world = hostile_world(
        "[agents.hostile.limits]\ntimeout = \"10s\"\nmemory = \"64MiB\"\noutput = \"1MiB\"",
    );
    let out = world.exec("hog", "hostile", &["get-many:10:posthog-read", "print:10"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("get-many posthog-read: 10 calls, 10 denied"),
        "{}",
        text(&out)
    );
    assert_eq!(world.records_of("exec.end")[0]["outcome"], "exited");
}
