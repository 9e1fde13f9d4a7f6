//! `runner grant SECRET --agent A [--expires 30d|RFC3339|never]
//! [--hosts URL...] [--approve]`: lets an agent resolve one stored secret of
//! its project, until an expiry (30 days unless `--expires` says otherwise).
//! Recorded (`grant.add`, with the operator) before tasks.toml changes.

use clap::Args;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::Event;
use crate::cli::Global;
use crate::names::{AgentName, SecretName};
use crate::operator::Operator;
use crate::policy::{Agent, Edit, Expiry, HostPattern, LockedPolicy, known_agent};
use crate::policy_history::{command_line, commit};
use crate::report::Refused;
use crate::store::Store;

/// How long a grant made without `--expires` holds.
const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Args)]
pub struct Grant {
    /// The stored secret to grant (of the agent's project)
    pub secret: SecretName,
    /// The agent that may resolve it
    #[arg(long)]
    pub agent: AgentName,
    /// Until when: an age (30d, 12h, 2w), an RFC 3339 time, or `never` [default: 30d]
    #[arg(long, value_name = "WHEN", value_parser = parse_expires)]
    pub expires: Option<Expiry>,
    /// The only destinations the value may travel to, e.g. https://api.example.com
    #[arg(long, value_name = "URL", num_args = 1..)]
    pub hosts: Vec<String>,
    /// Ask a person at the runner's terminal before the first resolution in a run
    #[arg(long)]
    pub approve: bool,
}

impl Grant {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let (dir, place) = global.open_place()?;
        let file = LockedPolicy::open(&global.config())?;
        let agent = known_agent(file.policy(), &self.agent)?;
        check_hosts(&self.hosts)?;
        let store = place.open_store(&crate::store::passphrase::current)?;
        check_stored(&store, agent, &self.secret)?;
        let expires = self.expires.unwrap_or_else(default_expiry);
        let event = self.event(agent, expires);
        let edit = Edit::Grant {
            agent: self.agent.clone(),
            secret: self.secret.clone(),
            expires,
            hosts: self.hosts.clone(),
            approve: self.approve,
        };
        let log = place.chain(Some(&store))?;
        let project = agent.project.clone();
        commit(&dir, &file, &edit, event, &log)?;
        println!(
            "granted {project}/{} to {} until {}",
            self.secret,
            self.agent,
            expires.text()
        );
        Ok(crate::exit_code::OK)
    }

    fn event(&self, agent: &Agent, expires: Expiry) -> Event {
        let by = Operator::current();
        Event::GrantAdd {
            user: by.user,
            uid: by.uid,
            hostname: by.host,
            command: command_line(),
            agent: self.agent.clone(),
            project: agent.project.clone(),
            secret: self.secret.clone(),
            expires: expires.text(),
            hosts: self.hosts.join(","),
            approve: self.approve,
        }
    }
}

/// Now plus the default term, to the second.
fn default_expiry() -> Expiry {
    let at = OffsetDateTime::now_utc() + time::Duration::days(DEFAULT_DAYS);
    Expiry::At(at.replace_nanosecond(0).unwrap_or(at))
}

/// `never`, an RFC 3339 time, or an age from now (the one age parser,
/// `audit_grants::parse_age`).
fn parse_expires(text: &str) -> Result<Expiry, String> {
    if text == "never" {
        return Ok(Expiry::Never);
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(Expiry::At(at.to_offset(time::UtcOffset::UTC)));
    }
    let age = crate::commands::audit_grants::parse_age(text).map_err(|_| {
        format!("{text:?}: expected an age such as 30d, an RFC 3339 time, or never")
    })?;
    let at = OffsetDateTime::now_utc() + age;
    Ok(Expiry::At(at.replace_nanosecond(0).unwrap_or(at)))
}

fn check_hosts(hosts: &[String]) -> anyhow::Result<()> {
    for host in hosts {
        HostPattern::parse(host).map_err(|reason| Refused {
            message: format!("--hosts {host:?}: {reason}"),
            hint: Some("give scheme://host[:port], e.g. https://api.example.com".into()),
        })?;
    }
    Ok(())
}

/// The secret must be stored in the agent's own project.
fn check_stored(store: &Store, agent: &Agent, secret: &SecretName) -> anyhow::Result<()> {
    if store.find(&agent.project, secret).is_some() {
        return Ok(());
    }
    let project = &agent.project;
    let set = format!("printf %s \"$VALUE\" | runner secret set {secret} --project {project}");
    let elsewhere = store.entries().find(|e| &e.name == secret);
    let message = match elsewhere {
        Some(other) => format!(
            "secret {secret} is stored in project {}, but agent {} belongs to project {project}",
            other.project, agent.name
        ),
        None => format!("secret {secret} is not stored in project {project}"),
    };
    Err(Refused {
        message,
        hint: Some(format!("store it in the agent's project first: {set}")),
    }
    .into())
}
