//! Typed audit records and their one-line JSON form.
//!
//! [`Event`] is what callers append; [`Record`] is an event sealed into the
//! chain (sequence number, time, log id, previous hash, own hash).
//!
//! Guarantees:
//! - Parsing is strict: unknown, missing, duplicate or mistyped fields, a
//!   format version other than 1, bad hex, a non-canonical timestamp, `\r`
//!   and lines over [`MAX_LINE_BYTES`] are errors.
//! - A line parses only if it is byte-for-byte what the writer would write for
//!   the parsed record (compact JSON, fixed field order, serde_json escapes).
//!   So the log has exactly one spelling per record and any edit of a line is
//!   either rejected here or changes a hashed field.
//! - No field carries a secret value: only names, versions and digests.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::encode::{self, FORMAT_VERSION, Header};
use super::ids::{Hash, LogId, RunId, Token};
use super::policy_events;
use super::timestamp;
pub(crate) use super::wire::{Parsed, Scratch};
use crate::names::{AgentName, ProjectName, SecretName};

/// Longest accepted record line in bytes, not counting its `\n`.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One auditable event. In JSON the variant is the `kind` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Event {
    /// First record of every log, written by `runner init`.
    #[serde(rename = "log.init")]
    LogInit { store: String },
    /// The writer found an incomplete last line (a crash during an append)
    /// and cut it off before appending. The cut bytes were never
    /// acknowledged to a caller, so no secret was released on their account.
    #[serde(rename = "log.recover")]
    LogRecover {
        dropped_bytes: u64,
        dropped_hash: Hash,
    },
    #[serde(rename = "exec.start")]
    ExecStart {
        run: RunId,
        agent: AgentName,
        project: ProjectName,
        /// blake3 of the component's `.wasm` bytes.
        component: Hash,
        /// blake3 of the tasks.toml bytes.
        policy: Hash,
        policy_path: String,
        /// For a script run (`runner exec SCRIPT.py`): blake3 of the
        /// script's exact text, kept in the state dir's script store;
        /// `component` is then the interpreter's digest. Absent otherwise
        /// (and in every record written before scripts existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        script: Option<Hash>,
        /// The script's size in bytes; present exactly when `script` is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        script_bytes: Option<u64>,
    },
    /// Written, and synced, before the value is handed to the task.
    #[serde(rename = "secret.resolve")]
    SecretResolve {
        run: RunId,
        agent: AgentName,
        project: ProjectName,
        secret: SecretName,
        version: u32,
    },
    #[serde(rename = "secret.deny")]
    SecretDeny {
        run: RunId,
        agent: AgentName,
        project: ProjectName,
        /// What the task asked for: not necessarily a valid name.
        secret: String,
        reason: Token,
        detail: String,
    },
    /// A person's answer to an approval grant's question (`approve =
    /// true`), before the value is released or the request denied.
    #[serde(rename = "secret.approve")]
    SecretApprove {
        run: RunId,
        agent: AgentName,
        project: ProjectName,
        secret: SecretName,
        /// blake3 of the component's `.wasm` bytes, as shown to the person.
        component: Hash,
        /// `allowed`, `refused` or `timed-out`.
        outcome: Token,
        /// Who answered: the uid and user name of the process at the terminal.
        by_uid: u32,
        by_user: String,
    },
    #[serde(rename = "exec.end")]
    ExecEnd {
        run: RunId,
        agent: AgentName,
        project: ProjectName,
        exit_code: i32,
        duration_ms: u64,
        outcome: Token,
        /// Resolutions of a secret version already resolved (and recorded)
        /// earlier in the run: counted here instead of recorded again.
        repeats: u64,
    },
    /// The run that follows is a call of an MCP tool (`runner mcp`):
    /// written right after the run's `exec.start`. `client` and
    /// `client_version` are what the client said in the protocol's
    /// handshake (not authenticated; at most 512 characters each).
    #[serde(rename = "tool.call")]
    ToolCall {
        run: RunId,
        agent: AgentName,
        project: ProjectName,
        tool: String,
        client: String,
        client_version: String,
    },
    /// A call of an MCP tool refused before any run started: an unknown
    /// tool, a tool that may not run now, bad arguments, or a run the exec
    /// operation refused (then an `exec.refused` precedes it). Every call
    /// thus leaves a record: `tool.call` when it ran, this when it did not.
    #[serde(rename = "tool.refused")]
    ToolRefused {
        /// The tool name as the client sent it (at most 512 characters).
        tool: String,
        /// The tool's agent in tasks.toml; empty for an unknown tool.
        as_agent: String,
        client: String,
        client_version: String,
        /// Why, as a short code (`unknown-tool`, `unavailable`, ...).
        reason: Token,
        detail: String,
    },
    /// A run refused before its task started (unknown agent, unpinned
    /// component, a file that is not a component, an unsupported import,
    /// a missing host directory): no `exec.start` follows.
    #[serde(rename = "exec.refused")]
    ExecRefused {
        /// The agent name the run asked for, as given: not necessarily a
        /// valid or known agent name.
        as_agent: String,
        /// The task file as given on the command line.
        path: String,
        /// blake3 of the file's bytes; all zeros when it could not be read.
        component: Hash,
        /// Why, as a short code (`unknown-agent`, `unpinned`, ...).
        reason: Token,
        detail: String,
    },
    /// One outgoing HTTP request attempt of a task, allowed or denied.
    /// Never holds header values or bodies; `path` has secret values and
    /// placeholders replaced by `[REDACTED:name]` / `[PLACEHOLDER:name]`.
    #[serde(rename = "http.request")]
    HttpRequest {
        run: RunId,
        agent: AgentName,
        project: ProjectName,
        method: String,
        /// `scheme://host:port`.
        target: String,
        path: String,
        /// `allowed` or `denied`.
        decision: Token,
        /// Why, as a short code (`sent`, `not-allowed`, `exfiltration`, ...).
        reason: Token,
        /// Comma-separated names of the secrets injected into the request.
        injected: String,
        /// The response status; 0 when there was no response.
        status: u16,
    },
    #[serde(rename = "secret.set")]
    SecretSet {
        project: ProjectName,
        secret: SecretName,
        version: u32,
    },
    #[serde(rename = "secret.rotate")]
    SecretRotate {
        project: ProjectName,
        secret: SecretName,
        version: u32,
    },
    #[serde(rename = "secret.remove")]
    SecretRemove {
        project: ProjectName,
        secret: SecretName,
        version: u32,
    },
    /// The store file was rewritten; `generation` is its new write counter
    /// (a store file below the newest recorded generation is a rollback).
    #[serde(rename = "store.write")]
    StoreWrite { store: String, generation: u64 },
    /// The operator accepted an older store file as an intentional restore
    /// (`runner accept-restore`): the file at `generation` replaces the one
    /// recorded at `replaces`. The `store.write` that follows re-stamps it
    /// above `replaces`, so it is no longer a rollback.
    #[serde(rename = "store.restore")]
    StoreRestore {
        store: String,
        generation: u64,
        replaces: u64,
    },
    /// The store's key changed (`runner rekey`): `detail` says what now
    /// protects it and whether every secret was re-encrypted. The
    /// `store.write` that follows records the rewritten file.
    #[serde(rename = "store.rekey")]
    StoreRekey { store: String, detail: String },
    /// Last record of a sealed segment file (log rotation): this was
    /// segment number `segment` and it holds `records` records, this one
    /// included. The chain continues in the next segment.
    #[serde(rename = "segment.close")]
    SegmentClose { segment: u64, records: u64 },
    /// First record of every segment after the first (which starts with
    /// `log.init`); its `prev` is the hash of the previous segment's close.
    /// It carries the log's store id (`log.init`'s `store`) and the
    /// generation of the last `store.write` for that store before it (0:
    /// none), so the store's rollback check reads only the active segment.
    #[serde(rename = "segment.open")]
    SegmentOpen {
        segment: u64,
        store: String,
        generation: u64,
    },
    /// Policy changes (`policy_events.rs`), each naming its operator and command.
    #[serde(rename = "project.add")]
    ProjectAdd {
        user: String,
        uid: u32,
        hostname: String,
        command: String,
        project: ProjectName,
        description: String,
    },
    #[serde(rename = "agent.add")]
    AgentAdd {
        user: String,
        uid: u32,
        hostname: String,
        command: String,
        agent: AgentName,
        project: ProjectName,
        description: String,
    },
    #[serde(rename = "agent.rm")]
    AgentRemove {
        user: String,
        uid: u32,
        hostname: String,
        command: String,
        agent: AgentName,
        project: ProjectName,
    },
    #[serde(rename = "grant.add")]
    GrantAdd {
        user: String,
        uid: u32,
        hostname: String,
        command: String,
        agent: AgentName,
        project: ProjectName,
        secret: SecretName,
        /// RFC 3339 or `never`; `hosts`: comma-separated, empty for none.
        expires: String,
        hosts: String,
        approve: bool,
    },
    #[serde(rename = "grant.revoke")]
    GrantRevoke {
        user: String,
        uid: u32,
        hostname: String,
        command: String,
        agent: AgentName,
        project: ProjectName,
        secret: SecretName,
    },
    /// A hand edit of tasks.toml (`command` is `file edit`, the operator the file's owner).
    #[serde(rename = "policy.change")]
    PolicyChange {
        user: String,
        uid: u32,
        hostname: String,
        command: String,
        policy: Hash,
        changes: String,
    },
}

impl Event {
    /// The `kind` field's value.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::LogInit { .. } => "log.init",
            Event::LogRecover { .. } => "log.recover",
            Event::ExecStart { .. } => "exec.start",
            Event::SecretResolve { .. } => "secret.resolve",
            Event::SecretDeny { .. } => "secret.deny",
            Event::SecretApprove { .. } => "secret.approve",
            Event::ExecEnd { .. } => "exec.end",
            Event::ExecRefused { .. } => "exec.refused",
            Event::ToolCall { .. } => "tool.call",
            Event::ToolRefused { .. } => "tool.refused",
            Event::HttpRequest { .. } => "http.request",
            Event::SecretSet { .. } => "secret.set",
            Event::SecretRotate { .. } => "secret.rotate",
            Event::SecretRemove { .. } => "secret.remove",
            Event::StoreWrite { .. } => "store.write",
            Event::StoreRestore { .. } => "store.restore",
            Event::StoreRekey { .. } => "store.rekey",
            Event::SegmentClose { .. } => "segment.close",
            Event::SegmentOpen { .. } => "segment.open",
            Event::ProjectAdd { .. } => "project.add",
            Event::AgentAdd { .. } => "agent.add",
            Event::AgentRemove { .. } => "agent.rm",
            Event::GrantAdd { .. } => "grant.add",
            Event::GrantRevoke { .. } => "grant.revoke",
            Event::PolicyChange { .. } => "policy.change",
        }
    }

    /// The kind's own fields, in line and hashing order.
    pub(crate) fn field_names(&self) -> &'static [&'static str] {
        const WHO: [&str; 3] = ["run", "agent", "project"];
        match self {
            Event::LogInit { .. } => &["store"],
            Event::LogRecover { .. } => &["dropped_bytes", "dropped_hash"],
            Event::ExecStart { script: None, .. } => {
                &[WHO[0], WHO[1], WHO[2], "component", "policy", "policy_path"]
            }
            Event::ExecStart {
                script: Some(_), ..
            } => &[
                WHO[0],
                WHO[1],
                WHO[2],
                "component",
                "policy",
                "policy_path",
                "script",
                "script_bytes",
            ],
            Event::SecretResolve { .. } => &[WHO[0], WHO[1], WHO[2], "secret", "version"],
            Event::SecretDeny { .. } => &[WHO[0], WHO[1], WHO[2], "secret", "reason", "detail"],
            Event::SecretApprove { .. } => &[
                WHO[0],
                WHO[1],
                WHO[2],
                "secret",
                "component",
                "outcome",
                "by_uid",
                "by_user",
            ],
            Event::ExecEnd { .. } => &[
                WHO[0],
                WHO[1],
                WHO[2],
                "exit_code",
                "duration_ms",
                "outcome",
                "repeats",
            ],
            Event::ExecRefused { .. } => &["as_agent", "path", "component", "reason", "detail"],
            Event::ToolCall { .. } => &[WHO[0], WHO[1], WHO[2], "tool", "client", "client_version"],
            Event::ToolRefused { .. } => &[
                "tool",
                "as_agent",
                "client",
                "client_version",
                "reason",
                "detail",
            ],
            Event::HttpRequest { .. } => &[
                WHO[0], WHO[1], WHO[2], "method", "target", "path", "decision", "reason",
                "injected", "status",
            ],
            Event::SecretSet { .. } | Event::SecretRotate { .. } | Event::SecretRemove { .. } => {
                &["project", "secret", "version"]
            }
            Event::StoreWrite { .. } => &["store", "generation"],
            Event::StoreRestore { .. } => &["store", "generation", "replaces"],
            Event::StoreRekey { .. } => &["store", "detail"],
            Event::SegmentClose { .. } => &["segment", "records"],
            Event::SegmentOpen { .. } => &["segment", "store", "generation"],
            policy => policy_events::field_names(policy),
        }
    }
}

/// Fields before and after the kind's own, in line and hashing order.
pub(super) const HEAD_FIELDS: &[&str] = &["v", "log", "seq", "ts", "kind"];
pub(super) const TAIL_FIELDS: &[&str] = &["prev", "hash"];
/// The tail of a record written with the store key.
pub(super) const TAIL_FIELDS_MAC: &[&str] = &["prev", "hash", "mac"];

/// A record as stored: an event sealed into the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    /// UTC, whole microseconds.
    pub ts: OffsetDateTime,
    pub log: LogId,
    /// The previous record's `hash` ([`Hash::ZERO`] for seq 0).
    pub prev: Hash,
    /// blake3 of the record's binary encoding under the public context
    /// `HASH_CONTEXT` (`docs/audit-format.md`): anyone can recompute it.
    pub hash: Hash,
    pub event: Event,
    /// Keyed MAC over `hash`, present when the writer held the store key
    /// (`mac.rs`). Not covered by `hash`.
    pub mac: Option<Hash>,
}

/// Serialised field order is the line's field order.
#[derive(Serialize)]
struct LineOut<'a> {
    v: u32,
    log: LogId,
    seq: u64,
    ts: &'a str,
    #[serde(flatten)]
    event: &'a Event,
    prev: Hash,
    hash: Hash,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<Hash>,
}

impl Record {
    /// Builds the next record of a chain and computes its hash.
    /// `ts` is truncated to microseconds; `None` if it has no canonical text.
    pub fn seal(
        log: LogId,
        seq: u64,
        ts: OffsetDateTime,
        prev: Hash,
        event: Event,
    ) -> Option<Record> {
        let ts = timestamp::truncate(ts);
        let text = timestamp::format(ts)?;
        let header = Header {
            log: &log,
            seq,
            ts: &text,
        };
        let hash = encode::record_hash(&header, &event, &prev, &mut Vec::new());
        Some(Record {
            seq,
            ts,
            log,
            prev,
            hash,
            event,
            mac: None,
        })
    }

    /// This record with its MAC under `key` (for a writer holding the store key).
    pub(crate) fn with_mac(mut self, key: &super::mac::RecordKey) -> Record {
        self.mac = Some(key.mac(&self.hash));
        self
    }

    /// This record authenticated with the store's keys, as the writer does
    /// when it holds them (for tools that build logs, e.g. benchmarks).
    pub fn authenticated(self, keys: &super::CheckpointKey) -> Record {
        self.with_mac(keys.record())
    }

    /// The hash this record's fields produce (equal to `hash` when intact);
    /// `None` if `ts` has no canonical text.
    pub(crate) fn compute_hash(&self) -> Option<Hash> {
        let text = timestamp::format(self.ts)?;
        let header = Header {
            log: &self.log,
            seq: self.seq,
            ts: &text,
        };
        Some(encode::record_hash(
            &header,
            &self.event,
            &self.prev,
            &mut Vec::new(),
        ))
    }

    /// The record's canonical JSON line, without the trailing `\n`;
    /// `None` if `ts` has no canonical text.
    pub fn to_line(&self) -> Option<String> {
        let ts = timestamp::format(self.ts)?;
        let mut out = Vec::with_capacity(256);
        write_line(self, &ts, &mut out);
        Some(String::from_utf8(out).expect("serde_json writes UTF-8"))
    }

    /// Parses one line (without its `\n`) strictly. The error says why the
    /// line is malformed; it does not check `hash` (see [`Parsed`]).
    pub fn parse_line(line: &[u8]) -> Result<Record, String> {
        Parsed::from_line(line, &mut Scratch::default()).map(|p| p.record)
    }
}

fn write_line(record: &Record, ts: &str, out: &mut Vec<u8>) {
    let line = LineOut {
        v: FORMAT_VERSION,
        log: record.log,
        seq: record.seq,
        ts,
        event: &record.event,
        prev: record.prev,
        hash: record.hash,
        mac: record.mac,
    };
    serde_json::to_writer(out, &line).expect("records serialise to JSON");
}
