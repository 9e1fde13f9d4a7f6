//! The policy-change record kinds (`project.add`, `agent.add`, `agent.rm`,
//! `grant.add`, `grant.revoke`, `policy.change`): their field order, their
//! hash encoding and their assembly from a parsed line.
//!
//! Every one starts with the operator: `user` (account name), `uid`,
//! `hostname`, `command` (the command line, or `file edit` for a change
//! found in the file), so the log answers "who granted this". The format is
//! specified in `docs/audit-format.md`.

use super::encode::Fields;
use super::record::Event;
use super::wire::WireLine;

const BY: [&str; 4] = ["user", "uid", "hostname", "command"];

/// The fields of a policy kind, in line and hashing order (operator first).
pub(super) fn field_names(event: &Event) -> &'static [&'static str] {
    const PROJECT_ADD: [&str; 6] = [BY[0], BY[1], BY[2], BY[3], "project", "description"];
    const AGENT_ADD: [&str; 7] = [
        BY[0],
        BY[1],
        BY[2],
        BY[3],
        "agent",
        "project",
        "description",
    ];
    const AGENT_RM: [&str; 6] = [BY[0], BY[1], BY[2], BY[3], "agent", "project"];
    const GRANT_ADD: [&str; 10] = [
        BY[0], BY[1], BY[2], BY[3], "agent", "project", "secret", "expires", "hosts", "approve",
    ];
    const GRANT_REVOKE: [&str; 7] = [BY[0], BY[1], BY[2], BY[3], "agent", "project", "secret"];
    const POLICY_CHANGE: [&str; 6] = [BY[0], BY[1], BY[2], BY[3], "policy", "changes"];
    match event {
        Event::ProjectAdd { .. } => &PROJECT_ADD,
        Event::AgentAdd { .. } => &AGENT_ADD,
        Event::AgentRemove { .. } => &AGENT_RM,
        Event::GrantAdd { .. } => &GRANT_ADD,
        Event::GrantRevoke { .. } => &GRANT_REVOKE,
        Event::PolicyChange { .. } => &POLICY_CHANGE,
        _ => &[],
    }
}

fn by(f: &mut Fields<'_>, user: &str, uid: u32, hostname: &str, command: &str) {
    f.str("user", user)
        .put("uid", &uid.to_le_bytes())
        .str("hostname", hostname)
        .str("command", command);
}

/// Encodes a policy kind's fields; `false` for any other kind.
pub(super) fn encode(event: &Event, f: &mut Fields<'_>) -> bool {
    match event {
        Event::ProjectAdd {
            user,
            uid,
            hostname,
            command,
            project,
            description,
        } => {
            by(f, user, *uid, hostname, command);
            f.str("project", project.as_str())
                .str("description", description);
        }
        Event::AgentAdd {
            user,
            uid,
            hostname,
            command,
            agent,
            project,
            description,
        } => {
            by(f, user, *uid, hostname, command);
            f.str("agent", agent.as_str())
                .str("project", project.as_str())
                .str("description", description);
        }
        Event::AgentRemove {
            user,
            uid,
            hostname,
            command,
            agent,
            project,
        } => {
            by(f, user, *uid, hostname, command);
            f.str("agent", agent.as_str())
                .str("project", project.as_str());
        }
        Event::GrantAdd {
            user,
            uid,
            hostname,
            command,
            agent,
            project,
            secret,
            expires,
            hosts,
            approve,
        } => {
            by(f, user, *uid, hostname, command);
            f.str("agent", agent.as_str())
                .str("project", project.as_str())
                .str("secret", secret.as_str())
                .str("expires", expires)
                .str("hosts", hosts)
                .put("approve", &[u8::from(*approve)]);
        }
        Event::GrantRevoke {
            user,
            uid,
            hostname,
            command,
            agent,
            project,
            secret,
        } => {
            by(f, user, *uid, hostname, command);
            f.str("agent", agent.as_str())
                .str("project", project.as_str())
                .str("secret", secret.as_str());
        }
        Event::PolicyChange {
            user,
            uid,
            hostname,
            command,
            policy,
            changes,
        } => {
            by(f, user, *uid, hostname, command);
            f.put("policy", policy.as_bytes()).str("changes", changes);
        }
        _ => return false,
    }
    true
}

/// Takes a required field out of the wire struct.
macro_rules! take {
    ($w:ident . $field:ident) => {
        $w.$field
            .take()
            .ok_or_else(|| format!("missing field `{}`", stringify!($field)))?
    };
}

const KINDS: [&str; 6] = [
    "project.add",
    "agent.add",
    "agent.rm",
    "grant.add",
    "grant.revoke",
    "policy.change",
];

/// `kind` if it is a policy kind.
pub(super) fn kind(kind: &str) -> Option<&'static str> {
    KINDS.into_iter().find(|k| *k == kind)
}

/// Builds the policy event of `kind` (one of [`kind`]'s) from the line's fields.
pub(super) fn from_wire(kind: &str, w: &mut WireLine<'_>) -> Result<Event, String> {
    let (user, uid, hostname, command) = (
        take!(w.user),
        take!(w.uid),
        take!(w.hostname),
        take!(w.command),
    );
    Ok(match kind {
        "project.add" => Event::ProjectAdd {
            user,
            uid,
            hostname,
            command,
            project: take!(w.project),
            description: take!(w.description),
        },
        "agent.add" => Event::AgentAdd {
            user,
            uid,
            hostname,
            command,
            agent: take!(w.agent),
            project: take!(w.project),
            description: take!(w.description),
        },
        "agent.rm" => Event::AgentRemove {
            user,
            uid,
            hostname,
            command,
            agent: take!(w.agent),
            project: take!(w.project),
        },
        "grant.add" => Event::GrantAdd {
            user,
            uid,
            hostname,
            command,
            agent: take!(w.agent),
            project: take!(w.project),
            secret: super::wire::secret_name(take!(w.secret))?,
            expires: take!(w.expires),
            hosts: take!(w.hosts),
            approve: take!(w.approve),
        },
        "grant.revoke" => Event::GrantRevoke {
            user,
            uid,
            hostname,
            command,
            agent: take!(w.agent),
            project: take!(w.project),
            secret: super::wire::secret_name(take!(w.secret))?,
        },
        _ => Event::PolicyChange {
            user,
            uid,
            hostname,
            command,
            policy: take!(w.policy),
            changes: take!(w.changes),
        },
    })
}

/// One readable line for a policy kind (for `runner audit log`); `None` for
/// any other kind. Names the operator and what changed.
pub fn describe(event: &Event) -> Option<String> {
    let (what, by) = match event {
        Event::ProjectAdd {
            project,
            user,
            uid,
            hostname,
            ..
        } => (format!("project.add    {project}"), (user, uid, hostname)),
        Event::AgentAdd {
            agent,
            project,
            user,
            uid,
            hostname,
            ..
        } => (
            format!("agent.add      {agent} ({project})"),
            (user, uid, hostname),
        ),
        Event::AgentRemove {
            agent,
            project,
            user,
            uid,
            hostname,
            ..
        } => (
            format!("agent.rm       {agent} ({project})"),
            (user, uid, hostname),
        ),
        Event::GrantAdd {
            agent,
            project,
            secret,
            expires,
            hosts,
            approve,
            user,
            uid,
            hostname,
            ..
        } => {
            let hosts = if hosts.is_empty() { "none" } else { hosts };
            let what = format!(
                "grant.add      {project}/{secret} to {agent} until {expires} hosts {hosts}{}",
                if *approve { " approve" } else { "" }
            );
            (what, (user, uid, hostname))
        }
        Event::GrantRevoke {
            agent,
            project,
            secret,
            user,
            uid,
            hostname,
            ..
        } => (
            format!("grant.revoke   {project}/{secret} from {agent}"),
            (user, uid, hostname),
        ),
        Event::PolicyChange {
            changes,
            user,
            uid,
            hostname,
            command,
            ..
        } => (
            format!("policy.change  {command}: {changes}"),
            (user, uid, hostname),
        ),
        _ => return None,
    };
    let (user, uid, hostname) = by;
    Some(format!("{what} by {user} (uid {uid}) on {hostname}"))
}
