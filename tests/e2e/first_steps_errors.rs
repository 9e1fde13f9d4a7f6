//! The errors a new user meets in the first hour say what went wrong and the
//! one-line fix, for someone who has only the binary: `init --home FILE`,
//! `init` into a directory of other files (never "already initialised"),
//! `init --passphrase` saying a lost passphrase is lost, and hints that cite
//! docs/ also giving the fix. The texts are golden (paths replaced by `TMP`).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::harness::*;

/// `runner ARGS` in `dir` with a clean environment plus `env`.
fn runner_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(RUNNER)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(env.iter().copied())
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The command's stderr with the temp dir's path replaced by `TMP`.
fn shown(dir: &Path, args: &[&str], out: &Output) -> String {
    let err = stderr(out).replace(dir.to_str().unwrap(), "TMP");
    format!(
        "$ runner {}\n[exit {:?}]\n{err}\n",
        args.join(" "),
        out.status.code()
    )
}

#[test]
fn init_errors_say_what_the_path_is_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut transcript = String::new();
    std::fs::write(dir.join("file"), "mine\n").unwrap();
    let args = ["--home", "file", "init"];
    let out = runner_in(dir, &args, &[]);
    assert_eq!(out.status.code(), Some(1));
    transcript += &shown(dir, &args, &out);
    assert_eq!(std::fs::read_to_string(dir.join("file")).unwrap(), "mine\n");

    let notes = dir.join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("todo.txt"), "x").unwrap();
    let args = ["--home", "notes", "init"];
    let out = runner_in(dir, &args, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(!err.contains("already initialised"), "{err}");
    transcript += &shown(dir, &args, &out);
    let left: Vec<_> = std::fs::read_dir(&notes).unwrap().collect();
    assert_eq!(
        left.len(),
        1,
        "init wrote into a directory that is not its own"
    );

    let args = ["--home", "state", "init"];
    assert!(runner_in(dir, &args, &[]).status.success());
    let out = runner_in(dir, &args, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already initialised"));
    transcript += &shown(dir, &args, &out);
    golden("errors_init", &transcript);
}

#[test]
fn init_passphrase_says_a_lost_passphrase_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [("SCOPEHOLD_PASSPHRASE", "correct horse battery staple 42")];
    let out = runner_in(tmp.path(), &["--home", "s", "init", "--passphrase"], &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("a lost passphrase cannot be recovered"),
        "{}",
        stdout(&out)
    );
    let out = runner_in(tmp.path(), &["--home", "k", "init"], &[]);
    assert!(!stdout(&out).contains("passphrase"), "{}", stdout(&out));
}

#[test]
fn hints_that_cite_docs_also_give_the_fix() {
    let world = World::new();
    let dir = world.tmp.path();
    let mut transcript = String::new();
    let cases = [
        "[projects.p]\n[agents.a]\nproject = \"p\n",
        "[projects.p]\n[agents.a]\nproject = \"p\"\nallowed_hosts = \"https://x.example\"\n",
    ];
    for policy in cases {
        std::fs::write(world.config(), policy).unwrap();
        let out = world.run(&["explain", guest("hello").to_str().unwrap(), "--agent", "a"]);
        assert_ne!(out.status.code(), Some(0));
        let err = stderr(&out);
        let hint = err.lines().find(|l| l.starts_with("hint: ")).expect(&err);
        assert!(hint.contains("docs/"), "{hint}");
        assert!(hint.contains("e.g. "), "no fix in {hint}");
        transcript += &format!(
            "{policy}---\n{}\n",
            err.replace(dir.to_str().unwrap(), "TMP")
        );
    }
    golden("errors_policy_hints", &transcript);
}

#[test]
fn init_writes_a_starter_tasks_toml_only_where_none_exists() {
    let world = World::new();
    std::fs::remove_dir_all(world.home()).unwrap();
    std::fs::remove_file(world.config()).unwrap();
    let out = world.ok(&["init"]);
    assert!(stdout(&out).contains("wrote a starter"), "{}", text(&out));
    let starter = std::fs::read_to_string(world.config()).unwrap();
    assert!(starter.contains("runner grant posthog-read --agent support-bot"));
    // It loads (it declares nothing yet), and the CLI fills it in place.
    world.ok(&["project", "add", "analytics"]);
    world.ok(&["agent", "add", "support-bot", "--project", "analytics"]);
    let filled = std::fs::read_to_string(world.config()).unwrap();
    let comments: String = starter.lines().take_while(|l| l.starts_with('#')).collect();
    let kept: String = filled.lines().take_while(|l| l.starts_with('#')).collect();
    assert_eq!(kept, comments, "comments kept, first:\n{filled}");
    assert!(filled.contains("[projects.analytics]"), "{filled}");
    assert!(filled.contains("[agents.support-bot]"), "{filled}");
    // An existing tasks.toml is never overwritten.
    let other = World::new();
    std::fs::remove_dir_all(other.home()).unwrap();
    let before = std::fs::read(other.config()).unwrap();
    let out = other.ok(&["init"]);
    assert!(!stdout(&out).contains("wrote a starter"), "{}", text(&out));
    assert_eq!(std::fs::read(other.config()).unwrap(), before);
    let lock = other.config().with_file_name(".tasks.toml.lock");
    assert!(!lock.exists(), "init left its directory untouched");
}

#[test]
fn a_missing_tasks_toml_says_how_to_get_one() {
    let world = World::new();
    std::fs::remove_file(world.config()).unwrap();
    let out = world.run(&["audit", "grants"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("`runner init` writes a starter tasks.toml"),
        "{}",
        text(&out)
    );
}
