//! Fault injection with `strace`: an I/O error or a SIGKILL at every
//! state-changing system call of a command (each fsync, fdatasync, rename,
//! link, unlink, write, and each openat that creates a file), one call per
//! run, against a fresh copy of a prepared state dir. Without strace the
//! tests print SKIP and pass.
//!
//! This file holds the injector and the checks the fault tests share.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::harness::*;

/// A policy with one agent granted two secrets, so one run resolves both.
pub const FAULT_POLICY: &str = r#"
[projects.vault]
description = "Fault tests"

[agents.reader]
project = "vault"
grants = [{ secret = "alpha" }, { secret = "beta" }]
"#;

/// What strace does at the chosen call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with EIO (and does nothing).
    Eio,
    /// The call fails with ENOSPC: a full disk.
    Enospc,
    /// The process is killed on entering the call.
    Kill,
}

impl Fault {
    fn spec(self) -> &'static str {
        match self {
            Fault::Eio => "error=EIO",
            Fault::Enospc => "error=ENOSPC",
            Fault::Kill => "signal=SIGKILL",
        }
    }
}

/// One call to fault: the `nth` call of `syscall` (counted per process).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Point {
    pub syscall: String,
    pub nth: usize,
}

const CHANGING: &str =
    "fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,unlinkat,write,mkdir,openat";

/// Whether strace can run here; prints SKIP for `test` if not.
pub fn strace_or_skip(test: &str) -> bool {
    let found = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        println!("SKIP: {test}: strace is not installed (apt-get install strace)");
    }
    found
}

/// `cmd` run under strace with `options` before the command itself.
pub fn under_strace(cmd: &Command, options: &[String]) -> Command {
    let mut traced = Command::new("strace");
    traced.env_clear();
    for (name, value) in cmd.get_envs() {
        if let Some(value) = value {
            traced.env(name, value);
        }
    }
    traced.args(["-f", "-qq"]).args(options);
    traced.arg(cmd.get_program()).args(cmd.get_args());
    traced
}

/// The state-changing calls `cmd` makes when nothing fails: every call of
/// each syscall in [`CHANGING`], except openat calls that create nothing
/// and writes to stdout and stderr.
pub fn changing_calls(cmd: &Command, input: &[u8]) -> Vec<Point> {
    let log = tempfile::NamedTempFile::new().unwrap();
    let options = [
        "-o".to_string(),
        log.path().display().to_string(),
        format!("-etrace={CHANGING}"),
    ];
    let out = feed(under_strace(cmd, &options), input)
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "traced run failed:\n{}", text(&out));
    let trace = std::fs::read_to_string(log.path()).unwrap();
    points_of(&trace)
}

/// Parses `strace -f` output: per process, the calls in order.
fn points_of(trace: &str) -> Vec<Point> {
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut points = Vec::new();
    for line in trace.lines() {
        let Some((pid, call)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let call = call.trim_start();
        let Some((syscall, _)) = call.split_once('(') else {
            continue;
        };
        if call.starts_with("<...") || !CHANGING.split(',').any(|s| s == syscall) {
            continue;
        }
        let count = seen.entry((pid.into(), syscall.into())).or_default();
        *count += 1;
        // Output to the terminal changes no state (and a failed print is
        // another issue's subject).
        let output = call.starts_with("write(1,") || call.starts_with("write(2,");
        let creates = syscall != "openat" || call.contains("O_CREAT");
        if creates && !output {
            let point = Point {
                syscall: syscall.into(),
                nth: *count,
            };
            if !points.contains(&point) {
                points.push(point);
            }
        }
    }
    points
}

/// Runs `cmd` with `fault` injected at `point`, `input` on stdin.
pub fn inject(cmd: &Command, point: &Point, fault: Fault, input: &[u8]) -> Output {
    let options = [
        "-o".to_string(),
        "/dev/null".to_string(),
        format!("-etrace={}", point.syscall),
        format!(
            "-einject={}:{}:when={}",
            point.syscall,
            fault.spec(),
            point.nth
        ),
    ];
    feed(under_strace(cmd, &options), input)
        .wait_with_output()
        .unwrap()
}

/// A new world whose tasks.toml and state dir are copies of `from`'s.
pub fn copy_world(from: &World) -> World {
    let world = World {
        tmp: tempfile::tempdir().unwrap(),
    };
    std::fs::copy(from.config(), world.config()).unwrap();
    if from.home().exists() {
        copy_dir(&from.home(), &world.home());
    }
    world
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    let mode = std::fs::metadata(from).unwrap().permissions();
    std::fs::set_permissions(to, mode).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        match path.is_dir() {
            true => copy_dir(&path, &target),
            false => {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
}

/// A world under [`FAULT_POLICY`] holding `alpha` and `beta`.
pub fn vault_world() -> World {
    let world = World::with_policy(FAULT_POLICY);
    world.set_secret("vault", "alpha", "alpha-value");
    world.set_secret("vault", "beta", "beta-value");
    world
}

/// Resolves `alpha` and `beta` through the probe: the lines it printed.
/// Panics (with `context`) unless both resolve.
pub fn resolve_both(world: &World, context: &str) -> Vec<String> {
    resolve_both_env(world, &[], context)
}

/// [`resolve_both`] with `env` added (e.g. the passphrase).
pub fn resolve_both_env(world: &World, env: &[(&str, &str)], context: &str) -> Vec<String> {
    let mut cmd = world.exec_cmd("probe", "reader", &["get:alpha", "get:beta"]);
    let out = cmd.envs(env.iter().copied()).output().unwrap();
    let lines: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.contains("granted"))
        .map(str::to_owned)
        .collect();
    assert!(
        out.status.success() && lines.len() == 2,
        "{context}: secrets do not resolve:\n{}",
        text(&out)
    );
    lines
}

/// The audit log's records, skipping a torn last line.
pub fn records_lenient(world: &World) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(world.audit_path()).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The store file's generation.
pub fn file_generation(world: &World) -> u64 {
    let text = std::fs::read_to_string(world.home().join("secrets.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["generation"].as_u64().unwrap()
}

/// The newest generation a `store.write` record holds.
pub fn recorded_generation(world: &World) -> u64 {
    let writes = records_lenient(world);
    let last = writes.iter().rev().find(|r| r["kind"] == "store.write");
    last.map_or(0, |r| r["generation"].as_u64().unwrap())
}

/// What every faulted run must leave: no panic, an audit log that verifies
/// without a verdict of tampering, and, after an I/O error, exit status and
/// log that tell the truth about the store change (`before`: the store
/// file's generation before the run).
pub fn assert_truthful(world: &World, out: &Output, fault: Fault, before: u64, context: &str) {
    assert!(
        !stderr(out).contains("panicked"),
        "{context}: panic\n{}",
        text(out)
    );
    let changed = file_generation(world) > before;
    let recorded = recorded_generation(world) == file_generation(world);
    let said_in_effect = stderr(out).contains("in effect");
    let audit_failed = stderr(out).contains("audit record failed");
    if out.status.success() {
        assert!(
            changed && recorded,
            "{context}: success, but\n{}",
            text(out)
        );
    } else if fault != Fault::Kill {
        // A change that took effect is recorded (or the message says the
        // record failed), and the message says it is in effect.
        if changed {
            assert!(
                recorded || audit_failed,
                "{context}: unrecorded\n{}",
                text(out)
            );
            assert!(said_in_effect || audit_failed, "{context}: {}", text(out));
        } else {
            assert!(
                !said_in_effect,
                "{context}: claims an effect\n{}",
                text(out)
            );
        }
    }
    let verify = world.run(&["audit", "verify"]);
    assert!(
        !stdout(&verify).contains("INVALID"),
        "{context}: verify:\n{}",
        text(&verify)
    );
}

/// Every fault at every state-changing call of `args` (with `input`), on a
/// copy of `template`; `check` runs after each.
pub fn every_fault(
    template: &World,
    args: &[&str],
    input: &[u8],
    faults: &[Fault],
    check: impl Fn(&World, &Output, Fault, &str),
) -> usize {
    every_fault_env(template, args, &[], input, faults, check)
}

/// [`every_fault`] with `env` added to the command's environment.
pub fn every_fault_env(
    template: &World,
    args: &[&str],
    env: &[(&str, &str)],
    input: &[u8],
    faults: &[Fault],
    check: impl Fn(&World, &Output, Fault, &str),
) -> usize {
    let command = |world: &World| {
        let mut cmd = world.cmd(args);
        cmd.envs(env.iter().copied());
        cmd
    };
    let points = changing_calls(&command(&copy_world(template)), input);
    assert!(!points.is_empty(), "no calls traced for {args:?}");
    let mut runs = 0;
    for point in &points {
        for &fault in faults {
            let world = copy_world(template);
            let out = inject(&command(&world), point, fault, input);
            let context = format!("{args:?} with {fault:?} at {point:?}");
            check(&world, &out, fault, &context);
            runs += 1;
        }
    }
    runs
}
