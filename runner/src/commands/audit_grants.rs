//! `runner audit grants [--stale 30d] [--within 7d] [--fail-on FLAGS] [--json]`:
//! every grant in tasks.toml with its last use, number of uses and expiry,
//! flagged never-used, stale, expired, expiring, no-expiry, missing (secret
//! not in the store) or ghost (an agent that resolved a secret it is no
//! longer granted); then the stored secrets no grant names. With
//! `--fail-on`, a flag in the list makes the command exit 1 (for CI).
//!
//! Uses come from the audit log, read through `audit verify`'s verifier
//! ([`log_check::stream`]): on a log that does not verify, the table is
//! still printed, then a warning with the verdict and its exit code.

use std::collections::BTreeSet;

use crate::age::show;
use clap::Args;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::audit::{self, GRANT_FLAGS, GrantFlag, GrantUse, Horizon, PolicyGrant};
use crate::cli::Global;
use crate::commands::log_check;
use crate::commands::secret_list::print_table;
use crate::names::{ProjectName, SecretName};
use crate::policy::Policy;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct AuditGrants {
    /// Flag grants not resolved for longer than this (e.g. 30d, 12h, 2w)
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub stale: Option<Duration>,
    /// Flag grants that expire within this (default 7d)
    #[arg(long, value_name = "AGE", value_parser = parse_age, default_value = "7d")]
    pub within: Duration,
    /// Exit 1 if any grant has one of these flags (comma-separated: stale,
    /// expired, ghost, missing, no-expiry, expiring, never-used)
    #[arg(long, value_name = "FLAGS", value_delimiter = ',', value_parser = parse_flag)]
    pub fail_on: Vec<GrantFlag>,
    /// Print one JSON object per grant (JSON Lines)
    #[arg(long)]
    pub json: bool,
}

impl AuditGrants {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let policy = Policy::load(&global.config())?;
        let dir = global.open_reading()?;
        let store = Store::open(&dir)?;
        let stored: BTreeSet<_> = store
            .entries()
            .map(|e| (e.project.clone(), e.name.clone()))
            .collect();
        // Read through the verifier: the uses shown are the ones verified.
        let key = audit::CheckpointKey::from_store(&store);
        let mut records = Vec::new();
        let warning = log_check::stream(&dir, Some(&key), |r| records.push(r.clone()))?;
        let grants = grants_of(&policy);
        let horizon = Horizon {
            stale_after: self.stale,
            expiring_within: self.within,
        };
        let now = OffsetDateTime::now_utc();
        let rows = audit::review_grants(&grants, &stored, records, now, horizon);
        let unnamed = audit::ungranted(&grants, &stored);
        match self.json {
            true => print_json(&rows, &unnamed),
            false => print_rows(&rows, &unnamed),
        }
        Ok(log_check::finish(warning, self.verdict(&rows)))
    }

    /// 1 if a row has a flag `--fail-on` names (saying which on stderr).
    fn verdict(&self, rows: &[GrantUse]) -> u8 {
        let failing: Vec<&GrantUse> = rows
            .iter()
            .filter(|r| r.flags.iter().any(|f| self.fail_on.contains(f)))
            .collect();
        if failing.is_empty() {
            return crate::exit_code::OK;
        }
        let names: Vec<String> = failing
            .iter()
            .map(|r| format!("{}/{} ({})", r.reader.0, r.reader.2, flags(r)))
            .collect();
        eprintln!(
            "error: {} grant(s) have a flag named by --fail-on: {}",
            failing.len(),
            names.join(", ")
        );
        crate::exit_code::FAILURE
    }
}

fn parse_flag(code: &str) -> Result<GrantFlag, String> {
    GrantFlag::from_code(code).ok_or_else(|| {
        let valid: Vec<&str> = GRANT_FLAGS.iter().map(|f| f.code()).collect();
        format!("unknown flag {code:?}; valid: {}", valid.join(", "))
    })
}

fn print_json(rows: &[GrantUse], unnamed: &[&(ProjectName, SecretName)]) {
    rows.iter().for_each(|r| println!("{}", to_json(r)));
    for (project, secret) in unnamed {
        let line = json!({ "project": project.as_str(), "secret": secret.as_str(),
            "ungranted": true });
        println!("{line}");
    }
}

fn grants_of(policy: &Policy) -> Vec<PolicyGrant> {
    let per_agent = policy.agents().flat_map(|agent| {
        agent.grants.iter().map(|grant| PolicyGrant {
            reader: (
                agent.name.clone(),
                agent.project.clone(),
                grant.secret.clone(),
            ),
            expires: grant.expires,
        })
    });
    per_agent.collect()
}

/// The one age grammar of every flag: [`crate::age::parse_age`].
pub(crate) use crate::age::parse_age;

/// The one time format, with the relative time beside it.
fn when(ts: Option<OffsetDateTime>, none: &str, now: OffsetDateTime) -> String {
    ts.map(|t| crate::age::show_with_relative(t, now))
        .unwrap_or_else(|| none.to_owned())
}

fn flags(row: &GrantUse) -> String {
    let codes: Vec<&str> = row.flags.iter().map(|f| f.code()).collect();
    codes.join(",")
}

fn print_rows(rows: &[GrantUse], unnamed: &[&(ProjectName, SecretName)]) {
    match rows.is_empty() {
        true => println!("no grants in the policy and no secret resolutions in the log"),
        false => print_table_of(rows),
    }
    if !unnamed.is_empty() {
        let names: Vec<String> = unnamed.iter().map(|(p, s)| format!("{p}/{s}")).collect();
        println!("stored, granted to no agent: {}", names.join(", "));
    }
}

fn print_table_of(rows: &[GrantUse]) {
    let header = [
        "AGENT",
        "PROJECT",
        "SECRET",
        "GRANTED BY",
        "GRANTED",
        "EXPIRES",
        "LAST RESOLVED",
        "USES",
        "FLAGS",
    ];
    let now = OffsetDateTime::now_utc();
    let when = |ts, none| when(ts, none, now);
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            let (agent, project, secret) = &r.reader;
            let expires = match r.granted {
                true => when(r.expires, "never"),
                false => "(not granted)".to_owned(),
            };
            let by = r.granted_by.as_ref().map_or("-", |g| g.by.as_str());
            [
                agent.to_string(),
                project.to_string(),
                secret.to_string(),
                by.to_owned(),
                when(r.granted_by.as_ref().map(|g| g.at), "-"),
                expires,
                when(r.last_resolved, "never"),
                r.resolutions.to_string(),
                flags(r),
            ]
        })
        .collect();
    print_table(&header, &cells);
}

fn to_json(row: &GrantUse) -> serde_json::Value {
    let (agent, project, secret) = &row.reader;
    let codes: Vec<&str> = row.flags.iter().map(|f| f.code()).collect();
    json!({
        "agent": agent.as_str(), "project": project.as_str(), "secret": secret.as_str(),
        "granted": row.granted,
        "granted_by": row.granted_by.as_ref().map(|g| g.by.as_str()),
        "granted_at": row.granted_by.as_ref().map(|g| show(g.at)),
        "expires": row.expires.map(show),
        "last_resolved": row.last_resolved.map(show),
        "resolutions": row.resolutions,
        "flags": codes,
    })
}
