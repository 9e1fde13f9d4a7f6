//! The fast, strict parser for record lines (and [`Parsed`]: a line parsed
//! and its hash recomputed).
//!
//! `Event`'s derived, `kind`-tagged deserialiser buffers every field before
//! choosing a variant, which costs more than the rest of verification put
//! together. Records are therefore read into one flat struct holding every
//! field any kind can have (`deny_unknown_fields`, duplicates rejected by the
//! derive, `null` rejected by [`present`]) and then assembled into an
//! [`Event`], rejecting any field the kind does not have. The property tests
//! check that this accepts exactly the lines the writer produces.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

use super::canonical;
use super::encode::{self, FORMAT_VERSION, Header};
use super::ids::{Hash, LogId, RunId, Token};
use super::record::{Event, HEAD_FIELDS, MAX_LINE_BYTES, Record, TAIL_FIELDS, TAIL_FIELDS_MAC};
use super::timestamp;
use crate::names::{AgentName, ProjectName, SecretName};

/// A field that is absent (`None`) or holds a `T`; `null` is a type error.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Every field of every record kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireLine<'a> {
    pub v: u32,
    pub log: LogId,
    pub seq: u64,
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(default, deserialize_with = "present")]
    store: Option<String>,
    #[serde(default, deserialize_with = "present")]
    dropped_bytes: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    dropped_hash: Option<Hash>,
    #[serde(default, deserialize_with = "present")]
    run: Option<RunId>,
    #[serde(default, deserialize_with = "present")]
    pub(super) agent: Option<AgentName>,
    #[serde(default, deserialize_with = "present")]
    pub(super) project: Option<ProjectName>,
    #[serde(default, deserialize_with = "present")]
    component: Option<Hash>,
    #[serde(default, deserialize_with = "present")]
    pub(super) policy: Option<Hash>,
    #[serde(default, deserialize_with = "present")]
    policy_path: Option<String>,
    #[serde(default, deserialize_with = "present")]
    script: Option<Hash>,
    #[serde(default, deserialize_with = "present")]
    script_bytes: Option<u64>,
    /// A [`SecretName`] except in `secret.deny`.
    #[serde(default, deserialize_with = "present")]
    pub(super) secret: Option<String>,
    #[serde(default, deserialize_with = "present")]
    version: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    reason: Option<Token>,
    #[serde(default, deserialize_with = "present")]
    detail: Option<String>,
    #[serde(default, deserialize_with = "present")]
    by_uid: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    by_user: Option<String>,
    #[serde(default, deserialize_with = "present")]
    exit_code: Option<i32>,
    #[serde(default, deserialize_with = "present")]
    duration_ms: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    outcome: Option<Token>,
    #[serde(default, deserialize_with = "present")]
    repeats: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    as_agent: Option<String>,
    #[serde(default, deserialize_with = "present")]
    tool: Option<String>,
    #[serde(default, deserialize_with = "present")]
    client: Option<String>,
    #[serde(default, deserialize_with = "present")]
    client_version: Option<String>,
    #[serde(default, deserialize_with = "present")]
    method: Option<String>,
    #[serde(default, deserialize_with = "present")]
    target: Option<String>,
    #[serde(default, deserialize_with = "present")]
    path: Option<String>,
    #[serde(default, deserialize_with = "present")]
    decision: Option<Token>,
    #[serde(default, deserialize_with = "present")]
    injected: Option<String>,
    #[serde(default, deserialize_with = "present")]
    status: Option<u16>,
    #[serde(default, deserialize_with = "present")]
    generation: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    segment: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    records: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    replaces: Option<u64>,
    // The policy-change kinds (`policy_events.rs`).
    #[serde(default, deserialize_with = "present")]
    pub(super) user: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) uid: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    pub(super) hostname: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) command: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) expires: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) hosts: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) approve: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub(super) changes: Option<String>,
    pub prev: Hash,
    pub hash: Hash,
    /// Present when the writer held the store key (`mac.rs`).
    #[serde(default, deserialize_with = "present")]
    pub mac: Option<Hash>,
}

/// Takes a required field out of the wire struct.
macro_rules! take {
    ($w:ident . $field:ident) => {
        $w.$field
            .take()
            .ok_or_else(|| format!("missing field `{}`", stringify!($field)))?
    };
}

impl WireLine<'_> {
    /// Builds the event of this line's `kind` from exactly that kind's fields.
    pub(crate) fn take_event(&mut self) -> Result<Event, String> {
        let w = self;
        let event = match &*w.kind {
            "log.init" => Event::LogInit {
                store: take!(w.store),
            },
            "log.recover" => Event::LogRecover {
                dropped_bytes: take!(w.dropped_bytes),
                dropped_hash: take!(w.dropped_hash),
            },
            "exec.start" if w.script.is_some() == w.script_bytes.is_some() => Event::ExecStart {
                run: take!(w.run),
                agent: take!(w.agent),
                project: take!(w.project),
                component: take!(w.component),
                policy: take!(w.policy),
                policy_path: take!(w.policy_path),
                script: w.script.take(),
                script_bytes: w.script_bytes.take(),
            },
            "exec.start" => return Err("`script` and `script_bytes` go together".into()),
            "secret.resolve" => Event::SecretResolve {
                run: take!(w.run),
                agent: take!(w.agent),
                project: take!(w.project),
                secret: secret_name(take!(w.secret))?,
                version: take!(w.version),
            },
            "secret.deny" => Event::SecretDeny {
                run: take!(w.run),
                agent: take!(w.agent),
                project: take!(w.project),
                secret: take!(w.secret),
                reason: take!(w.reason),
                detail: take!(w.detail),
            },
            "secret.approve" => Event::SecretApprove {
                run: take!(w.run),
                agent: take!(w.agent),
                project: take!(w.project),
                secret: secret_name(take!(w.secret))?,
                component: take!(w.component),
                outcome: take!(w.outcome),
                by_uid: take!(w.by_uid),
                by_user: take!(w.by_user),
            },
            "exec.end" => Event::ExecEnd {
                run: take!(w.run),
                agent: take!(w.agent),
                project: take!(w.project),
                exit_code: take!(w.exit_code),
                duration_ms: take!(w.duration_ms),
                outcome: take!(w.outcome),
                repeats: take!(w.repeats),
            },
            "exec.refused" => Event::ExecRefused {
                as_agent: take!(w.as_agent),
                path: take!(w.path),
                component: take!(w.component),
                reason: take!(w.reason),
                detail: take!(w.detail),
            },
            "tool.call" => Event::ToolCall {
                run: take!(w.run),
                agent: take!(w.agent),
                project: take!(w.project),
                tool: take!(w.tool),
                client: take!(w.client),
                client_version: take!(w.client_version),
            },
            "tool.refused" => Event::ToolRefused {
                tool: take!(w.tool),
                as_agent: take!(w.as_agent),
                client: take!(w.client),
                client_version: take!(w.client_version),
                reason: take!(w.reason),
                detail: take!(w.detail),
            },
            "http.request" => Event::HttpRequest {
                run: take!(w.run),
                agent: take!(w.agent),
                project: take!(w.project),
                method: take!(w.method),
                target: take!(w.target),
                path: take!(w.path),
                decision: take!(w.decision),
                reason: take!(w.reason),
                injected: take!(w.injected),
                status: take!(w.status),
            },
            "secret.set" | "secret.rotate" | "secret.remove" => w.store_event()?,
            "store.write" => Event::StoreWrite {
                store: take!(w.store),
                generation: take!(w.generation),
            },
            "store.rekey" => Event::StoreRekey {
                store: take!(w.store),
                detail: take!(w.detail),
            },
            "store.restore" => Event::StoreRestore {
                store: take!(w.store),
                generation: take!(w.generation),
                replaces: take!(w.replaces),
            },
            "segment.close" => Event::SegmentClose {
                segment: take!(w.segment),
                records: take!(w.records),
            },
            "segment.open" => Event::SegmentOpen {
                segment: take!(w.segment),
                store: take!(w.store),
                generation: take!(w.generation),
            },
            other => match super::policy_events::kind(other) {
                Some(kind) => super::policy_events::from_wire(kind, w)?,
                None => return Err(format!("unknown record kind {other:?}")),
            },
        };
        match w.leftover() {
            Some(field) => Err(format!("unknown field `{field}` for kind `{}`", w.kind)),
            None => Ok(event),
        }
    }

    fn store_event(&mut self) -> Result<Event, String> {
        let w = self;
        let (project, secret, version) = (
            take!(w.project),
            secret_name(take!(w.secret))?,
            take!(w.version),
        );
        Ok(match &*w.kind {
            "secret.set" => Event::SecretSet {
                project,
                secret,
                version,
            },
            "secret.rotate" => Event::SecretRotate {
                project,
                secret,
                version,
            },
            _ => Event::SecretRemove {
                project,
                secret,
                version,
            },
        })
    }

    /// The first kind-specific field the event did not take.
    fn leftover(&self) -> Option<&'static str> {
        let present = [
            ("store", self.store.is_some()),
            ("generation", self.generation.is_some()),
            ("dropped_bytes", self.dropped_bytes.is_some()),
            ("dropped_hash", self.dropped_hash.is_some()),
            ("run", self.run.is_some()),
            ("agent", self.agent.is_some()),
            ("project", self.project.is_some()),
            ("component", self.component.is_some()),
            ("policy", self.policy.is_some()),
            ("policy_path", self.policy_path.is_some()),
            ("script", self.script.is_some()),
            ("script_bytes", self.script_bytes.is_some()),
            ("secret", self.secret.is_some()),
            ("version", self.version.is_some()),
            ("reason", self.reason.is_some()),
            ("detail", self.detail.is_some()),
            ("exit_code", self.exit_code.is_some()),
            ("duration_ms", self.duration_ms.is_some()),
            ("outcome", self.outcome.is_some()),
            ("repeats", self.repeats.is_some()),
            ("as_agent", self.as_agent.is_some()),
            ("tool", self.tool.is_some()),
            ("client", self.client.is_some()),
            ("client_version", self.client_version.is_some()),
            ("method", self.method.is_some()),
            ("target", self.target.is_some()),
            ("path", self.path.is_some()),
            ("decision", self.decision.is_some()),
            ("injected", self.injected.is_some()),
            ("status", self.status.is_some()),
            ("segment", self.segment.is_some()),
            ("records", self.records.is_some()),
            ("replaces", self.replaces.is_some()),
            ("user", self.user.is_some()),
            ("uid", self.uid.is_some()),
            ("hostname", self.hostname.is_some()),
            ("command", self.command.is_some()),
            ("description", self.description.is_some()),
            ("expires", self.expires.is_some()),
            ("hosts", self.hosts.is_some()),
            ("approve", self.approve.is_some()),
            ("changes", self.changes.is_some()),
        ];
        present
            .into_iter()
            .find(|(_, set)| *set)
            .map(|(name, _)| name)
    }
}

pub(super) fn secret_name(name: String) -> Result<SecretName, String> {
    SecretName::new(name).map_err(|e| e.to_string())
}

/// Buffers reused across lines so that verify does not allocate per record.
#[derive(Default)]
pub(crate) struct Scratch {
    encoding: Vec<u8>,
}

/// A parsed line plus the hash its fields recompute to.
pub(crate) struct Parsed {
    pub record: Record,
    pub computed: Hash,
}

impl Parsed {
    /// Parses one line strictly and recomputes its hash.
    pub(crate) fn from_line(line: &[u8], scratch: &mut Scratch) -> Result<Parsed, String> {
        let mut wire = parse_wire(line)?;
        let ts = timestamp::parse(&wire.ts)?;
        let event = wire.take_event()?;
        let tail = match wire.mac {
            Some(_) => TAIL_FIELDS_MAC,
            None => TAIL_FIELDS,
        };
        canonical::check(line, &[HEAD_FIELDS, event.field_names(), tail])?;
        let header = Header {
            log: &wire.log,
            seq: wire.seq,
            ts: &wire.ts,
        };
        let computed = encode::record_hash(&header, &event, &wire.prev, &mut scratch.encoding);
        let (seq, log, prev, hash) = (wire.seq, wire.log, wire.prev, wire.hash);
        let record = Record {
            seq,
            ts,
            log,
            prev,
            hash,
            event,
            mac: wire.mac,
        };
        Ok(Parsed { record, computed })
    }
}

/// The line-level checks and the typed JSON parse.
fn parse_wire(line: &[u8]) -> Result<WireLine<'_>, String> {
    if line.len() > MAX_LINE_BYTES {
        return Err(format!("line is longer than {MAX_LINE_BYTES} bytes"));
    }
    if line.contains(&b'\r') {
        return Err("line contains a carriage return (\\r)".to_owned());
    }
    // One UTF-8 check for the whole line is cheaper than serde_json's per string.
    let text = std::str::from_utf8(line).map_err(|e| format!("line is not UTF-8: {e}"))?;
    let wire: WireLine<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if wire.v != FORMAT_VERSION {
        let v = wire.v;
        return Err(format!(
            "format version {v}: this runner reads version {FORMAT_VERSION}"
        ));
    }
    Ok(wire)
}
