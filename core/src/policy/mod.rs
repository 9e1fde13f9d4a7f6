//! The policy: tasks.toml, which projects and agents exist and which secrets
//! each agent is granted, until when.
//!
//! Guarantees:
//! - Parsing is strict: unknown keys, invalid names, undefined projects,
//!   grants across projects, duplicate grants and bad dates are all errors,
//!   each naming the file, line and column and carrying a hint
//!   ([`PolicyError::hint`]). A loaded [`Policy`] is fully validated.
//! - Every grant is normalised to a [`SecretName`] in its agent's own project;
//!   an agent can never be granted another project's secret.
//! - [`Agent::check`] is the single "is this grant valid now?" decision, and
//!   is safe to call with any string a guest sends.
//! - [`Policy::digest`] is the blake3 hash of the exact file bytes, for the
//!   audit log.
//!
//! The file format is specified in `docs/tasks-toml.md`.

mod confinement;
mod edit;
mod edit_grants;
mod egress;
mod env_keys;
mod error;
mod file;
mod grant;
mod hygiene;
mod inject;
mod limits;
mod location;
mod schema;
mod snapshot;
mod tools;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use time::OffsetDateTime;

pub use confinement::{ComponentDigest, Confinement, DirError, DirGrant, DirMode, ScriptPolicy};
pub use edit::{Edit, EditError, Expiry, apply as apply_edit, known_agent};
pub use egress::{Destination, HostPattern, Scheme, allows};
pub use env_keys::masked as masked_env;
pub use error::{InvalidPolicy, PolicyError, Problem};
pub use file::{FileError, LockedPolicy};
pub use grant::{DenyReason, GrantCheck};
pub use hygiene::{UnsafePolicyFile, check_file_safety, open_trusted};
pub use inject::InjectAt;
pub use limits::{Limit, Limits, format_bytes, format_duration};
pub use location::Location;
pub(crate) use snapshot::Snapshot;
pub use tools::{Arg, ArgType, Language, MAX_ARGS, Tool, ToolKind};

use crate::broker::FileStamp;
use crate::input::{InputError, MAX_POLICY_BYTES, Opened};
use crate::names::{AgentName, ProjectName, SecretName, ToolName};

/// A loaded, validated tasks.toml.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    path: PathBuf,
    digest: blake3::Hash,
    projects: BTreeMap<ProjectName, Project>,
    agents: BTreeMap<AgentName, Agent>,
    settings: Settings,
    tools: BTreeMap<ToolName, Tool>,
}

/// A policy and the stamp of the file it was read from (`None` when that
/// stamp cannot vouch for the file: it was modified within the last
/// second).
#[derive(Debug, Clone)]
pub struct StampedPolicy {
    pub stamp: Option<FileStamp>,
    pub policy: Arc<Policy>,
}

/// The file-wide settings: `[audit]` and `[state]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    pub audit_sync: AuditSync,
    pub backend: StateBackend,
}

/// `[state] backend`: where the store and the audit log live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateBackend {
    /// Files in the state dir (no server, nothing to configure).
    #[default]
    File,
    /// One PostgreSQL database shared by every host (docs/postgres.md);
    /// the connection comes from `SCOPEHOLD_DATABASE_URL` or `--database-url`.
    Postgres,
}

/// `[audit] sync`: which of a run's audit records `runner exec` waits to
/// have on disk (`fdatasync`) before going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditSync {
    /// Only the records that release a value (resolutions, requests carrying
    /// an injected key). `exec.start`, `exec.end` and denials are written
    /// and become durable and anchored with the next synced record; a run
    /// that needs no secret pays no sync and never opens the store.
    #[default]
    Releases,
    /// Every record, each anchored by the checkpoint as soon as it is
    /// written: the store is opened before the task starts (for the
    /// checkpoint key), and every run pays at least two syncs.
    EveryRecord,
}

/// A `[projects.NAME]` table: the boundary agents and secrets belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub name: ProjectName,
    pub description: Option<String>,
}

/// An `[agents.NAME]` table: an identity a task runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub name: AgentName,
    /// Always one of the policy's projects.
    pub project: ProjectName,
    pub description: Option<String>,
    /// At most one grant per secret, in file order.
    pub grants: Vec<Grant>,
    /// Limits, directories, environment and component pins.
    pub confinement: Confinement,
    /// Where the agent's tasks may send HTTP requests; `None` (the key is
    /// absent) and an empty list both deny every request.
    pub allowed_hosts: Option<Vec<HostPattern>>,
}

/// Permission for an agent to resolve one secret of its project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// A secret in the agent's own project.
    pub secret: SecretName,
    /// In UTC; `None` means the grant does not expire.
    pub expires: Option<OffsetDateTime>,
    /// The only destinations the secret's value may travel to (injected or
    /// carried by the task); empty means none.
    pub hosts: Vec<HostPattern>,
    /// Where in a request the egress gate may inject the value
    /// (`Authorization: Bearer` unless the grant says otherwise).
    pub inject: InjectAt,
    /// The first resolution in a run waits for a person to allow it
    /// (`approve = true`; see `crate::broker::Approver`).
    pub approve: bool,
}

/// Why a policy file was not loaded: one that cannot be opened or read
/// (missing, most often) is a [`PolicyError::Read`], the same class as a
/// malformed one (`exec` exits 125 for both); one that is not a regular
/// file, too large, or controlled by others is refused.
fn not_loaded(error: UnsafePolicyFile) -> PolicyError {
    match error {
        UnsafePolicyFile::Input(
            InputError::Open { path, source } | InputError::Read { path, source },
        ) => PolicyError::Read { path, source },
        other => PolicyError::Unsafe(other),
    }
}

impl Policy {
    /// Reads and parses the policy file at `path`.
    /// Only a regular file within the size cap is read, without blocking.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let read = Opened::open(path, MAX_POLICY_BYTES).and_then(Opened::read_all);
        let bytes = read.map_err(UnsafePolicyFile::from).map_err(not_loaded)?;
        Policy::from_bytes(&bytes, path)
    }

    /// Like [`Policy::load`], for commands that act on the policy (`exec`,
    /// `explain`): refuses a file other users could have changed.
    /// The file is opened once; the handle checked is the handle read.
    pub fn load_trusted(path: &Path) -> Result<Policy, PolicyError> {
        let bytes = open_trusted(path)
            .and_then(|opened| Ok(opened.read_all()?))
            .map_err(not_loaded)?;
        Policy::from_bytes(&bytes, path)
    }

    /// The `[state] backend` of the policy file at `path`, for the commands
    /// that read nothing else of it: no file is the file backend; a file
    /// whose `[state]` reads is taken at its word even when other tables
    /// do not parse (those are the commands' business that use them); a
    /// file that does not read at all is its parse error.
    pub fn backend_of(path: &Path) -> Result<StateBackend, PolicyError> {
        if !path.exists() {
            return Ok(StateBackend::File);
        }
        let read = Opened::open(path, MAX_POLICY_BYTES).and_then(Opened::read_all);
        let bytes = read.map_err(UnsafePolicyFile::from).map_err(not_loaded)?;
        let text = String::from_utf8_lossy(&bytes);
        match schema::state_only(&text) {
            Some(backend) => Ok(backend),
            None => Policy::from_bytes(&bytes, path).map(|policy| policy.backend()),
        }
    }

    /// [`Policy::load_trusted`] for a caller that loads the same file run
    /// after run (`runner serve`): the file is opened and checked as there
    /// each time, and parsed again unless it is the very file `known` was
    /// read from (same [`FileStamp`], not modified within the last second,
    /// when a same-size rewrite could leave the stamp as it was).
    pub fn load_trusted_again(
        path: &Path,
        known: Option<&StampedPolicy>,
    ) -> Result<StampedPolicy, PolicyError> {
        let opened = open_trusted(path).map_err(not_loaded)?;
        let stamp = Some(FileStamp::from_meta(&opened.meta)).filter(|s| !s.is_recent());
        if let Some(known) = known
            && known.stamp.is_some()
            && known.stamp == stamp
            && known.policy.path == path
        {
            return Ok(known.clone());
        }
        let bytes = opened.read_all().map_err(|e| not_loaded(e.into()))?;
        let policy = Arc::new(Policy::from_bytes(&bytes, path)?);
        Ok(StampedPolicy { stamp, policy })
    }

    /// Parses the raw bytes of a policy file, which must be UTF-8.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Policy, PolicyError> {
        match std::str::from_utf8(bytes) {
            Ok(source) => Policy::parse(source, path),
            Err(e) => {
                let lossy = String::from_utf8_lossy(bytes);
                let cx = schema::Context {
                    source: &lossy,
                    path,
                };
                let at = e.valid_up_to();
                Err(cx.error(at..at + 1, Problem::NotUtf8))
            }
        }
    }

    /// Parses policy text; `path` is where it came from, used in errors and
    /// returned by [`Policy::path`].
    pub fn parse(source: &str, path: &Path) -> Result<Policy, PolicyError> {
        let built = schema::build(source, path)?;
        Ok(Policy {
            path: path.to_owned(),
            digest: blake3::hash(source.as_bytes()),
            projects: built.projects,
            agents: built.agents,
            settings: built.settings,
            tools: built.tools,
        })
    }

    /// The `[audit] sync` setting (default [`AuditSync::Releases`]).
    pub fn audit_sync(&self) -> AuditSync {
        self.settings.audit_sync
    }

    /// The `[state] backend` setting (default [`StateBackend::File`]).
    pub fn backend(&self) -> StateBackend {
        self.settings.backend
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// blake3 of the exact file bytes.
    pub fn digest(&self) -> blake3::Hash {
        self.digest
    }

    /// The agent called `name`; the error's hint lists the agents there are.
    pub fn agent(&self, name: &str) -> Result<&Agent, PolicyError> {
        // A linear scan avoids validating (and copying) an arbitrary string
        // into a name; policies hold a handful of agents.
        self.agents
            .values()
            .find(|agent| agent.name.as_str() == name)
            .ok_or_else(|| PolicyError::UnknownAgent {
                name: name.to_owned(),
                path: self.path.clone(),
                known: self.agents.keys().cloned().collect(),
            })
    }

    /// All agents, ordered by name.
    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents.values()
    }

    /// All projects, ordered by name.
    pub fn projects(&self) -> impl Iterator<Item = &Project> {
        self.projects.values()
    }

    /// All `[tools.NAME]` tables, ordered by name.
    pub fn tools(&self) -> impl Iterator<Item = &Tool> {
        self.tools.values()
    }

    /// The tool called `name` (any string a client sends), if defined.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.values().find(|tool| tool.name.as_str() == name)
    }

    /// The project called `name`, if defined.
    pub fn project(&self, name: &ProjectName) -> Option<&Project> {
        self.projects.get(name)
    }
}
