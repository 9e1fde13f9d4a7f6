//! Grant review: is each grant still used? Answered from the log.
//!
//! For every grant in the policy: when its secret was last resolved by that
//! agent, how often, when the grant expires, and flags: never used, unused
//! for longer than a threshold, expired, expiring soon, without expiry,
//! secret missing from the store. Stored secrets no grant names are listed.
//! Agents that resolved a secret in the past but no longer hold the grant
//! ("ghost" readers) get a row of their own. Pure: the caller supplies the
//! policy's grants, the store's entries and the records.

use std::collections::{BTreeMap, BTreeSet};

use time::{Duration, OffsetDateTime};

use super::record::{Event, Record};
use crate::names::{AgentName, ProjectName, SecretName};

/// Who may read what: one grant, or one past reader.
pub type Reader = (AgentName, ProjectName, SecretName);

/// A grant as the policy states it.
#[derive(Debug, Clone)]
pub struct PolicyGrant {
    pub reader: Reader,
    pub expires: Option<OffsetDateTime>,
}

/// Something worth an operator's attention about a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantFlag {
    /// Never resolved (in this log).
    NeverUsed,
    /// Last resolved longer ago than the `--stale` threshold.
    Stale,
    /// Its expiry has passed.
    Expired,
    /// The granted secret is not in the store.
    Missing,
    /// Resolved in the past, but the policy no longer grants it.
    Ghost,
    /// Granted with no expiry (`expires` absent or `never`).
    NoExpiry,
    /// Expires within the review's horizon (`--within`), not yet expired.
    Expiring,
}

/// Every flag, for parsing and listing the valid codes.
pub const GRANT_FLAGS: [GrantFlag; 7] = [
    GrantFlag::NeverUsed,
    GrantFlag::Stale,
    GrantFlag::Expired,
    GrantFlag::Missing,
    GrantFlag::Ghost,
    GrantFlag::NoExpiry,
    GrantFlag::Expiring,
];

impl GrantFlag {
    pub fn code(self) -> &'static str {
        match self {
            GrantFlag::NeverUsed => "never-used",
            GrantFlag::Stale => "stale",
            GrantFlag::Expired => "expired",
            GrantFlag::Missing => "missing",
            GrantFlag::Ghost => "ghost",
            GrantFlag::NoExpiry => "no-expiry",
            GrantFlag::Expiring => "expiring",
        }
    }

    /// The flag whose [`GrantFlag::code`] is `code`.
    pub fn from_code(code: &str) -> Option<GrantFlag> {
        GRANT_FLAGS.into_iter().find(|f| f.code() == code)
    }
}

/// What a review looks for, beyond the grants themselves.
#[derive(Debug, Clone, Copy)]
pub struct Horizon {
    /// Flag grants not resolved for longer than this.
    pub stale_after: Option<Duration>,
    /// Flag grants that expire within this.
    pub expiring_within: Duration,
}

/// One row of the review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantUse {
    pub reader: Reader,
    /// `false` for a ghost reader.
    pub granted: bool,
    pub expires: Option<OffsetDateTime>,
    pub last_resolved: Option<OffsetDateTime>,
    pub resolutions: u64,
    pub flags: Vec<GrantFlag>,
    /// Who made the grant as it stands and when: the newest `grant.add`
    /// or `policy.change` that added or changed it (`None`: not in this log).
    pub granted_by: Option<GrantedBy>,
}

/// The operator of a grant's last change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedBy {
    /// `user (uid N) on host`, with `by file edit` for a hand edit.
    pub by: String,
    pub at: OffsetDateTime,
}

#[derive(Default)]
struct Usage {
    last: Option<OffsetDateTime>,
    count: u64,
}

/// Reviews `grants` against the store's `stored` secrets and the log's
/// `records`, as of `now`. Grants come first in policy order, then ghosts.
pub fn review(
    grants: &[PolicyGrant],
    stored: &BTreeSet<(ProjectName, SecretName)>,
    records: impl IntoIterator<Item = Record>,
    now: OffsetDateTime,
    horizon: Horizon,
) -> Vec<GrantUse> {
    let stale_after = horizon.stale_after;
    let mut granted_by = BTreeMap::new();
    let mut usage = usage_of(records, &mut granted_by);
    let by = |reader: &Reader| {
        let (agent, _, secret) = reader;
        granted_by
            .get(&(agent.to_string(), secret.to_string()))
            .cloned()
    };
    let mut rows: Vec<GrantUse> = grants
        .iter()
        .map(|grant| {
            let used = usage.remove(&grant.reader).unwrap_or_default();
            let mut flags = Vec::new();
            match used.last {
                None => flags.push(GrantFlag::NeverUsed),
                Some(last) if stale_after.is_some_and(|d| now - last > d) => {
                    flags.push(GrantFlag::Stale)
                }
                Some(_) => {}
            }
            flags.extend(expiry_flag(grant.expires, now, horizon.expiring_within));
            let (_, project, secret) = &grant.reader;
            if !stored.contains(&(project.clone(), secret.clone())) {
                flags.push(GrantFlag::Missing);
            }
            let mut row = row(grant.reader.clone(), true, grant.expires, used, flags);
            row.granted_by = by(&grant.reader);
            row
        })
        .collect();
    let ghosts = usage
        .into_iter()
        .map(|(reader, used)| row(reader, false, None, used, vec![GrantFlag::Ghost]));
    rows.extend(ghosts);
    rows
}

/// `expired`, `expiring` (within `within`) or `no-expiry`, if any.
fn expiry_flag(
    expires: Option<OffsetDateTime>,
    now: OffsetDateTime,
    within: Duration,
) -> Option<GrantFlag> {
    match expires {
        None => Some(GrantFlag::NoExpiry),
        Some(at) if at <= now => Some(GrantFlag::Expired),
        Some(at) if now.checked_add(within).is_none_or(|soon| at <= soon) => {
            Some(GrantFlag::Expiring)
        }
        Some(_) => None,
    }
}

/// Stored secrets that no grant of the policy names.
pub fn ungranted<'a>(
    grants: &[PolicyGrant],
    stored: &'a BTreeSet<(ProjectName, SecretName)>,
) -> Vec<&'a (ProjectName, SecretName)> {
    let named: BTreeSet<(&ProjectName, &SecretName)> =
        grants.iter().map(|g| (&g.reader.1, &g.reader.2)).collect();
    stored
        .iter()
        .filter(|(project, secret)| !named.contains(&(project, secret)))
        .collect()
}

fn row(
    reader: Reader,
    granted: bool,
    expires: Option<OffsetDateTime>,
    used: Usage,
    flags: Vec<GrantFlag>,
) -> GrantUse {
    GrantUse {
        reader,
        granted,
        expires,
        last_resolved: used.last,
        resolutions: used.count,
        flags,
        granted_by: None,
    }
}

/// (agent, secret) -> who last added or changed that grant.
type GrantedMap = BTreeMap<(String, String), GrantedBy>;

fn usage_of(
    records: impl IntoIterator<Item = Record>,
    granted: &mut GrantedMap,
) -> BTreeMap<Reader, Usage> {
    let mut usage: BTreeMap<Reader, Usage> = BTreeMap::new();
    for record in records {
        note_grant_change(&record, granted);
        if let Event::SecretResolve {
            agent,
            project,
            secret,
            ..
        } = record.event
        {
            let used = usage.entry((agent, project, secret)).or_default();
            used.count += 1;
            used.last = used.last.max(Some(record.ts));
        }
    }
    usage
}

/// Remembers who added or changed a grant, from `grant.add` and from the
/// `+grant`/`~grant` entries of `policy.change`.
fn note_grant_change(record: &Record, granted: &mut GrantedMap) {
    let at = record.ts;
    match &record.event {
        Event::GrantAdd {
            user,
            uid,
            hostname,
            agent,
            secret,
            ..
        } => {
            let by = format!("{user} (uid {uid}) on {hostname}");
            granted.insert(
                (agent.to_string(), secret.to_string()),
                GrantedBy { by, at },
            );
        }
        Event::PolicyChange {
            user,
            uid,
            hostname,
            changes,
            ..
        } => {
            for entry in changes.split("; ") {
                let Some(rest) = entry
                    .strip_prefix("+grant ")
                    .or_else(|| entry.strip_prefix("~grant "))
                else {
                    continue;
                };
                let target = rest.split(' ').next().unwrap_or_default();
                let Some((agent, secret)) = target.split_once('/') else {
                    continue;
                };
                let by = format!("{user} (uid {uid}) on {hostname}, by file edit");
                let key = (agent.to_owned(), secret.to_owned());
                granted.insert(key, GrantedBy { by, at });
            }
        }
        _ => {}
    }
}
