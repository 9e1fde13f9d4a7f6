//! The on-disk shape of tasks.toml and its validation into [`Policy`] parts.
//!
//! Parsing is two-step: `toml` + serde check the shape strictly (unknown keys
//! are errors everywhere), keeping the span of every key and value we check
//! ourselves; then [`build`] validates names, project references, grants and
//! expiry dates, so that each rejection can point at the exact text at fault.
//! Entries are validated in file order, so the first problem in the file is
//! the one reported.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use toml::Spanned;

use super::confinement::{self, ComponentDigest, Confinement, DirGrant, DirMode, ScriptPolicy};
use super::egress::HostPattern;
use super::error::{PolicyError, Problem, classify};
use super::inject::InjectAt;
use super::limits::{Limit, Limits};
use super::location::Location;
use super::{Agent, AuditSync, Grant, Project, Settings, StateBackend};
use crate::names::{AgentName, ProjectName, SecretName};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    projects: BTreeMap<Spanned<String>, RawProject>,
    #[serde(default)]
    agents: BTreeMap<Spanned<String>, RawAgent>,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    tools: BTreeMap<Spanned<String>, super::tools::RawTool>,
    #[serde(default)]
    state: RawState,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    #[serde(default)]
    backend: StateBackend,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    #[serde(default)]
    sync: AuditSync,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    project: Spanned<String>,
    description: Option<String>,
    #[serde(default)]
    grants: Vec<RawGrant>,
    limits: Option<RawLimits>,
    #[serde(default)]
    dirs: Vec<RawDir>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    components: Vec<Spanned<String>>,
    /// `"any"` or a list of script digests.
    scripts: Option<Spanned<toml::Value>>,
    allowed_hosts: Option<Vec<Spanned<String>>>,
}

/// Values kept raw so each gets our own message; see `Limits::set`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    timeout: Option<Spanned<toml::Value>>,
    memory: Option<Spanned<toml::Value>>,
    instances: Option<Spanned<toml::Value>>,
    secret_calls: Option<Spanned<toml::Value>>,
    output: Option<Spanned<toml::Value>>,
    requests: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    host: Spanned<String>,
    guest: Spanned<String>,
    mode: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    secret: Spanned<String>,
    /// Kept as a raw value so both strings and TOML datetimes get our own
    /// message and hint when wrong.
    expires: Option<Spanned<toml::Value>>,
    #[serde(default)]
    hosts: Vec<Spanned<String>>,
    inject: Option<Spanned<String>>,
    #[serde(default)]
    approve: bool,
}

pub(super) type Projects = BTreeMap<ProjectName, Project>;
pub(super) type Agents = BTreeMap<AgentName, Agent>;

/// A validated policy's parts.
pub(super) struct Built {
    pub(super) projects: Projects,
    pub(super) agents: Agents,
    pub(super) settings: Settings,
    pub(super) tools: super::tools::Tools,
}

/// The `[state] backend` of `source`, read alone (other keys ignored);
/// `None` when that does not read.
pub(super) fn state_only(source: &str) -> Option<StateBackend> {
    #[derive(Deserialize)]
    struct StateOnly {
        #[serde(default)]
        state: RawState,
    }
    let only: StateOnly = toml::from_str(source).ok()?;
    Some(only.state.backend)
}

/// Parses and validates `source`; `path` is only used in errors.
pub(super) fn build(source: &str, path: &Path) -> Result<Built, PolicyError> {
    let cx = Context { source, path };
    let raw: RawPolicy = toml::from_str(source).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.error(span, classify(e.message()))
    })?;
    let projects = cx.projects(raw.projects)?;
    let mut agents = Agents::new();
    for (name, agent) in in_file_order(raw.agents) {
        let agent = cx.agent(name, agent, &projects)?;
        agents.insert(agent.name.clone(), agent);
    }
    let tools = cx.tools(raw.tools, &agents)?;
    let settings = Settings {
        audit_sync: raw.audit.sync,
        backend: raw.state.backend,
    };
    Ok(Built {
        projects,
        agents,
        settings,
        tools,
    })
}

/// Builds a [`PolicyError`] at a span of the source.
pub(super) struct Context<'a> {
    pub(super) source: &'a str,
    pub(super) path: &'a Path,
}

impl Context<'_> {
    pub(super) fn error(&self, span: Range<usize>, problem: Problem) -> PolicyError {
        PolicyError::invalid(Location::from_span(self.path, self.source, span), problem)
    }

    pub(super) fn name<T>(
        &self,
        raw: &Spanned<String>,
        new: fn(String) -> Result<T, crate::names::NameError>,
    ) -> Result<T, PolicyError> {
        new(raw.get_ref().clone()).map_err(|e| self.error(raw.span(), Problem::BadName(e)))
    }

    fn projects(
        &self,
        raw: BTreeMap<Spanned<String>, RawProject>,
    ) -> Result<Projects, PolicyError> {
        let mut projects = Projects::new();
        for (name, project) in in_file_order(raw) {
            let name = self.name(&name, ProjectName::new)?;
            let description = project.description;
            projects.insert(name.clone(), Project { name, description });
        }
        Ok(projects)
    }

    fn agent(
        &self,
        name: Spanned<String>,
        raw: RawAgent,
        projects: &Projects,
    ) -> Result<Agent, PolicyError> {
        let name = self.name(&name, AgentName::new)?;
        let project = self.name(&raw.project, ProjectName::new)?;
        if !projects.contains_key(&project) {
            let known = projects.keys().cloned().collect();
            let problem = Problem::UnknownProject {
                agent: name,
                project,
                known,
            };
            return Err(self.error(raw.project.span(), problem));
        }
        let grants = self.grants(&name, &project, raw.grants)?;
        let confinement = Confinement {
            limits: self.limits(&name, raw.limits)?,
            dirs: self.dirs(&name, raw.dirs)?,
            env: self.env(&name, raw.env)?,
            components: self.components(&name, raw.components)?,
            scripts: self.scripts(&name, raw.scripts)?,
        };
        let allowed_hosts = match raw.allowed_hosts {
            Some(list) => Some(self.hosts(&name, "allowed_hosts", list)?),
            None => None,
        };
        let description = raw.description;
        Ok(Agent {
            name,
            project,
            description,
            grants,
            confinement,
            allowed_hosts,
        })
    }

    fn limits(&self, agent: &AgentName, raw: Option<RawLimits>) -> Result<Limits, PolicyError> {
        let mut limits = Limits::default();
        let Some(raw) = raw else { return Ok(limits) };
        let values = [
            (Limit::Timeout, raw.timeout),
            (Limit::Memory, raw.memory),
            (Limit::Instances, raw.instances),
            (Limit::SecretCalls, raw.secret_calls),
            (Limit::Output, raw.output),
            (Limit::Requests, raw.requests),
        ];
        for (limit, value) in values {
            let Some(value) = value else { continue };
            limits.set(limit, value.get_ref()).map_err(|reason| {
                let problem = Problem::BadLimit {
                    agent: agent.clone(),
                    limit,
                    reason,
                };
                self.error(value.span(), problem)
            })?;
        }
        Ok(limits)
    }

    fn dirs(&self, agent: &AgentName, raw: Vec<RawDir>) -> Result<Vec<DirGrant>, PolicyError> {
        let mut dirs: Vec<DirGrant> = Vec::with_capacity(raw.len());
        for dir in raw {
            let bad = |span: Range<usize>, reason: String| {
                self.error(
                    span,
                    Problem::BadDir {
                        agent: agent.clone(),
                        reason,
                    },
                )
            };
            let guest = confinement::guest_path(dir.guest.get_ref())
                .map_err(|reason| bad(dir.guest.span(), reason))?;
            if dirs.iter().any(|d| d.guest == guest) {
                let reason = format!("guest path {guest:?} is granted twice");
                return Err(bad(dir.guest.span(), reason));
            }
            let host = confinement::host_path(dir.host.get_ref(), self.path)
                .map_err(|reason| bad(dir.host.span(), reason))?;
            let mode = match &dir.mode {
                Some(mode) => DirMode::parse(mode.get_ref()).map_err(|r| bad(mode.span(), r))?,
                None => DirMode::ReadOnly,
            };
            dirs.push(DirGrant { host, guest, mode });
        }
        Ok(dirs)
    }

    fn env(
        &self,
        agent: &AgentName,
        raw: BTreeMap<Spanned<String>, Spanned<String>>,
    ) -> Result<BTreeMap<String, String>, PolicyError> {
        let mut env = BTreeMap::new();
        for (name, value) in in_file_order(raw) {
            confinement::env_var(name.get_ref(), value.get_ref()).map_err(|reason| {
                let span = if name.get_ref().is_empty() {
                    value.span()
                } else {
                    name.span()
                };
                self.error(
                    span,
                    Problem::BadEnv {
                        agent: agent.clone(),
                        reason,
                    },
                )
            })?;
            if let Some(why) = super::env_keys::looks_like_key(value.get_ref()) {
                let problem = Problem::KeyInEnv {
                    agent: agent.clone(),
                    name: name.get_ref().clone(),
                    why,
                };
                return Err(self.error(name.span(), problem));
            }
            env.insert(name.into_inner(), value.into_inner());
        }
        Ok(env)
    }

    fn components(
        &self,
        agent: &AgentName,
        raw: Vec<Spanned<String>>,
    ) -> Result<Vec<ComponentDigest>, PolicyError> {
        let mut pins = Vec::with_capacity(raw.len());
        for text in raw {
            let digest = ComponentDigest::parse(text.get_ref()).map_err(|reason| {
                self.error(
                    text.span(),
                    Problem::BadComponent {
                        agent: agent.clone(),
                        reason,
                    },
                )
            })?;
            pins.push(digest);
        }
        Ok(pins)
    }

    /// `scripts`: `"any"` or a list of `blake3:` digests; unset refuses
    /// every script.
    fn scripts(
        &self,
        agent: &AgentName,
        raw: Option<Spanned<toml::Value>>,
    ) -> Result<ScriptPolicy, PolicyError> {
        let Some(raw) = raw else {
            return Ok(ScriptPolicy::Refused);
        };
        let error = |reason: String| {
            let agent = agent.clone();
            self.error(raw.span(), Problem::BadScripts { agent, reason })
        };
        match raw.get_ref() {
            toml::Value::String(text) if text == "any" => Ok(ScriptPolicy::Any),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(text) => ComponentDigest::parse(text),
                    other => Err(format!("{other} is not a string")),
                })
                .collect::<Result<_, _>>()
                .map(ScriptPolicy::Pinned)
                .map_err(error),
            other => Err(error(format!(
                "{other} is neither \"any\" nor a list of digests"
            ))),
        }
    }

    /// Validates an agent's grants, rejecting a secret granted twice.
    fn grants(
        &self,
        agent: &AgentName,
        project: &ProjectName,
        raw: Vec<RawGrant>,
    ) -> Result<Vec<Grant>, PolicyError> {
        let mut grants = Vec::with_capacity(raw.len());
        // Secret -> line of its first grant, for the duplicate's hint.
        let mut seen: HashMap<SecretName, usize> = HashMap::new();
        for grant in raw {
            let secret = self.secret(agent, project, &grant.secret)?;
            if let Some(&first_line) = seen.get(&secret) {
                let problem = Problem::DuplicateGrant {
                    agent: agent.clone(),
                    secret,
                    first_line,
                };
                return Err(self.error(grant.secret.span(), problem));
            }
            seen.insert(secret.clone(), self.line_of(grant.secret.span().start));
            let expires = match &grant.expires {
                Some(value) => Some(self.expires(agent, &grant.secret, value)?),
                None => None,
            };
            let hosts = self.hosts(agent, "grants.hosts", grant.hosts)?;
            let inject = match &grant.inject {
                Some(raw) => self.inject(agent, raw)?,
                None => InjectAt::default(),
            };
            grants.push(Grant {
                secret,
                expires,
                hosts,
                inject,
                approve: grant.approve,
            });
        }
        Ok(grants)
    }

    /// Resolves a grant's `secret` (plain or `project/name`) to a name in
    /// the agent's own project.
    fn secret(
        &self,
        agent: &AgentName,
        project: &ProjectName,
        raw: &Spanned<String>,
    ) -> Result<SecretName, PolicyError> {
        let text = raw.get_ref();
        let bad = |error| {
            let problem = Problem::BadSecret {
                agent: agent.clone(),
                secret: text.clone(),
                error,
            };
            self.error(raw.span(), problem)
        };
        let Some((qualifier, name)) = text.split_once('/') else {
            return SecretName::new(text.as_str()).map_err(bad);
        };
        let secret_project = ProjectName::new(qualifier).map_err(bad)?;
        let secret = SecretName::new(name).map_err(bad)?;
        if &secret_project != project {
            let problem = Problem::CrossProject {
                agent: agent.clone(),
                agent_project: project.clone(),
                secret: text.clone(),
                secret_project,
            };
            return Err(self.error(raw.span(), problem));
        }
        Ok(secret)
    }

    fn expires(
        &self,
        agent: &AgentName,
        secret: &Spanned<String>,
        value: &Spanned<toml::Value>,
    ) -> Result<OffsetDateTime, PolicyError> {
        parse_expiry(value.get_ref()).map_err(|reason| {
            let problem = Problem::BadExpiry {
                agent: agent.clone(),
                secret: secret.get_ref().clone(),
                reason,
            };
            self.error(value.span(), problem)
        })
    }

    /// Parses egress entries (see `egress.rs`), each error at its own entry.
    fn hosts(
        &self,
        agent: &AgentName,
        key: &'static str,
        raw: Vec<Spanned<String>>,
    ) -> Result<Vec<HostPattern>, PolicyError> {
        raw.iter()
            .map(|text| {
                HostPattern::parse(text.get_ref()).map_err(|reason| {
                    let problem = Problem::BadHost {
                        agent: agent.clone(),
                        key,
                        reason,
                    };
                    self.error(text.span(), problem)
                })
            })
            .collect()
    }

    /// Parses a grant's injection position (see `inject.rs`).
    fn inject(&self, agent: &AgentName, raw: &Spanned<String>) -> Result<InjectAt, PolicyError> {
        InjectAt::parse(raw.get_ref()).map_err(|reason| {
            let problem = Problem::BadInject {
                agent: agent.clone(),
                reason,
            };
            self.error(raw.span(), problem)
        })
    }

    fn line_of(&self, offset: usize) -> usize {
        Location::from_span(self.path, self.source, offset..offset).line
    }
}

/// Map entries ordered by where their key appears in the file.
pub(super) fn in_file_order<V>(map: BTreeMap<Spanned<String>, V>) -> Vec<(Spanned<String>, V)> {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// Accepts an RFC 3339 string with an offset, or a TOML offset date-time;
/// returns the instant in UTC.
pub(super) fn parse_expiry(value: &toml::Value) -> Result<OffsetDateTime, String> {
    let parsed = match value {
        toml::Value::String(text) => OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
            format!("expires {text:?} is not an RFC 3339 timestamp with an offset ({e})")
        })?,
        toml::Value::Datetime(dt) => from_toml_datetime(dt)
            .ok_or_else(|| format!("expires {dt} is not a date and time with a UTC offset"))?,
        other => {
            return Err(format!(
                "expires must be an RFC 3339 timestamp string, found {}",
                other.type_str()
            ));
        }
    };
    // `to_offset` panics past year 9999 (9999-12-31T23:59:59-00:01 is).
    parsed.checked_to_offset(UtcOffset::UTC).ok_or_else(|| {
        format!("expires {parsed} falls after the year 9999 in UTC; use a date before 9999-12-31")
    })
}

fn from_toml_datetime(dt: &toml::value::Datetime) -> Option<OffsetDateTime> {
    let (date, clock, offset) = (dt.date?, dt.time?, dt.offset?);
    let month = time::Month::try_from(date.month).ok()?;
    let date = time::Date::from_calendar_date(i32::from(date.year), month, date.day).ok()?;
    let clock = time::Time::from_hms_nano(
        clock.hour,
        clock.minute,
        clock.second.unwrap_or(0),
        clock.nanosecond.unwrap_or(0),
    )
    .ok()?;
    let minutes = match offset {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i32::from(minutes),
    };
    let offset = UtcOffset::from_whole_seconds(minutes * 60).ok()?;
    Some(date.with_time(clock).assume_offset(offset))
}
