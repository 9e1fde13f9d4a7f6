//! `runner audit grants [--stale 30d] [--json]`: every grant in tasks.toml
//! with its last use, number of uses and expiry, flagged never-used, stale,
//! expired, missing (secret not in the store) or ghost (an agent that
//! resolved a secret it is no longer granted).

use std::collections::BTreeSet;

use clap::Args;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::audit::{self, GrantUse, PolicyGrant};
use crate::cli::Global;
use crate::commands::secret_list::print_table;
use crate::policy::Policy;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct AuditGrants {
    /// Flag grants not resolved for longer than this (e.g. 30d, 12h, 2w)
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub stale: Option<Duration>,
    /// Print one JSON object per grant (JSON Lines)
    #[arg(long)]
    pub json: bool,
}

impl AuditGrants {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let policy = Policy::load(&global.config())?;
        let dir = global.open_home()?;
        let store = Store::open(&dir)?;
        let stored: BTreeSet<_> = store
            .entries()
            .map(|e| (e.project.clone(), e.name.clone()))
            .collect();
        let records = audit::read_records(&dir.join(audit::AUDIT_FILE))?;
        let rows = audit::review_grants(
            &grants_of(&policy),
            &stored,
            records,
            OffsetDateTime::now_utc(),
            self.stale,
        );
        match self.json {
            true => rows.iter().for_each(|r| println!("{}", to_json(r))),
            false => print_rows(&rows),
        }
        Ok(crate::exit_code::OK)
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

/// The longest age accepted: 100 years, far past any log, and small enough
/// that "now minus the age" is always a valid time.
pub(crate) const MAX_AGE_DAYS: i64 = 36_500;

/// `30d`, `12h`, `2w`, `90m`: a whole number and a unit, at most
/// [`MAX_AGE_DAYS`]. Every number is checked: an error, never an overflow.
pub(crate) fn parse_age(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_seconds: i64 = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "{text:?}: expected a number and a unit (m, h, d or w), e.g. 30d"
            ));
        }
    };
    let too_long = || {
        format!(
            "{text:?} is too long an age: at most {MAX_AGE_DAYS}d (100 years);              for an exact point in time give an RFC 3339 time"
        )
    };
    let n: i64 = match number.parse() {
        Ok(n) => n,
        Err(_) if !number.is_empty() => return Err(too_long()),
        Err(_) => {
            return Err(format!(
                "{text:?}: expected a number before the unit, e.g. 30d"
            ));
        }
    };
    let seconds = n.checked_mul(unit_seconds).ok_or_else(too_long)?;
    if seconds > MAX_AGE_DAYS * 86_400 {
        return Err(too_long());
    }
    Ok(Duration::seconds(seconds))
}

fn when(ts: Option<OffsetDateTime>, none: &str) -> String {
    ts.and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| none.to_owned())
}

fn flags(row: &GrantUse) -> String {
    let codes: Vec<&str> = row.flags.iter().map(|f| f.code()).collect();
    codes.join(",")
}

fn print_rows(rows: &[GrantUse]) {
    if rows.is_empty() {
        println!("no grants in the policy and no secret resolutions in the log");
        return;
    }
    let header = [
        "AGENT",
        "PROJECT",
        "SECRET",
        "EXPIRES",
        "LAST RESOLVED",
        "USES",
        "FLAGS",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let (agent, project, secret) = &r.reader;
            let expires = match r.granted {
                true => when(r.expires, "never"),
                false => "(not granted)".to_owned(),
            };
            [
                agent.to_string(),
                project.to_string(),
                secret.to_string(),
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
        "expires": row.expires.and_then(|t| t.format(&Rfc3339).ok()),
        "last_resolved": row.last_resolved.and_then(|t| t.format(&Rfc3339).ok()),
        "resolutions": row.resolutions,
        "flags": codes,
    })
}
