//! Scripts: `runner exec SCRIPT.py|.js|.mjs` runs the script in an
//! interpreter component for its language, as an ordinary task of the agent
//! (same sandbox, limits, grants, egress gate, injection, redaction, audit).
//!
//! Guarantees:
//! - A script runs as an agent only if tasks.toml says so (`scripts`,
//!   [`ScriptPolicy`]); the refusal's hint names the line to add.
//! - The interpreter is a component like any other: read with the task-file
//!   checks, digested, pinned by `components` when the agent pins, compiled
//!   once per interpreter version (the compiled-code cache is keyed by its
//!   digest). It gets the script's text on stdin and `[script name, args...]`
//!   as its arguments; the script itself reads no stdin.
//! - The exact text is kept in the state dir's script store (`store.rs`)
//!   before `exec.start` names its digest, so `runner audit show RUN`
//!   prints what ran.

mod interpreters;
mod store;

use std::path::Path;

use crate::input::InputError;
use crate::policy::{Agent, ComponentDigest, ScriptPolicy};

pub use interpreters::{Interpreter, InterpreterError, Language};
pub use store::{ScriptStore, ScriptStoreError};

/// Largest script accepted (1 MiB: a script, not a bundle).
pub const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// Why a script file cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot read script: {0}")]
    Unreadable(#[from] InputError),
    #[error("{} is not UTF-8 text", .0.display())]
    NotText(std::path::PathBuf),
    #[error("script {name} is {size} bytes; at most {MAX_SCRIPT_BYTES} are accepted")]
    TooLarge { name: String, size: usize },
}

impl ScriptError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ScriptError::Unreadable(error) => error.hint(),
            ScriptError::NotText(_) => Some("save the script as UTF-8".into()),
            ScriptError::TooLarge { .. } => {
                Some("a script is a short program: split the work into several runs".into())
            }
        }
    }
}

/// The hint of a script error in an error chain: `Some(hint)` when `cause`
/// is one of this module's errors.
pub fn hint_for(cause: &(dyn std::error::Error + 'static)) -> Option<Option<String>> {
    if let Some(e) = cause.downcast_ref::<ScriptError>() {
        return Some(e.hint());
    }
    if let Some(e) = cause.downcast_ref::<InterpreterError>() {
        return Some(e.hint());
    }
    cause.downcast_ref::<ScriptStoreError>().map(|e| e.hint())
}

/// A script, read from disk or given as text: its language, name and exact
/// text.
pub struct Script {
    pub language: Language,
    /// The file name, as the script sees it in `sys.argv[0]` / tracebacks.
    pub name: String,
    pub text: Vec<u8>,
    pub digest: ComponentDigest,
}

impl Script {
    /// Reads `path` if its extension names a script language; `None` for
    /// anything else (a component).
    pub fn read(path: &Path) -> Option<Result<Script, ScriptError>> {
        let language = Language::of(path)?;
        Some(Script::read_as(path, language))
    }

    fn read_as(path: &Path, language: Language) -> Result<Script, ScriptError> {
        let text = crate::input::read_regular(path, MAX_SCRIPT_BYTES)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Script::from_text(language, name, text)
    }

    /// A script given as text (not read from a file), checked like a file's:
    /// UTF-8, at most [`MAX_SCRIPT_BYTES`].
    pub fn from_text(
        language: Language,
        name: String,
        text: Vec<u8>,
    ) -> Result<Script, ScriptError> {
        if text.len() as u64 > MAX_SCRIPT_BYTES {
            let size = text.len();
            return Err(ScriptError::TooLarge { name, size });
        }
        if std::str::from_utf8(&text).is_err() {
            return Err(ScriptError::NotText(name.into()));
        }
        let digest = ComponentDigest::of(&text);
        Ok(Script {
            language,
            name,
            text,
            digest,
        })
    }

    /// Refuses the script unless the agent's `scripts` allows it.
    pub fn check_allowed(&self, agent: &Agent) -> Result<(), crate::report::Refused> {
        let scripts = &agent.confinement.scripts;
        if scripts.allows(&self.digest) {
            return Ok(());
        }
        let (name, digest) = (&agent.name, &self.digest);
        let (message, hint) = match scripts {
            ScriptPolicy::Pinned(_) => (
                format!("this script may not run as agent {name}: its digest is not pinned"),
                format!(
                    "the script's digest is {digest}; if this is the code you mean to trust, \
                     add \"{digest}\" to scripts of [agents.{name}] in tasks.toml"
                ),
            ),
            _ => (
                format!("agent {name} may not run scripts (`scripts` is not set)"),
                format!(
                    "add scripts = [\"{digest}\"] (this script only) or scripts = \"any\" to \
                     [agents.{name}] in tasks.toml"
                ),
            ),
        };
        Err(crate::report::Refused {
            message,
            hint: Some(hint),
        })
    }
}

/// A script about to run: its text and the interpreter it runs in.
pub struct ScriptRun {
    pub script: Script,
    pub interpreter: Interpreter,
}

impl ScriptRun {
    /// Checks that the agent may run `script` and loads its interpreter.
    pub fn prepare(script: Script, home: &Path, agent: &Agent) -> anyhow::Result<ScriptRun> {
        script.check_allowed(agent)?;
        let interpreter = Interpreter::load(home, script.language)?;
        Ok(ScriptRun {
            script,
            interpreter,
        })
    }

    /// Keeps the text in the state dir's script store (before the run is
    /// recorded as started, so the log never names a script it cannot show).
    pub fn keep(&self, home: &Path) -> Result<(), ScriptStoreError> {
        ScriptStore::open(home)?.keep(&self.script.digest, &self.script.text)
    }

    /// The `script` and `script_bytes` of `exec.start`.
    pub fn recorded(&self) -> (crate::audit::Hash, u64) {
        let hash = crate::audit::Hash::of(&self.script.text);
        (hash, self.script.text.len() as u64)
    }
}
