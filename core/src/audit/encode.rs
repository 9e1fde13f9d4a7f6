//! The canonical binary encoding of a record, and the record hash over it.
//!
//! The hash never sees JSON text: it covers a length-prefixed sequence of
//! named fields, so two records hash alike only if every field name and value
//! is equal. Each field is `u64le(len(name)) || name || u64le(len(value)) ||
//! value`; integers are fixed-width little-endian, hex identifiers are their
//! raw bytes, strings their UTF-8 bytes. Field names act as tags, and the
//! `kind` field comes before the kind's own fields, so records of different
//! kinds cannot collide. The full specification is `docs/audit-format.md`.

use std::sync::LazyLock;

use blake3::hazmat::{ContextKey, HasherExt, hash_derive_key_context};

use super::ids::{Hash, LogId};
use super::record::Event;

/// blake3 `derive_key` context: separates record hashes from every other
/// blake3 use (digests, store keys) and from future format versions.
pub const HASH_CONTEXT: &str = "scopehold audit record v1";

/// `HASH_CONTEXT` hashed once: `new_from_context_key(&CONTEXT_KEY)` equals
/// `new_derive_key(HASH_CONTEXT)` without re-hashing the context per record.
static CONTEXT_KEY: LazyLock<ContextKey> = LazyLock::new(|| hash_derive_key_context(HASH_CONTEXT));

/// The format version written in `v` and covered by the hash.
pub const FORMAT_VERSION: u32 = 1;

/// Appends tagged, length-prefixed fields to a buffer.
pub(super) struct Fields<'a>(&'a mut Vec<u8>);

impl Fields<'_> {
    pub(super) fn put(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(name.len() as u64).to_le_bytes());
        self.0.extend_from_slice(name.as_bytes());
        self.0
            .extend_from_slice(&(value.len() as u64).to_le_bytes());
        self.0.extend_from_slice(value);
        self
    }

    pub(super) fn str(&mut self, name: &str, value: &str) -> &mut Self {
        self.put(name, value.as_bytes())
    }
}

/// The encoding of `fields` in order, as record fields are encoded (for
/// other authenticated structures of the log, e.g. checkpoints).
pub(super) fn encode_fields(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    let mut f = Fields(&mut out);
    for (name, value) in fields {
        f.put(name, value);
    }
    out
}

/// The common header fields, in hashing order.
pub struct Header<'a> {
    pub log: &'a LogId,
    pub seq: u64,
    /// The canonical timestamp text (see `timestamp`).
    pub ts: &'a str,
}

/// Writes the encoding of a record (every field except `hash`) into `buf`.
pub fn encode(header: &Header<'_>, event: &Event, prev: &Hash, buf: &mut Vec<u8>) {
    buf.clear();
    let mut f = Fields(buf);
    f.put("v", &FORMAT_VERSION.to_le_bytes())
        .put("log", header.log.as_bytes())
        .put("seq", &header.seq.to_le_bytes())
        .str("ts", header.ts)
        .str("kind", event.kind());
    encode_event(event, &mut f);
    f.put("prev", prev.as_bytes());
}

fn encode_event(event: &Event, f: &mut Fields<'_>) {
    if super::policy_events::encode(event, f) {
        return;
    }
    match event {
        Event::LogInit { store } => {
            f.str("store", store);
        }
        Event::LogRecover {
            dropped_bytes,
            dropped_hash,
        } => {
            f.put("dropped_bytes", &dropped_bytes.to_le_bytes())
                .put("dropped_hash", dropped_hash.as_bytes());
        }
        Event::ExecStart {
            run,
            agent,
            project,
            component,
            policy,
            policy_path,
            script,
            script_bytes,
        } => {
            f.put("run", run.as_bytes())
                .str("agent", agent.as_str())
                .str("project", project.as_str())
                .put("component", component.as_bytes())
                .put("policy", policy.as_bytes())
                .str("policy_path", policy_path);
            // Only script runs have these: older records hash as before.
            if let (Some(script), Some(bytes)) = (script, script_bytes) {
                f.put("script", script.as_bytes())
                    .put("script_bytes", &bytes.to_le_bytes());
            }
        }
        Event::SecretResolve {
            run,
            agent,
            project,
            secret,
            version,
        } => {
            f.put("run", run.as_bytes())
                .str("agent", agent.as_str())
                .str("project", project.as_str())
                .str("secret", secret.as_str())
                .put("version", &version.to_le_bytes());
        }
        Event::SecretDeny {
            run,
            agent,
            project,
            secret,
            reason,
            detail,
        } => {
            f.put("run", run.as_bytes())
                .str("agent", agent.as_str())
                .str("project", project.as_str())
                .str("secret", secret)
                .str("reason", reason.as_str())
                .str("detail", detail);
        }
        Event::SecretApprove {
            run,
            agent,
            project,
            secret,
            component,
            outcome,
            by_uid,
            by_user,
        } => {
            f.put("run", run.as_bytes())
                .str("agent", agent.as_str())
                .str("project", project.as_str())
                .str("secret", secret.as_str())
                .put("component", component.as_bytes())
                .str("outcome", outcome.as_str())
                .put("by_uid", &by_uid.to_le_bytes())
                .str("by_user", by_user);
        }
        Event::ExecEnd {
            run,
            agent,
            project,
            exit_code,
            duration_ms,
            outcome,
            repeats,
        } => {
            f.put("run", run.as_bytes())
                .str("agent", agent.as_str())
                .str("project", project.as_str())
                .put("exit_code", &exit_code.to_le_bytes())
                .put("duration_ms", &duration_ms.to_le_bytes())
                .str("outcome", outcome.as_str())
                .put("repeats", &repeats.to_le_bytes());
        }
        Event::ToolCall {
            run,
            agent,
            project,
            tool,
            client,
            client_version,
        } => {
            f.put("run", run.as_bytes())
                .str("agent", agent.as_str())
                .str("project", project.as_str())
                .str("tool", tool)
                .str("client", client)
                .str("client_version", client_version);
        }
        Event::ToolRefused {
            tool,
            as_agent,
            client,
            client_version,
            reason,
            detail,
        } => {
            f.str("tool", tool)
                .str("as_agent", as_agent)
                .str("client", client)
                .str("client_version", client_version)
                .str("reason", reason.as_str())
                .str("detail", detail);
        }
        Event::ExecRefused {
            as_agent,
            path,
            component,
            reason,
            detail,
        } => {
            f.str("as_agent", as_agent)
                .str("path", path)
                .put("component", component.as_bytes())
                .str("reason", reason.as_str())
                .str("detail", detail);
        }
        Event::HttpRequest {
            run,
            agent,
            project,
            method,
            target,
            path,
            decision,
            reason,
            injected,
            status,
        } => {
            f.put("run", run.as_bytes())
                .str("agent", agent.as_str())
                .str("project", project.as_str())
                .str("method", method)
                .str("target", target)
                .str("path", path)
                .str("decision", decision.as_str())
                .str("reason", reason.as_str())
                .str("injected", injected)
                .put("status", &status.to_le_bytes());
        }
        Event::SecretSet {
            project,
            secret,
            version,
        }
        | Event::SecretRotate {
            project,
            secret,
            version,
        }
        | Event::SecretRemove {
            project,
            secret,
            version,
        } => {
            f.str("project", project.as_str())
                .str("secret", secret.as_str())
                .put("version", &version.to_le_bytes());
        }
        Event::StoreWrite { store, generation } => {
            f.str("store", store)
                .put("generation", &generation.to_le_bytes());
        }
        Event::StoreRestore {
            store,
            generation,
            replaces,
        } => {
            f.str("store", store)
                .put("generation", &generation.to_le_bytes())
                .put("replaces", &replaces.to_le_bytes());
        }
        Event::StoreRekey { store, detail } => {
            f.str("store", store).str("detail", detail);
        }
        Event::SegmentClose { segment, records } => {
            f.put("segment", &segment.to_le_bytes())
                .put("records", &records.to_le_bytes());
        }
        Event::SegmentOpen {
            segment,
            store,
            generation,
        } => {
            f.put("segment", &segment.to_le_bytes())
                .str("store", store)
                .put("generation", &generation.to_le_bytes());
        }
        _ => {}
    }
}

/// The record hash: blake3 in `derive_key` mode with the public context
/// [`HASH_CONTEXT`] over [`encode`]'s output (no secret: see `mac.rs`). `buf` is scratch
/// space, reused across calls so that verify does not allocate per record.
pub(crate) fn record_hash(
    header: &Header<'_>,
    event: &Event,
    prev: &Hash,
    buf: &mut Vec<u8>,
) -> Hash {
    encode(header, event, prev, buf);
    let mut hasher = blake3::Hasher::new_from_context_key(&CONTEXT_KEY);
    hasher.update(buf);
    hasher.finalize().into()
}
