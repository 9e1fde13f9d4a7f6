//! What users of other CLIs take for granted: `--help` per command, shell
//! completions and a man page generated from the same definition, and a
//! `--version` naming the wasmtime and the on-disk formats this binary reads.
//! Help and completions are golden files: a changed flag shows in review.

use std::process::Command;

use crate::harness::*;

fn runner(args: &[&str]) -> std::process::Output {
    Command::new(RUNNER).args(args).output().unwrap()
}

fn ok_stdout(args: &[&str]) -> String {
    let out = runner(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    stdout(&out)
}

#[test]
fn help_is_golden() {
    golden("help", &ok_stdout(&["--help"]));
    golden("help_exec", &ok_stdout(&["exec", "--help"]));
    golden(
        "help_audit_verify",
        &ok_stdout(&["audit", "verify", "--help"]),
    );
    // The hidden `man` command is not advertised in --help.
    assert!(!ok_stdout(&["--help"]).contains("\n  man "));
}

#[test]
fn completions_cover_every_command_and_are_golden() {
    for shell in ["bash", "zsh", "fish"] {
        let script = ok_stdout(&["completions", shell]);
        for word in [
            "exec", "explain", "digest", "audit", "verify", "anchor", "agent",
        ] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
        golden(&format!("completions_{shell}"), &script);
    }
    let out = runner(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("possible values: bash"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn man_page_is_roff_of_the_same_commands() {
    let page = ok_stdout(&["man"]);
    assert!(page.contains(".TH runner 1"), "{page}");
    for command in ["init", "exec", "explain", "audit", "completions"] {
        assert!(page.contains(command), "man page lacks {command}");
    }
}

#[test]
fn version_names_wasmtime_and_the_formats_it_reads() {
    let long = ok_stdout(&["--version"]);
    let lines: Vec<&str> = long.lines().collect();
    assert!(lines[0].starts_with("runner "), "{long}");
    assert!(lines.contains(&"wasmtime 48.0.8"), "{long}");
    assert!(lines.contains(&"store format 2"), "{long}");
    assert!(lines.contains(&"audit format 1 (checkpoints v1)"), "{long}");
    // -V stays one line, for scripts.
    assert_eq!(ok_stdout(&["-V"]).lines().count(), 1);
}

#[test]
fn a_closed_pipe_ends_completions_quietly() {
    use std::io::Read;
    let mut child = Command::new(RUNNER)
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
