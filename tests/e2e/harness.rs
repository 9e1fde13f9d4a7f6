//! Shared set-up for the end-to-end tests: builds the example components once,
//! gives each test a fresh state dir and policy, and runs the real `runner`
//! binary against them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

pub const RUNNER: &str = env!("CARGO_BIN_EXE_runner");

/// The policy most tests run under.
pub const POLICY: &str = r#"
[projects.analytics]
description = "Product analytics"

[projects.billing]
description = "Payments"

[agents.support-analysis]
project = "analytics"
description = "Summarises support tickets"
grants = [
  { secret = "posthog-read", expires = "2099-01-01T00:00:00Z" },
  { secret = "old-key", expires = "2020-01-01T00:00:00Z" },
]

[agents.billing-bot]
project = "billing"
grants = [{ secret = "billing-admin" }]
"#;

/// Directory holding the built example components (`hello.wasm`, ...).
pub fn guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_guests)
}

fn build_guests() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = workspace.join("target/guests");
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target)
        .args(["-p", "hello", "-p", "support-analysis", "-p", "probe"])
        .args(["-p", "egress-probe", "-p", "posthog-query"])
        .args(["-p", "hog"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the example components failed");
    target.join("wasm32-wasip2/release")
}

pub fn guest(name: &str) -> PathBuf {
    guests().join(format!("{name}.wasm"))
}

/// A random value that must never show up where it should not.
pub fn canary() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("phc_CANARY{hex}")
}

/// One test's world: a temp dir with a state dir and a tasks.toml.
pub struct World {
    pub tmp: tempfile::TempDir,
}

impl World {
    /// An initialised state dir with [`POLICY`] as tasks.toml.
    pub fn new() -> World {
        World::with_policy(POLICY)
    }

    pub fn with_policy(policy: &str) -> World {
        let world = World {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::write(world.config(), policy).unwrap();
        world.ok(&["init"]);
        world
    }

    pub fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    pub fn config(&self) -> PathBuf {
        self.tmp.path().join("tasks.toml")
    }

    pub fn audit_path(&self) -> PathBuf {
        self.home().join("audit.jsonl")
    }

    /// A `runner` command with this world's --home and --config and a clean
    /// environment (only PATH and HOME survive).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(RUNNER);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.tmp.path())
            .arg("--home")
            .arg(self.home())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts success.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "runner {args:?} failed:\n{}",
            text(&out)
        );
        out
    }

    /// `runner secret set NAME --project P` with `value` on stdin.
    pub fn set_secret(&self, project: &str, name: &str, value: &str) {
        let args = ["secret", "set", name, "--project", project];
        let out = run_with_input(self, &args, format!("{value}\n").as_bytes());
        assert!(out.status.success(), "secret set failed:\n{}", text(&out));
    }

    /// `runner exec GUEST.wasm --agent AGENT -- ARGS`, not started yet.
    pub fn exec_cmd(&self, guest_name: &str, agent: &str, args: &[&str]) -> Command {
        let wasm = guest(guest_name);
        let mut all = vec!["exec", wasm.to_str().unwrap(), "--agent", agent, "--"];
        all.extend_from_slice(args);
        self.cmd(&all)
    }

    /// `runner exec GUEST.wasm --agent AGENT -- ARGS`.
    pub fn exec(&self, guest_name: &str, agent: &str, args: &[&str]) -> Output {
        self.exec_cmd(guest_name, agent, args).output().unwrap()
    }

    /// The audit log's records as JSON values.
    pub fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.audit_path())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    pub fn records_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.records()
            .into_iter()
            .filter(|r| r["kind"] == kind)
            .collect()
    }

    /// Every byte of every file under the state dir.
    pub fn state_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(self.home()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
        files
    }
}

/// Starts `cmd` with `input` on its stdin and its output captured.
pub fn feed(mut cmd: Command, input: &[u8]) -> Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child may already be dead (killed); a broken pipe is fine then.
    let _ = child.stdin.take().unwrap().write_all(input);
    child
}

/// Starts `runner ARGS` in `world` with `env` added and `input` on stdin.
pub fn spawn_with_input(world: &World, args: &[&str], input: &[u8], env: &[(&str, &str)]) -> Child {
    let mut cmd = world.cmd(args);
    cmd.envs(env.iter().copied());
    feed(cmd, input)
}

pub fn run_with_input(world: &World, args: &[&str], input: &[u8]) -> Output {
    spawn_with_input(world, args, input, &[])
        .wait_with_output()
        .unwrap()
}

pub fn run_env(world: &World, args: &[&str], env: &[(&str, &str)]) -> Output {
    world.cmd(args).envs(env.iter().copied()).output().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Both streams, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    )
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Compares `actual` with tests/e2e/golden/NAME.txt; UPDATE_GOLDEN=1 rewrites it.
pub fn golden(name: &str, actual: &str) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/e2e/golden/{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "{name}: run with UPDATE_GOLDEN=1 and review the diff"
    );
}
