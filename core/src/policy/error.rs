//! Errors from loading tasks.toml and looking agents up in it.
//!
//! Every problem with the file's content is a [`PolicyError::Invalid`] that
//! names the file, line and column of the offending key or value, shows the
//! source line with a caret, and has a one-line remedy in [`PolicyError::hint`].
//! Names the operator wrote that failed validation are printed with `{:?}`, so
//! control characters come out escaped.

use std::fmt;
use std::path::PathBuf;

use super::limits::Limit;
use super::location::Location;
use crate::names::{AgentName, NameError, ProjectName, SecretName, ToolName};

/// Why a policy could not be loaded, or an agent not found in it.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its content is not a valid policy.
    #[error("{0}")]
    Invalid(Box<InvalidPolicy>),
    /// The file is not one only its owner controls, or not a file at all.
    #[error(transparent)]
    Unsafe(#[from] super::UnsafePolicyFile),
    #[error("no agent named {name:?} in {}", path.display())]
    UnknownAgent {
        name: String,
        path: PathBuf,
        known: Vec<AgentName>,
    },
}

/// The remedy for a tasks.toml that cannot be opened (most often: none
/// yet where the runner looks).
pub(crate) const NO_POLICY_HINT: &str = "pass --config FILE or set SCOPEHOLD_CONFIG; \
    for a new one, `runner init` writes a starter tasks.toml where none exists";

impl PolicyError {
    /// A one-line remedy for the user.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PolicyError::Read { .. } => NO_POLICY_HINT.to_owned(),
            PolicyError::Invalid(invalid) => invalid.problem.hint(),
            PolicyError::Unsafe(unsafe_file) => return unsafe_file.hint(),
            PolicyError::UnknownAgent { known, path, .. } if known.is_empty() => format!(
                "{} defines no agents; add an [agents.NAME] table",
                path.display()
            ),
            PolicyError::UnknownAgent { known, .. } => format!("known agents: {}", list(known)),
        })
    }

    /// Where in the file the problem is, for content errors.
    pub fn location(&self) -> Option<&Location> {
        match self {
            PolicyError::Invalid(invalid) => Some(&invalid.at),
            _ => None,
        }
    }

    pub(crate) fn invalid(at: Location, problem: Problem) -> Self {
        PolicyError::Invalid(Box::new(InvalidPolicy { at, problem }))
    }
}

/// A content error: what is wrong, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidPolicy {
    pub at: Location,
    pub problem: Problem,
}

impl fmt::Display for InvalidPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            // The source line would show the credential.
            Problem::KeyInEnv { .. } => write!(f, "{}: {}", self.at, self.problem),
            _ => write!(f, "{}: {}\n{}", self.at, self.problem, self.at.snippet()),
        }
    }
}

/// What is wrong with the content of a policy file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("the file is not valid UTF-8")]
    NotUtf8,
    /// Not TOML at all, or TOML the parser rejects (duplicate keys, ...).
    #[error("{message}")]
    Syntax { message: String },
    #[error("unknown key `{key}`")]
    UnknownKey { key: String, allowed: Vec<String> },
    #[error("missing key `{key}`")]
    MissingKey { key: String },
    /// A value of the wrong TOML type (`description = 5`, `grants = "x"`).
    #[error("{message}")]
    WrongType { message: String },
    /// An `[agents.NAME]` or `[projects.NAME]` key, or an agent's `project`.
    #[error("{0}")]
    BadName(NameError),
    #[error("agent \"{agent}\" is granted {secret:?}: {error}")]
    BadSecret {
        agent: AgentName,
        secret: String,
        error: NameError,
    },
    #[error("agent \"{agent}\", grant of {secret:?}: {reason}")]
    BadExpiry {
        agent: AgentName,
        secret: String,
        reason: String,
    },
    #[error("agent \"{agent}\" is in project \"{project}\", which is not defined in [projects]")]
    UnknownProject {
        agent: AgentName,
        project: ProjectName,
        known: Vec<ProjectName>,
    },
    #[error(
        "agent \"{agent}\" is in project \"{agent_project}\" but is granted \"{secret}\" \
         from project \"{secret_project}\""
    )]
    CrossProject {
        agent: AgentName,
        agent_project: ProjectName,
        secret: String,
        secret_project: ProjectName,
    },
    #[error("agent \"{agent}\", limits.{limit}: {reason}")]
    BadLimit {
        agent: AgentName,
        limit: Limit,
        reason: String,
    },
    #[error("agent \"{agent}\", dirs: {reason}")]
    BadDir { agent: AgentName, reason: String },
    #[error("agent \"{agent}\", env: {reason}")]
    BadEnv { agent: AgentName, reason: String },
    /// An env value that looks like a credential; never shown (`env_keys.rs`).
    #[error(
        "agent \"{agent}\", env {name}: the value looks like a credential ({why}); keys do \
         not belong in tasks.toml"
    )]
    KeyInEnv {
        agent: AgentName,
        name: String,
        why: String,
    },
    #[error("agent \"{agent}\", {key}: {reason}")]
    BadHost {
        agent: AgentName,
        key: &'static str,
        reason: String,
    },
    #[error("agent \"{agent}\", grants.inject: {reason}")]
    BadInject { agent: AgentName, reason: String },
    #[error("agent \"{agent}\", components: {reason}")]
    BadComponent { agent: AgentName, reason: String },
    #[error("tool \"{tool}\": {reason}")]
    BadTool { tool: ToolName, reason: String },
    #[error("agent \"{agent}\", scripts: {reason}")]
    BadScripts { agent: AgentName, reason: String },
    #[error("agent \"{agent}\" is granted secret \"{secret}\" twice")]
    DuplicateGrant {
        agent: AgentName,
        secret: SecretName,
        first_line: usize,
    },
}

impl Problem {
    /// A one-line remedy.
    pub fn hint(&self) -> String {
        match self {
            Problem::NotUtf8 => "save the file as UTF-8".to_owned(),
            Problem::Syntax { .. } => {
                "fix the TOML the message names at the line and column shown (e.g. close the \
                 quote or bracket); docs/tasks-toml.md describes the file"
                    .to_owned()
            }
            Problem::UnknownKey { allowed, .. } => allowed_keys(allowed),
            Problem::MissingKey { key } => missing_key(key),
            Problem::WrongType { .. } => {
                "use the type shown, e.g. `timeout = \"30s\"`, `allowed_hosts = [\"https://...\"]`; \
                 docs/tasks-toml.md lists the type of every key"
                    .to_owned()
            }
            Problem::BadName(error) => {
                let (what, example) = name_example(error);
                format!("rename the {what} using {NAME_CHARS}, for example \"{example}\"")
            }
            Problem::BadSecret { .. } => format!(
                "write the secret as NAME or PROJECT/NAME using {NAME_CHARS}, \
                 for example \"posthog-read\""
            ),
            Problem::BadExpiry { .. } => EXPIRY_HINT.to_owned(),
            Problem::UnknownProject { project, known, .. } => unknown_project(project, known),
            Problem::CrossProject {
                agent_project,
                secret_project,
                ..
            } => format!(
                "an agent may only be granted secrets of its own project; move the agent to \
                 project \"{secret_project}\" or store the secret in \"{agent_project}\""
            ),
            Problem::BadLimit { limit, .. } => format!(
                "write it like `{} = {}`; docs/tasks-toml.md lists units and maximums",
                limit.key(),
                limit.example()
            ),
            Problem::BadDir { .. } => "write dirs as [{ host = \"./data\", guest = \"/data\", \
                 mode = \"ro\" }]; guest paths are absolute, without `..`, each granted once"
                .to_owned(),
            Problem::BadEnv { .. } => "write env as { LOG_LEVEL = \"info\" }: names of letters, \
                 digits and `_`, not starting with a digit"
                .to_owned(),
            Problem::KeyInEnv { agent, name, .. } => format!(
                "remove {name} from env and store the value as a secret: `runner secret set \
                 {secret} --project PROJECT` (value on stdin), then grant it to [agents.{agent}] \
                 with `grants = [{{ secret = \"{secret}\" }}]`; the task reads it with get-secret, \
                 or `placeholder` injects it into requests",
                secret = name.to_lowercase().replace('_', "-")
            ),
            Problem::BadHost { .. } => "write hosts as \"https://us.posthog.com\", \
                 \"http://127.0.0.1:8080\" or \"https://*.example.com\": scheme, host, optional port"
                .to_owned(),
            Problem::BadInject { .. } => "write where the value goes, e.g. \
                 inject = \"header:Authorization:Bearer {}\", \"header:X-Api-Key\" or \"query:api_key\""
                .to_owned(),
            Problem::BadComponent { .. } => {
                "write the digest `runner digest TASK.wasm` prints, like \"blake3:<64 hex>\""
                    .to_owned()
            }
            Problem::BadTool { .. } => "write a tool as [tools.NAME] with component = \"task.wasm\", \
                 agent = \"AGENT\", description = \"...\" and optional input arguments \
                 [tools.NAME.input.ARG] with type = \"string\"|\"integer\"|\"number\"|\"boolean\"; \
                 a code tool as kind = \"python\" or \"javascript\" with agent and description \
                 only (docs/mcp.md)"
                .to_owned(),
            Problem::BadScripts { .. } => "write scripts = \"any\" (any script may run as the \
                 agent) or scripts = [\"blake3:<64 hex>\"] (the digests `runner digest SCRIPT.py` \
                 prints)"
                .to_owned(),
            Problem::DuplicateGrant { first_line, .. } => {
                format!("remove one of the grants; the first is on line {first_line}")
            }
        }
    }
}

const NAME_CHARS: &str = "lowercase letters, digits, '-', '_' and '.'";

/// What kind of name failed, and a valid one of that kind.
fn name_example(error: &NameError) -> (&'static str, &'static str) {
    let (NameError::Empty { what }
    | NameError::TooLong { what, .. }
    | NameError::BadCharacter { what, .. }) = error;
    let example = match *what {
        "agent" => "support-analysis",
        "project" => "analytics",
        "tool" => "query-events",
        "argument" => "query",
        _ => "posthog-read",
    };
    (what, example)
}

pub(crate) const EXPIRY_HINT: &str =
    "write an RFC 3339 timestamp with a UTC offset, for example \"2027-12-31T00:00:00Z\"";

fn allowed_keys(allowed: &[String]) -> String {
    if allowed.is_empty() {
        return "remove it; no keys are allowed here".to_owned();
    }
    let keys: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
    format!(
        "remove or rename it; the keys allowed here are {}",
        keys.join(", ")
    )
}

fn missing_key(key: &str) -> String {
    match key {
        "project" => "every agent needs `project = \"NAME\"` naming one of the [projects]".into(),
        "secret" => "every grant needs `secret = \"NAME\"`".into(),
        _ => format!("add `{key} = ...`; docs/tasks-toml.md lists the required keys"),
    }
}

fn unknown_project(project: &ProjectName, known: &[ProjectName]) -> String {
    if known.is_empty() {
        format!("no projects are defined; add a [projects.{project}] table")
    } else {
        format!(
            "add a [projects.{project}] table or use one of: {}",
            list(known)
        )
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    let names: Vec<String> = items.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// Sorts a `toml` deserialisation error into a [`Problem`] by serde's
/// standard message shapes; anything unrecognised stays a syntax error with
/// the parser's own message.
pub(crate) fn classify(message: &str) -> Problem {
    let message = message.trim_end();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let mut quoted = backticked(rest);
        let key = if quoted.is_empty() {
            String::new()
        } else {
            quoted.remove(0)
        };
        return Problem::UnknownKey {
            key,
            allowed: quoted,
        };
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let key = backticked(rest).into_iter().next().unwrap_or_default();
        return Problem::MissingKey { key };
    }
    let wrong_type = ["invalid type:", "invalid value:", "invalid length"];
    if wrong_type.iter().any(|p| message.starts_with(p)) {
        return Problem::WrongType {
            message: toml_words(message),
        };
    }
    Problem::Syntax {
        message: message.to_owned(),
    }
}

/// Says "array" and "table" where serde says "sequence" and "map".
fn toml_words(message: &str) -> String {
    [
        ("a sequence", "an array"),
        ("a map", "a table"),
        ("type: sequence", "type: array"),
        ("type: map", "type: table"),
    ]
    .iter()
    .fold(message.to_owned(), |m, (serde, toml)| {
        m.replace(serde, toml)
    })
}

/// The `backticked` words of a serde message, in order.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_serde_messages() {
        let p = classify("unknown field `colour`, expected one of `project`, `description`");
        let allowed = vec!["project".to_owned(), "description".to_owned()];
        assert_eq!(
            p,
            Problem::UnknownKey {
                key: "colour".into(),
                allowed
            }
        );
        assert!(
            p.hint().contains("`project`, `description`"),
            "{}",
            p.hint()
        );
        let p = classify("unknown field `x`, there are no fields");
        assert_eq!(p.hint(), "remove it; no keys are allowed here");
        let p = classify("missing field `project`\n");
        assert_eq!(
            p,
            Problem::MissingKey {
                key: "project".into()
            }
        );
        let p = classify("invalid type: integer `5`, expected a string");
        assert!(matches!(p, Problem::WrongType { .. }));
        let p = classify("invalid string\nexpected `\"`");
        assert!(matches!(p, Problem::Syntax { .. }));
    }

    #[test]
    fn read_and_unknown_agent_have_hints() {
        let err = PolicyError::Read {
            path: "x.toml".into(),
            source: std::io::ErrorKind::NotFound.into(),
        };
        assert!(err.to_string().contains("x.toml"));
        assert_eq!(err.hint().unwrap(), NO_POLICY_HINT);
        let err = PolicyError::UnknownAgent {
            name: "x\u{1b}".into(),
            path: "tasks.toml".into(),
            known: vec![],
        };
        assert!(err.to_string().contains("\"x\\u{1b}\""), "{err}");
        assert!(err.hint().unwrap().contains("defines no agents"));
    }
}
