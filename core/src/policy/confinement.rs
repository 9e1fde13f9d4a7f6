//! What an agent's task may see besides secrets: granted directories,
//! explicit environment variables, its limits, and the code allowed to run as
//! the agent.
//!
//! Guarantees: a directory's guest path is absolute and free of `..`, a
//! relative host path is resolved against the directory of tasks.toml (never
//! the working directory of the runner), mode is read-only unless written
//! `rw`; environment names are plain identifiers; component pins are exact
//! blake3 digests.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use super::limits::Limits;

/// The sandbox settings of one agent. The default is the tightest: no
/// directories, no environment, default limits, any component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confinement {
    pub limits: Limits,
    pub dirs: Vec<DirGrant>,
    /// Exactly these variables, in name order; nothing is inherited.
    pub env: BTreeMap<String, String>,
    /// When not empty, the only components that may run as the agent.
    pub components: Vec<ComponentDigest>,
    /// The scripts (`runner exec SCRIPT.py`) that may run as the agent.
    pub scripts: ScriptPolicy,
}

/// Which scripts may run as an agent (`scripts` in tasks.toml). Scripts are
/// code written at run time, often by a model, so none runs unless the
/// operator says so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ScriptPolicy {
    /// `scripts` not set: no script runs as the agent.
    #[default]
    Refused,
    /// `scripts = "any"`.
    Any,
    /// `scripts = ["blake3:..."]`: only scripts with these digests.
    Pinned(Vec<ComponentDigest>),
}

impl ScriptPolicy {
    /// Whether a script with `digest` may run under this policy.
    pub fn allows(&self, digest: &ComponentDigest) -> bool {
        match self {
            ScriptPolicy::Refused => false,
            ScriptPolicy::Any => true,
            ScriptPolicy::Pinned(pins) => pins.contains(digest),
        }
    }
}

impl Confinement {
    /// Whether a component with `digest` may run as the agent: yes when no
    /// component is pinned, else only a pinned one.
    pub fn allows(&self, digest: &ComponentDigest) -> bool {
        self.components.is_empty() || self.components.contains(digest)
    }
}

/// A host directory preopened for the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// Resolved against the directory of tasks.toml when written relative.
    pub host: PathBuf,
    /// Absolute, `/`-separated, without `.` or `..`.
    pub guest: String,
    pub mode: DirMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirMode {
    ReadOnly,
    ReadWrite,
}

impl DirMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DirMode::ReadOnly => "ro",
            DirMode::ReadWrite => "rw",
        }
    }

    pub(super) fn parse(text: &str) -> Result<DirMode, String> {
        match text {
            "ro" => Ok(DirMode::ReadOnly),
            "rw" => Ok(DirMode::ReadWrite),
            other => Err(format!("mode {other:?} is neither \"ro\" nor \"rw\"")),
        }
    }
}

/// The blake3 digest of a component's exact `.wasm` bytes (or of a script's
/// exact text), written `blake3:<64 lowercase hex digits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentDigest(pub blake3::Hash);

impl ComponentDigest {
    pub fn of(wasm: &[u8]) -> ComponentDigest {
        ComponentDigest(blake3::hash(wasm))
    }

    pub fn parse(text: &str) -> Result<ComponentDigest, String> {
        let hex = text
            .strip_prefix("blake3:")
            .ok_or_else(|| format!("{text:?} does not start with \"blake3:\""))?;
        let lower = hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex.len() != 64 || !lower {
            return Err(format!(
                "{text:?} is not \"blake3:\" and 64 lowercase hex digits"
            ));
        }
        blake3::Hash::from_hex(hex)
            .map(ComponentDigest)
            .map_err(|e| e.to_string())
    }
}

impl fmt::Display for ComponentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blake3:{}", self.0.to_hex())
    }
}

/// Checks a guest path: absolute, no `.`/`..`, no empty segments except the root.
pub(super) fn guest_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err(format!("guest path {text:?} is not absolute"));
    }
    if text.contains('\0') || text.contains('\\') {
        return Err(format!("guest path {text:?} contains a NUL or a backslash"));
    }
    let bad = text.split('/').skip(1).any(|seg| seg == "." || seg == "..");
    if bad || (text.len() > 1 && text.split('/').skip(1).any(str::is_empty)) {
        return Err(format!(
            "guest path {text:?} has an empty, `.` or `..` segment"
        ));
    }
    Ok(text.to_owned())
}

/// Resolves a host path against the directory holding tasks.toml.
pub(super) fn host_path(text: &str, policy_file: &Path) -> Result<PathBuf, String> {
    if text.is_empty() || text.contains('\0') {
        return Err("host path is empty or contains a NUL".into());
    }
    let path = Path::new(text);
    if path.is_absolute() {
        return Ok(path.to_owned());
    }
    let base = policy_file.parent().unwrap_or(Path::new(""));
    // Written without a leading `./`, so "./data" and "data" look the same.
    let parts = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir));
    Ok(parts.fold(base.to_owned(), |dir, part| dir.join(part)))
}

/// Checks an environment variable's name and value.
pub(super) fn env_var(name: &str, value: &str) -> Result<(), String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "environment variable name {name:?} is not a plain identifier"
        ));
    }
    if value.contains('\0') {
        return Err(format!("the value of {name} contains a NUL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_round_trip_and_reject_variants() {
        let d = ComponentDigest::of(b"wasm");
        assert_eq!(ComponentDigest::parse(&d.to_string()), Ok(d));
        let upper = d.to_string().to_uppercase().replace("BLAKE3", "blake3");
        for bad in [
            "",
            "blake3:",
            "sha256:00",
            &upper,
            &d.to_string()[..70],
            &d.0.to_hex(),
        ] {
            assert!(ComponentDigest::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn guest_and_host_paths() {
        assert_eq!(guest_path("/data"), Ok("/data".into()));
        assert_eq!(guest_path("/"), Ok("/".into()));
        for bad in ["data", "/a/../b", "/a/./b", "/a//b", "/a/", "/.."] {
            assert!(guest_path(bad).is_err(), "{bad} accepted");
        }
        let file = Path::new("/etc/scopehold/tasks.toml");
        assert_eq!(host_path("./data", file), Ok("/etc/scopehold/data".into()));
        assert_eq!(host_path("/srv/x", file), Ok("/srv/x".into()));
        assert!(host_path("", file).is_err());
    }

    #[test]
    fn env_names() {
        assert!(env_var("LOG_LEVEL", "info").is_ok());
        for bad in ["", "1A", "A-B", "A=B", "Ä"] {
            assert!(env_var(bad, "x").is_err(), "{bad} accepted");
        }
        assert!(env_var("A", "x\0").is_err());
    }
}
