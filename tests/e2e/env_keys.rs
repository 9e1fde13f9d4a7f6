//! Keys stay out of tasks.toml's `env`: a value that looks like a provider
//! key (a known prefix, or a long random-looking string) is refused by
//! `exec` and `explain` with a hint to store it as a secret, and the error
//! never shows it; `explain` never prints an env value in full.

use crate::harness::*;

fn policy_with_env(env: &str) -> String {
    format!("{POLICY}\n[agents.reporter]\nproject = \"analytics\"\nenv = {{ {env} }}\n")
}

#[test]
fn a_provider_key_in_env_is_refused_without_showing_it() {
    let key = canary(); // phc_CANARY..., a PostHog-style key
    let random = "Zx8Qp2Lr7Tn4Vb1Kc9Mw3Hy6Gd5Fs0Ja";
    for value in [
        key.as_str(),
        "ghp_0123456789abcdefghijABCDEFGHIJ012345",
        random,
    ] {
        let world = World::new();
        std::fs::write(
            world.config(),
            policy_with_env(&format!("POSTHOG_KEY = \"{value}\"")),
        )
        .unwrap();
        for command in ["exec", "explain"] {
            let out = world.run(&[
                command,
                guest("hello").to_str().unwrap(),
                "--agent",
                "reporter",
            ]);
            assert!(!out.status.success(), "{command} accepted {value}");
            assert!(!contains(&out.stdout, value) && !contains(&out.stderr, value));
            let err = stderr(&out);
            assert!(
                err.contains("env POSTHOG_KEY: the value looks like a credential"),
                "{err}"
            );
            assert!(err.contains("hint: remove POSTHOG_KEY from env and store the value as a secret: `runner secret set posthog-key"), "{err}");
            assert!(err.contains("tasks.toml:"), "no location: {err}");
        }
        assert!(world.records_of("exec.start").is_empty());
        let log = std::fs::read(world.audit_path()).unwrap();
        assert!(!contains(&log, value));
    }
}

#[test]
fn explain_masks_env_values() {
    let world = World::new();
    let env = "LOG_LEVEL = \"verbose-debug-mode\", REGION = \"eu\", COMMIT = \"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3\"";
    std::fs::write(world.config(), policy_with_env(env)).unwrap();
    let out = world.ok(&[
        "explain",
        guest("hello").to_str().unwrap(),
        "--agent",
        "reporter",
    ]);
    let shown = stdout(&out);
    assert!(shown.contains("LOG_LEVEL=\"ver…\" (18 chars)"), "{shown}");
    assert!(shown.contains("REGION=\"…\" (2 chars)"), "{shown}");
    for value in [
        "verbose-debug-mode",
        "\"eu\"",
        "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
    ] {
        assert!(!shown.contains(value), "{value} shown in full: {shown}");
    }
    // Ordinary values (a commit id is hex) still run.
    let out = world.exec("hello", "reporter", &[]);
    assert!(out.status.success(), "{}", text(&out));
}
