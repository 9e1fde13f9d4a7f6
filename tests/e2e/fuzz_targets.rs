//! What the fuzz harness (`fuzz.rs`) feeds, and to which parser: one target
//! per kind of hostile input, each with real seeds taken from a state dir
//! the real binary made.

use std::path::{Path, PathBuf};

use scopehold_core::audit::{Checkpoint, Record};
use scopehold_core::policy::Policy;

use crate::fuzz::Target;
use crate::harness::*;

pub(crate) fn all(world: &World) -> Vec<Target> {
    vec![
        policy(),
        audit_line(world),
        audit_log(world),
        store_file(world),
        checkpoint(world),
        cli_ages(),
        component(),
    ]
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// tasks.toml, parsed and every agent's grant check asked.
fn policy() -> Target {
    let repo = include_str!("../../tasks.toml");
    let rich = "[projects.p]\n[agents.a]\nproject = \"p\"\ngrants = [{ secret = \"s\", \
                expires = 2027-01-01T00:00:00+02:00, hosts = [\"https://*.example.com\"] }]\n\
                limits = { memory = \"64MiB\", timeout = \"30s\", output = 1024 }\n\
                dirs = [{ host = \"./d\", guest = \"/d\", mode = \"rw\" }]\nenv = { A = \"b\" }\n\
                allowed_hosts = [\"http://127.0.0.1:8080\"]\n[audit]\nsync = \"every-record\"\n";
    Target {
        name: "tasks.toml",
        seeds: [POLICY, repo, rich].map(|s| s.as_bytes().to_vec()).to_vec(),
        run: Box::new(|bytes| {
            if let Ok(policy) = Policy::from_bytes(bytes, Path::new("fuzz.toml")) {
                let now = time::OffsetDateTime::now_utc();
                for agent in policy.agents() {
                    let _ = agent.check("posthog-read", now);
                }
            }
        }),
    }
}

/// One audit line, parsed and, if it parses, encoded again.
fn audit_line(world: &World) -> Target {
    let log = std::fs::read_to_string(world.audit_path()).unwrap();
    Target {
        name: "audit line",
        seeds: log.lines().map(|line| line.as_bytes().to_vec()).collect(),
        run: Box::new(|bytes| {
            if let Ok(record) = Record::parse_line(bytes) {
                let _ = record.to_line();
            }
        }),
    }
}

/// A copy of the world's state dir in a fresh temp dir (kept for the run).
fn state_copy(world: &World) -> PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    for (path, bytes) in world.state_bytes() {
        std::fs::write(dir.join(path.file_name().unwrap()), bytes).unwrap();
    }
    dir
}

/// A whole audit log, verified.
fn audit_log(world: &World) -> Target {
    let dir = state_copy(world);
    Target {
        name: "audit log",
        seeds: vec![std::fs::read(world.audit_path()).unwrap()],
        run: Box::new(move |bytes| {
            let path = dir.join("audit.jsonl");
            std::fs::write(&path, bytes).unwrap();
            let _ = scopehold_core::audit::verify(&path);
        }),
    }
}

/// The store file, opened with the world's key file.
fn store_file(world: &World) -> Target {
    let dir = state_copy(world);
    Target {
        name: "store file",
        seeds: vec![std::fs::read(world.home().join("secrets.json")).unwrap()],
        run: Box::new(move |bytes| {
            std::fs::write(dir.join("secrets.json"), bytes).unwrap();
            let ask = scopehold_core::store::passphrase::from_env_only;
            let _ = scopehold_core::store::Store::open_with(&dir, &ask);
        }),
    }
}

/// Checkpoint file and anchor text.
fn checkpoint(world: &World) -> Target {
    let file = std::fs::read(world.home().join("audit.checkpoint")).unwrap();
    let head = world.ok(&["audit", "head"]).stdout;
    Target {
        name: "checkpoint",
        seeds: vec![file, head],
        run: Box::new(|bytes| {
            let _ = Checkpoint::parse(&lossy(bytes));
        }),
    }
}

/// Ages and dates as `--since`, `--stale` and a grant's `expires` take them.
fn cli_ages() -> Target {
    let seeds = [
        "30d",
        "12h",
        "2w",
        "90m",
        "2026-01-31T00:00:00Z",
        "9999-12-31T23:59:59-00:01",
    ];
    Target {
        name: "ages, dates",
        seeds: seeds.map(|s| s.as_bytes().to_vec()).to_vec(),
        run: Box::new(|bytes| {
            use clap::Parser;
            let text = lossy(bytes);
            for flag in [["audit", "log", "--since"], ["audit", "grants", "--stale"]] {
                let args = ["runner"].into_iter().chain(flag).chain([text.as_str()]);
                let _ = runner::cli::Cli::try_parse_from(args);
            }
            let policy = format!(
                "[projects.p]\n[agents.a]\nproject = \"p\"\n\
                 grants = [{{ secret = \"s\", expires = \"{text}\" }}]\n"
            );
            let _ = Policy::parse(&policy, Path::new("fuzz.toml"));
        }),
    }
}

/// Component bytes, compiled and linked under the runner's caps.
fn component() -> Target {
    let wat = [
        "(component)",
        "(component (core module (func (export \"f\") (result i32) i32.const 1)))",
        "(component (component (component (core module))) (component))",
        include_str!("../guests/wat/many-memories.wat"),
    ];
    let mut seeds: Vec<Vec<u8>> = wat.iter().map(|w| wat::parse_str(w).unwrap()).collect();
    seeds.push(crate::hostile_input::nested_component(40));
    seeds.push(std::fs::read(guest("hello")).unwrap());
    Target {
        name: "component",
        seeds,
        run: Box::new(|bytes| {
            let _ = runner::sandbox::Task::load(bytes);
        }),
    }
}
