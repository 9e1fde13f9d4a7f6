//! The readable form of one audit record for `audit log` and `audit show`:
//! sequence, time (absolute and relative), kind, then the facts that matter.
//! Names that come from /etc/passwd or hand-edited text are escaped for the
//! terminal by the caller or here.

use std::collections::HashSet;

use time::OffsetDateTime;

use crate::audit::{self, Event, Record};

/// One line per record: sequence, time, kind, then the facts that matter.
pub(crate) fn describe(
    record: &Record,
    ended: &HashSet<audit::RunId>,
    now: OffsetDateTime,
) -> String {
    let what = match &record.event {
        Event::LogInit { store } => format!("log.init       store {store}"),
        Event::LogRecover { dropped_bytes, .. } => {
            format!("log.recover    cut a torn tail of {dropped_bytes} bytes")
        }
        Event::ExecStart {
            run,
            agent,
            project,
            component,
            script,
            ..
        } => format!(
            "exec.start     run {} agent {agent} ({project}) component {}{}{}",
            short(&run.to_string()),
            short(&component.to_string()),
            script.map_or(String::new(), |s| format!(
                " script {}",
                short(&s.to_string())
            )),
            match ended.contains(run) {
                true => "",
                false => "  unfinished (no exec.end: killed, crashed or still running)",
            }
        ),
        Event::SecretResolve {
            run,
            agent,
            secret,
            version,
            ..
        } => format!(
            "secret.resolve run {} agent {agent} secret {secret} v{version}",
            short(&run.to_string())
        ),
        Event::SecretDeny {
            run,
            agent,
            secret,
            reason,
            detail,
            ..
        } => format!(
            "secret.deny    run {} agent {agent} secret {secret} {reason}: {detail}",
            short(&run.to_string())
        ),
        Event::SecretApprove {
            run,
            agent,
            secret,
            outcome,
            by_uid,
            by_user,
            ..
        } => format!(
            "secret.approve run {} agent {agent} secret {secret} {outcome} by {by_user} (uid {by_uid})",
            short(&run.to_string())
        ),
        Event::ExecEnd {
            run,
            agent,
            exit_code,
            duration_ms,
            outcome,
            repeats,
            ..
        } => format!(
            "exec.end       run {} agent {agent} {outcome} code {exit_code} in {duration_ms} ms{}",
            short(&run.to_string()),
            Some(repeats)
                .filter(|n| **n > 0)
                .map_or(String::new(), |n| format!(" repeats {n}"))
        ),
        Event::ToolCall {
            run,
            agent,
            tool,
            client,
            client_version,
            ..
        } => format!(
            "tool.call      run {} agent {agent} tool {tool} client {client} {client_version}",
            short(&run.to_string())
        ),
        Event::ToolRefused {
            tool,
            as_agent,
            client,
            client_version,
            reason,
            detail,
        } => format!(
            "tool.refused   tool {tool} agent {as_agent} client {client} {client_version} \
             {reason}: {detail}"
        ),
        Event::ExecRefused {
            as_agent,
            path,
            reason,
            detail,
            ..
        } => format!("exec.refused   agent {as_agent} task {path} {reason}: {detail}"),
        Event::HttpRequest {
            run,
            agent,
            method,
            target,
            path,
            decision,
            reason,
            status,
            injected,
            ..
        } => {
            format!(
                "http.request   run {} agent {agent} {method} {target}{path} {decision} \
                 ({reason}) status {status}{}",
                short(&run.to_string()),
                match injected.is_empty() {
                    true => String::new(),
                    false => format!(", injected {}", injected.replace(',', ", ")),
                }
            )
        }
        Event::SecretSet {
            project,
            secret,
            version,
        } => {
            format!("secret.set     {project}/{secret} v{version}")
        }
        Event::SecretRotate {
            project,
            secret,
            version,
        } => {
            format!("secret.rotate  {project}/{secret} v{version}")
        }
        Event::SecretRemove {
            project,
            secret,
            version,
        } => {
            format!("secret.remove  {project}/{secret} v{version}")
        }
        Event::StoreWrite { generation, .. } => format!("store.write    generation {generation}"),
        Event::StoreRestore {
            generation,
            replaces,
            ..
        } => format!(
            "store.restore  the store file at generation {generation} accepted as a restore (replaces {replaces})"
        ),
        Event::StoreRekey { detail, .. } => format!("store.rekey    {detail}"),
        Event::SegmentClose { segment, records } => {
            format!("segment.close  segment {segment} sealed with {records} records")
        }
        Event::SegmentOpen {
            segment,
            generation,
            ..
        } => format!("segment.open   segment {segment}, store generation {generation}"),
        // Names from /etc/passwd and hand-edited text: escaped for the terminal.
        policy => {
            let text = audit::describe_policy(policy).unwrap_or_default();
            crate::report::escape_for_terminal(&text).into_owned()
        }
    };
    let when = crate::age::show_with_relative(record.ts, now);
    format!("{:>6}  {when}  {what}", record.seq)
}

fn short(hex: &str) -> String {
    hex.get(..12).unwrap_or(hex).to_owned()
}
