//! Parsing tests: valid files into the structs, and every rejection pointing
//! at the right line and column with a hint. Exact error texts are pinned by
//! the golden files (`golden_tests.rs`).

use std::path::Path;

use time::macros::datetime;

use super::*;
use crate::names::{AgentName, ProjectName, SecretName};

const EXAMPLE: &str = r#"
[projects.analytics]
description = "Product analytics"

[projects.billing]
description = "Payments"

[agents.support-analysis]
project = "analytics"
description = "Summarises support tickets against product analytics"
grants = [
  { secret = "posthog-read", expires = "2027-12-31T00:00:00Z" },
]

[agents.hello]
project = "analytics"
description = "Says hello; needs no secret"
"#;

fn parse(source: &str) -> Result<Policy, PolicyError> {
    Policy::parse(source, Path::new("tasks.toml"))
}

fn secret(name: &str) -> SecretName {
    SecretName::new(name).unwrap()
}

#[test]
fn example_parses_into_the_structs() {
    let policy = parse(EXAMPLE).unwrap();
    let projects: Vec<_> = policy.projects().map(|p| p.name.as_str()).collect();
    assert_eq!(projects, ["analytics", "billing"]);
    assert_eq!(
        policy.projects().nth(1).unwrap().description.as_deref(),
        Some("Payments")
    );
    let expected = Agent {
        name: AgentName::new("support-analysis").unwrap(),
        project: ProjectName::new("analytics").unwrap(),
        description: Some("Summarises support tickets against product analytics".into()),
        grants: vec![Grant {
            secret: secret("posthog-read"),
            expires: Some(datetime!(2027-12-31 0:00 UTC)),
            hosts: Vec::new(),
            inject: Default::default(),
            approve: false,
        }],
        confinement: Default::default(),
        allowed_hosts: None,
    };
    assert_eq!(policy.agent("support-analysis").unwrap(), &expected);
    assert!(policy.agent("hello").unwrap().grants.is_empty());
    let agents: Vec<_> = policy.agents().map(|a| a.name.as_str()).collect();
    assert_eq!(agents, ["hello", "support-analysis"]);
    assert_eq!(policy.path(), Path::new("tasks.toml"));
    assert_eq!(policy.digest(), blake3::hash(EXAMPLE.as_bytes()));
}

#[test]
fn repository_tasks_toml_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tasks.toml");
    let policy = Policy::load(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(policy.digest(), blake3::hash(&bytes));
    assert!(policy.agent("support-analysis").is_ok());
    assert!(policy.agent("hello").unwrap().grants.is_empty());
}

#[test]
fn empty_file_is_an_empty_policy() {
    let policy = parse("").unwrap();
    assert_eq!(policy.agents().count() + policy.projects().count(), 0);
}

#[test]
fn dates_are_normalised_to_utc_and_native_datetimes_accepted() {
    let source = r#"
[projects.p]
[agents.a]
project = "p"
grants = [
  { secret = "s1", expires = "2027-06-30T12:00:00+02:00" },
  { secret = "p/s2", expires = 2027-06-30T10:00:00Z },
  { secret = "s3", expires = 2027-06-30 05:00:00.25-05:00 },
]
"#;
    let policy = parse(source).unwrap();
    let grants = &policy.agent("a").unwrap().grants;
    assert_eq!(grants[0].expires, Some(datetime!(2027-06-30 10:00 UTC)));
    assert_eq!(grants[0].expires.unwrap().offset(), time::UtcOffset::UTC);
    assert_eq!(
        grants[1].secret,
        secret("s2"),
        "own-project qualifier dropped"
    );
    assert_eq!(grants[1].expires, Some(datetime!(2027-06-30 10:00 UTC)));
    assert_eq!(
        grants[2].expires,
        Some(datetime!(2027-06-30 10:00:00.25 UTC))
    );
}

#[test]
fn digest_tracks_exact_bytes() {
    let a = parse(EXAMPLE).unwrap();
    let b = parse(&format!("{EXAMPLE}\n")).unwrap();
    assert_ne!(a.digest(), b.digest());
}

#[test]
fn unknown_agent_lists_known_agents() {
    let err = parse(EXAMPLE).unwrap().agent("nobody").unwrap_err();
    assert!(matches!(err, PolicyError::UnknownAgent { .. }));
    assert_eq!(err.hint().unwrap(), "known agents: hello, support-analysis");
    let err = parse("").unwrap().agent("x").unwrap_err();
    assert!(
        err.hint().unwrap().contains("defines no agents"),
        "{:?}",
        err.hint()
    );
}

#[test]
fn unreadable_file_names_path_with_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let err = Policy::load(&path).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(err.hint().unwrap(), crate::policy::error::NO_POLICY_HINT);
    let err = Policy::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, PolicyError::Unsafe(_)),
        "a directory is not a policy"
    );
}

#[test]
fn non_utf8_file_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.toml");
    std::fs::write(&path, b"[projects.a]\ndescription = \"\xff\"\n").unwrap();
    let err = Policy::load(&path).unwrap_err();
    assert_eq!(err.location().map(|l| (l.line, l.column)), Some((2, 16)));
    assert_eq!(err.hint().unwrap(), "save the file as UTF-8");
}

/// (case, source, expected `tasks.toml:LINE:COL`, a word the hint must contain)
const REJECTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "unknown top-level key",
        "[projects.p]\n[agent.a]\n",
        "2:2",
        "`agents`",
    ),
    (
        "unknown agent key",
        "[projects.p]\n[agents.a]\nproject = \"p\"\ncolour = 1\n",
        "4:1",
        "`grants`",
    ),
    (
        "unknown grant key",
        "[projects.p]\n[agents.a]\nproject = \"p\"\ngrants = [{ secret = \"s\", until = 1 }]\n",
        "4:27",
        "`expires`",
    ),
    (
        "bad date",
        "[projects.p]\n[agents.a]\nproject = \"p\"\ngrants = [{ secret = \"s\", expires = \"2027-02-30T00:00:00Z\" }]\n",
        "4:37",
        "RFC 3339",
    ),
    (
        "grant across projects",
        "[projects.p]\n[projects.q]\n[agents.a]\nproject = \"p\"\ngrants = [\n  { secret = \"q/s\" },\n]\n",
        "6:14",
        "own project",
    ),
    (
        "unknown project",
        "[projects.p]\n[agents.a]\nproject = \"x\"\n",
        "3:11",
        "[projects.x]",
    ),
    (
        "duplicate grant",
        "[projects.p]\n[agents.a]\nproject = \"p\"\ngrants = [{ secret = \"s\" },\n  { secret = \"p/s\" }]\n",
        "5:14",
        "line 4",
    ),
    (
        "bad agent name",
        "[projects.p]\n[agents.A]\nproject = \"p\"\n",
        "2:9",
        "rename",
    ),
    ("bad project name", "[projects.\"p q\"]\n", "1:11", "rename"),
    (
        "wrong type",
        "[projects.p]\n[agents.a]\nproject = \"p\"\ngrants = { secret = \"s\" }\n",
        "4:10",
        "type",
    ),
    (
        "missing project",
        "[projects.p]\n[agents.a]\ndescription = \"d\"\n",
        "2:1",
        "project =",
    ),
    ("syntax", "[projects.p\n", "1:12", "TOML"),
];

#[test]
fn rejections_point_at_line_and_column_with_hint() {
    for (case, source, at, hint_word) in REJECTIONS {
        let err = parse(source).expect_err(case);
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("tasks.toml:{at}: ")),
            "{case}: {shown}"
        );
        assert!(shown.contains("\n  |"), "{case}: no snippet in {shown}");
        let hint = err.hint().unwrap_or_default();
        assert!(hint.contains(hint_word), "{case}: hint {hint:?}");
    }
}

#[test]
fn cross_project_message_names_both_projects() {
    let source = "[projects.analytics]\n[projects.billing]\n[agents.support-analysis]\n\
                  project = \"analytics\"\ngrants = [{ secret = \"billing/billing-admin\" }]\n";
    let err = parse(source).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains(
        "agent \"support-analysis\" is in project \"analytics\" but is granted \
         \"billing/billing-admin\" from project \"billing\""
    ));
    assert_eq!(
        err.hint().unwrap(),
        "an agent may only be granted secrets of its own project; move the agent to project \
         \"billing\" or store the secret in \"analytics\""
    );
}

#[test]
fn confinement_keys_parse_with_defaults_and_paths_relative_to_the_file() {
    use std::time::Duration;

    use super::{DirMode, Limits};
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policy/ok_confinement.toml"),
    )
    .unwrap();
    let policy = Policy::parse(&source, std::path::Path::new("/etc/sh/tasks.toml")).unwrap();
    let c = &policy.agent("support-analysis").unwrap().confinement;
    assert_eq!(c.limits.timeout, Duration::from_millis(1500));
    assert_eq!((c.limits.memory, c.limits.instances), (64 << 20, 8));
    assert_eq!((c.limits.secret_calls, c.limits.output), (10, 1000));
    assert_eq!(c.dirs[0].host, std::path::Path::new("/etc/sh/data"));
    assert_eq!(
        (c.dirs[0].guest.as_str(), c.dirs[0].mode),
        ("/data", DirMode::ReadOnly)
    );
    assert_eq!(
        (c.dirs[1].guest.as_str(), c.dirs[1].mode),
        ("/out", DirMode::ReadWrite)
    );
    assert_eq!(c.env.get("LOG_LEVEL").map(String::as_str), Some("info"));
    assert_eq!(c.components.len(), 1);
    let bare = Policy::parse(
        "[projects.a]\n[agents.b]\nproject = \"a\"\n",
        "t.toml".as_ref(),
    )
    .unwrap();
    let c = &bare.agent("b").unwrap().confinement;
    assert_eq!(c.limits, Limits::default());
    assert!(c.dirs.is_empty() && c.env.is_empty() && c.components.is_empty());
}

#[test]
fn audit_sync_defaults_to_releases_and_reads_every_record() {
    assert_eq!(parse(EXAMPLE).unwrap().audit_sync(), AuditSync::Releases);
    let every = format!("[audit]\nsync = \"every-record\"\n{EXAMPLE}");
    assert_eq!(parse(&every).unwrap().audit_sync(), AuditSync::EveryRecord);
    let releases = "[audit]\nsync = \"releases\"\n";
    assert_eq!(parse(releases).unwrap().audit_sync(), AuditSync::Releases);
    let err = parse("[audit]\nsync = \"always\"\n").unwrap_err();
    assert_eq!(err.location().map(|l| (l.line, l.column)), Some((2, 8)));
}

#[test]
fn scripts_are_refused_unless_allowed_any_or_by_digest() {
    use super::{ComponentDigest, ScriptPolicy};
    let agent = |scripts: &str| {
        let text = format!("[projects.a]\n[agents.b]\nproject = \"a\"\n{scripts}");
        let policy = Policy::parse(&text, "t.toml".as_ref()).unwrap();
        policy.agent("b").unwrap().confinement.scripts.clone()
    };
    let (pinned, other) = (ComponentDigest::of(b"print(1)"), ComponentDigest::of(b"x"));
    assert_eq!(agent(""), ScriptPolicy::Refused);
    assert!(!agent("").allows(&pinned));
    assert!(agent("scripts = \"any\"\n").allows(&other));
    let list = agent(&format!("scripts = [\"{pinned}\"]\n"));
    assert!(list.allows(&pinned) && !list.allows(&other));
    assert!(!agent("scripts = []\n").allows(&pinned));
}

#[test]
fn state_backend_defaults_to_file_reads_postgres_and_is_strict() {
    assert_eq!(parse(EXAMPLE).unwrap().backend(), StateBackend::File);
    let pg = format!("[state]\nbackend = \"postgres\"\n{EXAMPLE}");
    assert_eq!(parse(&pg).unwrap().backend(), StateBackend::Postgres);
    let file = "[state]\nbackend = \"file\"\n";
    assert_eq!(parse(file).unwrap().backend(), StateBackend::File);
    let err = parse("[state]\nbackend = \"mysql\"\n").unwrap_err();
    assert_eq!(err.location().map(|l| (l.line, l.column)), Some((2, 11)));
    let err = parse("[state]\nurl = \"postgresql://u:pw@h/db\"\n").unwrap_err();
    assert_eq!(err.location().map(|l| l.line), Some(2));
}

#[test]
fn backend_of_reads_state_alone_and_refuses_a_file_that_does_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.toml");
    assert_eq!(Policy::backend_of(&path).unwrap(), StateBackend::File);
    // Another table's error is the command's business that uses it.
    std::fs::write(
        &path,
        "[state]\nbackend = \"postgres\"\n[agents.a]\nproject = 7\n",
    )
    .unwrap();
    assert_eq!(Policy::backend_of(&path).unwrap(), StateBackend::Postgres);
    std::fs::write(&path, "[state]\nbackend = \"postgres\"\nurl = \"x\"\n").unwrap();
    assert!(Policy::backend_of(&path).is_err());
    std::fs::write(&path, "[state\nbackend = \"postgres\"\n").unwrap();
    assert!(Policy::backend_of(&path).is_err());
}

#[test]
fn loaded_again_only_when_the_file_changed() {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.toml");
    std::fs::write(&path, EXAMPLE).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Just written: its stamp cannot vouch for it yet; read at each load.
    let fresh = Policy::load_trusted_again(&path, None).unwrap();
    let again = Policy::load_trusted_again(&path, Some(&fresh)).unwrap();
    assert!(fresh.stamp.is_none() && !Arc::ptr_eq(&fresh.policy, &again.policy));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let first = Policy::load_trusted_again(&path, Some(&again)).unwrap();
    let same = Policy::load_trusted_again(&path, Some(&first)).unwrap();
    assert!(Arc::ptr_eq(&first.policy, &same.policy), "parsed again");
    // A same-size edit with its mtime put back is still seen.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, EXAMPLE.replace("Payments", "Pavments")).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(mtime).unwrap();
    let edited = Policy::load_trusted_again(&path, Some(&same)).unwrap();
    let billing = ProjectName::new("billing").unwrap();
    let description = edited.policy.projects[&billing].description.as_deref();
    assert_eq!(description, Some("Pavments"));
    // The file is checked at every load, changed or not.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let unsafe_file = Policy::load_trusted_again(&path, Some(&edited));
    assert!(matches!(unsafe_file, Err(PolicyError::Unsafe(_))));
}
