//! The README's first steps, run verbatim from a fresh clone: the commands
//! are read from README.md itself (the "In a few commands" section: its
//! shell block, the example task's build line and the install line), so the
//! test fails as soon as the README and the runner's behaviour diverge.
//!
//! `runner` is the binary under test, put on the PATH as the install line
//! would (building it again in release would only cost time); the install
//! line is checked to name this package's `runner` binary and a lock file
//! that is current (`--locked` would fail otherwise). The example task's
//! build runs as written, in the clone; its target dir is kept between test
//! runs (a symlink), so only the first run compiles the guest's crates.
//! The clone is of the committed tree: commit a README change to test it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::harness::*;

/// The section of README.md the steps are in.
const SECTION: &str = "## In a few commands";

/// The steps of the section: the commands in its prose (`cargo ...` in
/// backquotes, line breaks inside them joined), then each line of its
/// shell block with its comment removed.
fn steps(readme: &str) -> (Vec<String>, Vec<String>) {
    let start = readme.find(SECTION).expect("README has the section");
    let section = &readme[start + SECTION.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let block_start = section.find("```sh\n").expect("the section has a sh block") + 6;
    let block = &section[block_start..];
    let block = &block[..block.find("```").expect("the block ends")];
    let prose = section[..block_start].split('`').skip(1).step_by(2);
    let prose = prose
        .map(|span| span.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|span| span.starts_with("cargo "))
        .collect();
    let shell = block
        .lines()
        .map(|line| line.split(" #").next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    (prose, shell)
}

/// A fresh clone of the repository under test (its committed tree).
fn clone_into(dir: &Path) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let repo = dir.join("scopehold");
    let out = Command::new("git")
        .args(["clone", "--quiet"])
        .arg(workspace)
        .arg(&repo)
        .output()
        .unwrap();
    assert!(out.status.success(), "git clone failed:\n{}", text(&out));
    // The guest build's output, kept between runs (see the module doc).
    let kept = workspace.join("target/readme-first-steps");
    std::fs::create_dir_all(&kept).unwrap();
    std::os::unix::fs::symlink(&kept, repo.join("target")).unwrap();
    repo
}

/// `sh -c LINE` in the clone, as a user at a shell would type it: HOME is
/// the test's, `runner` on the PATH, the demo key in $POSTHOG_KEY.
fn sh(repo: &Path, home: &Path, bin: &Path, line: &str, key: &str) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.to_owned()];
    paths.extend(std::env::split_paths(&path));
    let mut cmd = Command::new("sh");
    cmd.env_clear()
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env("HOME", home)
        .env("POSTHOG_KEY", key);
    // The toolchain of the user who runs the tests (their HOME is replaced).
    for name in ["CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    if std::env::var_os("CARGO_HOME").is_none() {
        let real = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        cmd.env("CARGO_HOME", real.join(".cargo"));
        cmd.env("RUSTUP_HOME", real.join(".rustup"));
    }
    let out = cmd
        .args(["-c", line])
        .current_dir(repo)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "README step `{line}` failed:\n{}",
        text(&out)
    );
    out
}

#[test]
fn readme_first_steps_work_verbatim_from_a_fresh_clone() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = clone_into(tmp.path());
    let home = tmp.path().join("home");
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(RUNNER, bin.join("runner")).unwrap();
    let (prose, shell) = steps(&std::fs::read_to_string(repo.join("README.md")).unwrap());
    let install = "cargo install --path runner --locked";
    assert!(
        prose.iter().any(|c| c == install),
        "install line: {prose:?}"
    );
    check_install_line(&repo);
    let key = canary();
    let mut seen = String::new();
    for line in prose.iter().filter(|c| *c != install).chain(&shell) {
        let out = sh(&repo, &home, &bin, line, &key);
        seen += &format!("$ {line}\n{}{}", stdout(&out), stderr(&out));
    }
    assert!(!seen.contains(&key), "the key was shown:\n{seen}");
    for expected in [
        "posthog-read: resolved",
        "billing-admin: denied",
        "secret.resolve",
        "revoked posthog-read from support-bot",
    ] {
        assert!(seen.contains(expected), "no {expected:?} in:\n{seen}");
    }
    let anchors = std::fs::read_to_string(home.join("audit-anchors.txt")).unwrap();
    assert_eq!(anchors.lines().count(), 1, "{anchors}");
}

/// `cargo install --path runner --locked` would install this package's
/// `runner` binary from the lock file as it is.
fn check_install_line(repo: &Path) {
    let manifest = std::fs::read_to_string(repo.join("runner/Cargo.toml")).unwrap();
    assert!(
        manifest.contains("[[bin]]\nname = \"runner\""),
        "{manifest}"
    );
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "-p",
            "runner",
            "--depth",
            "0",
        ])
        .current_dir(repo)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Cargo.lock is not current:\n{}",
        text(&out)
    );
}
