//! Changes to tasks.toml made from the command line (`runner project add`,
//! `agent add|rm`, `grant`, `revoke`), applied to the file's text in place.
//!
//! Guarantees:
//! - Only the changed entry's text changes: comments, order, spacing and
//!   quoting of everything else stay byte for byte (`toml_edit`).
//! - What is written is what a person would write: `[agents.NAME]` tables,
//!   grants as `{ secret = "...", expires = "..." }` entries of `grants`.
//! - Every result is parsed with the strict loader ([`Policy::parse`]); a
//!   change whose result does not load is refused.
//! - Writing is done by `file.rs` (lock, atomic replace); this module only
//!   computes the new text.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::edit_grants::grants_of;

use super::{Policy, PolicyError};
use crate::names::{AgentName, ProjectName, SecretName};

/// Until when a grant holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    At(OffsetDateTime),
}

impl Expiry {
    /// RFC 3339 in UTC, or `never` (as audit records write it).
    pub fn text(&self) -> String {
        match self {
            Expiry::Never => "never".to_owned(),
            Expiry::At(at) => at.format(&Rfc3339).unwrap_or_else(|_| at.to_string()),
        }
    }
}

/// One change to the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    AddProject {
        name: ProjectName,
        description: Option<String>,
    },
    AddAgent {
        name: AgentName,
        project: ProjectName,
        description: Option<String>,
    },
    RemoveAgent {
        name: AgentName,
    },
    /// Adds a grant, or replaces the expiry, hosts and approval of the
    /// agent's existing grant of the same secret.
    Grant {
        agent: AgentName,
        secret: SecretName,
        expires: Expiry,
        hosts: Vec<String>,
        approve: bool,
    },
    Revoke {
        agent: AgentName,
        secret: SecretName,
    },
}

/// Why a change cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("project {0} already exists")]
    ProjectExists(ProjectName),
    #[error("agent {0} already exists")]
    AgentExists(AgentName),
    #[error("there is no project {0}")]
    UnknownProject(ProjectName),
    #[error("there is no agent {0}")]
    UnknownAgent(AgentName),
    #[error("agent {agent} holds no grant of secret {secret}")]
    NoGrant {
        agent: AgentName,
        secret: SecretName,
    },
    #[error("tasks.toml cannot be edited here: {0}")]
    Shape(String),
    #[error("the changed policy would not load, so it was not written: {0}")]
    Invalid(Box<PolicyError>),
}

impl EditError {
    /// The command that fixes it, or where to look.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            EditError::ProjectExists(_) => "see them with `runner project list`".to_owned(),
            EditError::AgentExists(_) => "see them with `runner agent list`".to_owned(),
            EditError::UnknownProject(p) => format!("create it first: runner project add {p}"),
            EditError::UnknownAgent(a) => {
                format!("create it first: runner agent add {a} --project PROJECT")
            }
            EditError::NoGrant { .. } => "see the grants with `runner audit grants`".to_owned(),
            EditError::Shape(_) => "edit tasks.toml by hand (docs/tasks-toml.md)".to_owned(),
            EditError::Invalid(e) => return e.hint(),
        })
    }
}

/// Applies `edit` to `source` (a policy that loads as `policy`) and returns
/// the new text, checked to load.
pub fn apply(source: &str, policy: &Policy, edit: &Edit) -> Result<String, EditError> {
    let mut doc: DocumentMut = source
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Shape(e.to_string()))?;
    match edit {
        Edit::AddProject { name, description } => add_project(&mut doc, policy, name, description),
        Edit::AddAgent {
            name,
            project,
            description,
        } => add_agent(&mut doc, policy, name, project, description),
        Edit::RemoveAgent { name } => agents(&mut doc)?
            .remove(name.as_str())
            .map(drop)
            .ok_or_else(|| EditError::UnknownAgent(name.clone())),
        Edit::Grant {
            agent,
            secret,
            expires,
            hosts,
            approve,
        } => {
            let spec = GrantSpec {
                secret,
                expires: *expires,
                hosts,
                approve: *approve,
            };
            grant(&mut doc, policy, agent, &spec)
        }
        Edit::Revoke { agent, secret } => revoke(&mut doc, agent, secret),
    }?;
    let mut text = doc.to_string();
    if source.trim().is_empty() {
        // A file the CLI creates starts with its first table, not a blank line.
        text = text.trim_start_matches('\n').to_owned();
    }
    Policy::parse(&text, policy.path()).map_err(|e| EditError::Invalid(Box::new(e)))?;
    Ok(text)
}

/// A top-level table such as `projects`, created (implicit, so that no
/// bare `[projects]` header is written) when missing.
fn top<'d>(doc: &'d mut DocumentMut, key: &str) -> Result<&'d mut dyn TableLike, EditError> {
    let entry = doc.entry(key).or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(true);
        Item::Table(table)
    });
    entry
        .as_table_like_mut()
        .ok_or_else(|| EditError::Shape(format!("`{key}` is not a table")))
}

fn agents(doc: &mut DocumentMut) -> Result<&mut dyn TableLike, EditError> {
    top(doc, "agents")
}

/// A new `[KIND.NAME]` table with `pairs`, after a blank line.
fn new_table(pairs: &[(&str, &str)]) -> Item {
    let mut table = Table::new();
    table.decor_mut().set_prefix("\n");
    for (key, value) in pairs {
        table.insert(key, toml_edit::value(*value));
    }
    Item::Table(table)
}

fn add_project(
    doc: &mut DocumentMut,
    policy: &Policy,
    name: &ProjectName,
    description: &Option<String>,
) -> Result<(), EditError> {
    if policy.project(name).is_some() {
        return Err(EditError::ProjectExists(name.clone()));
    }
    let mut pairs = Vec::new();
    if let Some(text) = description {
        pairs.push(("description", text.as_str()));
    }
    top(doc, "projects")?.insert(name.as_str(), new_table(&pairs));
    Ok(())
}

fn add_agent(
    doc: &mut DocumentMut,
    policy: &Policy,
    name: &AgentName,
    project: &ProjectName,
    description: &Option<String>,
) -> Result<(), EditError> {
    if policy.agent(name.as_str()).is_ok() {
        return Err(EditError::AgentExists(name.clone()));
    }
    if policy.project(project).is_none() {
        return Err(EditError::UnknownProject(project.clone()));
    }
    let mut pairs = vec![("project", project.as_str())];
    if let Some(text) = description {
        pairs.push(("description", text.as_str()));
    }
    agents(doc)?.insert(name.as_str(), new_table(&pairs));
    Ok(())
}

/// The agent's table, or [`EditError::UnknownAgent`].
fn agent<'d>(
    doc: &'d mut DocumentMut,
    name: &AgentName,
) -> Result<&'d mut dyn TableLike, EditError> {
    agents(doc)?
        .get_mut(name.as_str())
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| EditError::UnknownAgent(name.clone()))
}

/// The fields of a grant as the CLI writes them.
struct GrantSpec<'a> {
    secret: &'a SecretName,
    expires: Expiry,
    hosts: &'a [String],
    approve: bool,
}

/// The agent `name` of `policy`, or the edit error that names it unknown.
pub fn known_agent<'a>(
    policy: &'a Policy,
    name: &AgentName,
) -> Result<&'a super::Agent, EditError> {
    policy
        .agent(name.as_str())
        .map_err(|_| EditError::UnknownAgent(name.clone()))
}

fn grant(
    doc: &mut DocumentMut,
    policy: &Policy,
    agent_name: &AgentName,
    spec: &GrantSpec<'_>,
) -> Result<(), EditError> {
    known_agent(policy, agent_name)?;
    let table = agent(doc, agent_name)?;
    if !table.contains_key("grants") {
        let mut list = Array::new();
        list.set_trailing("\n");
        list.set_trailing_comma(true);
        table.insert("grants", toml_edit::value(list));
    }
    let grants = grants_of(table)?;
    let position = grants.position(spec.secret);
    let entry = grant_entry(grants.existing(position), spec);
    grants.put(position, entry);
    Ok(())
}

fn revoke(
    doc: &mut DocumentMut,
    agent_name: &AgentName,
    secret: &SecretName,
) -> Result<(), EditError> {
    let table = agent(doc, agent_name)?;
    let no_grant = || EditError::NoGrant {
        agent: agent_name.clone(),
        secret: secret.clone(),
    };
    if !table.contains_key("grants") {
        return Err(no_grant());
    }
    let mut grants = grants_of(table)?;
    let position = grants.position(secret).ok_or_else(no_grant)?;
    grants.remove(position);
    Ok(())
}

/// The grant as a person writes it: `{ secret = "...", expires = "...",
/// hosts = [...], approve = true }`, keeping other keys of an existing
/// grant (e.g. `inject`).
fn grant_entry(existing: Option<InlineTable>, spec: &GrantSpec<'_>) -> InlineTable {
    let GrantSpec {
        secret,
        expires,
        hosts,
        approve,
    } = spec;
    let mut entry = existing.unwrap_or_default();
    entry.insert("secret", secret.as_str().into());
    match expires {
        Expiry::Never => drop(entry.remove("expires")),
        Expiry::At(_) => drop(entry.insert("expires", expires.text().into())),
    }
    match hosts.is_empty() {
        true => drop(entry.remove("hosts")),
        false => drop(entry.insert("hosts", Value::Array(hosts.iter().collect()))),
    }
    match approve {
        true => drop(entry.insert("approve", true.into())),
        false => drop(entry.remove("approve")),
    }
    entry.fmt();
    entry
}
