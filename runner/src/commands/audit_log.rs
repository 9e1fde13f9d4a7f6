//! `runner audit log`: the audit log for people (or JSON Lines with --json),
//! optionally filtered by agent, secret, run, time and outcome.
//!
//! Record text comes from tasks (secret names, URLs, methods): the readable
//! view escapes control characters and bidirectional overrides
//! ([`crate::report::escape_for_terminal`]), so a record can neither drive the
//! terminal nor hide what it says. `--json` prints the stored lines, whose
//! JSON escapes already keep control characters out.
//!
//! A run with an `exec.start` and no `exec.end` (killed, crashed, or still
//! running) is marked `unfinished` in the readable view: a first pass over
//! the log collects the runs that ended.
//!
//! The records shown are read through `audit verify`'s verifier
//! ([`log_check::stream`]): on damage they are all still shown, then a
//! warning with the verdict, and the exit code of `audit verify`.

use std::collections::{HashSet, VecDeque};
use std::io::Write;

use clap::Args;
use time::OffsetDateTime;

use crate::audit::{self, Event, Record};
use crate::cli::Global;
use crate::commands::audit_describe::describe;
use crate::commands::{audit_log_filters, audit_log_follow, colour, log_check};
use crate::report::{StdoutError, escape_for_terminal};

#[derive(Debug, Args)]
pub struct AuditLogCmd {
    /// Print the records as JSON Lines (exactly as stored)
    #[arg(long)]
    pub json: bool,
    /// Only records of this agent
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// Only records naming this secret (resolve, deny, set, rotate, remove, injected)
    #[arg(long, value_name = "NAME")]
    pub secret: Option<String>,
    /// Only records of this run (its id, or a prefix of it)
    #[arg(long, value_name = "RUN-ID")]
    pub run: Option<String>,
    /// Only records at or after this time: RFC 3339, or an age such as 2d, 12h
    #[arg(long, value_name = "TIME-or-AGE", value_parser = crate::age::parse_time_or_age)]
    pub since: Option<OffsetDateTime>,
    /// Only records at or before this time: RFC 3339, or an age such as 2d, 12h
    #[arg(long, value_name = "TIME-or-AGE", value_parser = crate::age::parse_time_or_age)]
    pub until: Option<OffsetDateTime>,
    /// Only the last N records that match
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Only records with this outcome: resolved, denied, allowed, or an
    /// exec.end outcome (exited, trapped, refused, ...)
    #[arg(long, value_name = "OUTCOME", value_parser = audit_log_filters::parse_outcome)]
    pub outcome: Option<String>,
    /// Only records of this kind, e.g. grant.add, grant.revoke, policy.change, secret.resolve
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Then print new records as they are appended (across rotation,
    /// each verified first), until Ctrl-C
    #[arg(short = 'f', long)]
    pub follow: bool,
}

impl AuditLogCmd {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.open_reading()?;
        if self.follow && dir.is_snapshot() {
            return Err(crate::store::StoreError::FileOnly("audit log --follow").into());
        }
        let path = dir.audit_log();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // The first write that fails (a closed pipe, a full disk) ends the output.
        let mut failed = None;
        let ended = match self.json {
            true => HashSet::new(),
            false => ended_runs(&path)?,
        };
        // Streamed: a rotated log may be far larger than memory; `-n N`
        // keeps only the last N lines.
        let mut tail = VecDeque::new();
        let now = OffsetDateTime::now_utc();
        let painting = !self.json && colour::on_stdout();
        // Read through the verifier: what is shown is what was verified.
        let key = log_check::quiet_key(&dir);
        let mut shown = None;
        let warning = log_check::stream(&dir, key.as_ref(), |record| {
            shown = Some(record.seq);
            if failed.is_some() || !self.matches(record) {
                return;
            }
            let line = self.render(record, &ended, now, painting);
            match self.last {
                Some(n) => audit_log_filters::keep_last(&mut tail, n, line),
                None => failed = writeln!(out, "{line}").err(),
            }
        })?;
        for line in tail {
            if failed.is_none() {
                failed = writeln!(out, "{line}").err();
            }
        }
        match failed {
            Some(error) => Err(StdoutError(error).into()),
            // A log that does not verify is not followed: its warning ends the run.
            None if self.follow && warning.is_none() => {
                out.flush().map_err(StdoutError)?;
                audit_log_follow::follow(self, &dir, shown, out)
            }
            None => {
                out.flush().map_err(StdoutError)?;
                Ok(log_check::finish(warning, crate::exit_code::OK))
            }
        }
    }

    /// One record as printed: as stored (`--json`), or readable, escaped and painted.
    pub(super) fn render(
        &self,
        record: &Record,
        ended: &HashSet<audit::RunId>,
        now: OffsetDateTime,
        painting: bool,
    ) -> String {
        if self.json {
            return record.to_line().unwrap_or_default();
        }
        let line = escape_for_terminal(&describe(record, ended, now)).into_owned();
        let outcome = Facts::of(&record.event).outcome;
        colour::paint(line, painting.then_some(outcome).flatten())
    }

    pub(super) fn matches(&self, record: &Record) -> bool {
        let facts = Facts::of(&record.event);
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_ref().is_none_or(|w| have == Some(w.as_str()))
        };
        eq(&self.agent, facts.agent)
            && eq(&self.kind, Some(record.event.kind()))
            && eq(&self.outcome, facts.outcome)
            && self.since.is_none_or(|t| record.ts >= t)
            && self.until.is_none_or(|t| record.ts <= t)
            && self.run.as_ref().is_none_or(|prefix| {
                facts
                    .run
                    .as_ref()
                    .is_some_and(|run| run.starts_with(prefix.as_str()))
            })
            && self
                .secret
                .as_ref()
                .is_none_or(|want| facts.secrets.iter().any(|s| s == want))
    }
}

/// The run id a record belongs to, if any (for `audit show`).
pub(super) fn run_of(event: &Event) -> Option<String> {
    Facts::of(event).run
}

/// The runs that have an `exec.end` (16 bytes a run, whatever the log's
/// size). Only a mark on the display: read up to a line that does not
/// parse; the records themselves are shown (and verified) by the main pass.
pub(super) fn ended_runs(path: &std::path::Path) -> anyhow::Result<HashSet<audit::RunId>> {
    let mut ended = HashSet::new();
    let _ = audit::for_each_record(path, |record| {
        if let Event::ExecEnd { run, .. } = record.event {
            ended.insert(run);
        }
    });
    Ok(ended)
}

/// The filterable facts of one event.
#[derive(Default)]
struct Facts<'a> {
    agent: Option<&'a str>,
    run: Option<String>,
    secrets: Vec<&'a str>,
    outcome: Option<&'a str>,
}

impl<'a> Facts<'a> {
    fn of(event: &'a Event) -> Facts<'a> {
        let mut f = Facts::default();
        match event {
            Event::ExecStart { run, agent, .. } | Event::ToolCall { run, agent, .. } => {
                f.who(run, agent.as_str())
            }
            Event::SecretResolve {
                run, agent, secret, ..
            } => {
                f.who(run, agent.as_str());
                f.secrets.push(secret.as_str());
                f.outcome = Some("resolved");
            }
            Event::SecretDeny {
                run, agent, secret, ..
            } => {
                f.who(run, agent.as_str());
                f.secrets.push(secret);
                f.outcome = Some("denied");
            }
            Event::SecretApprove {
                run,
                agent,
                secret,
                outcome,
                ..
            } => {
                f.who(run, agent.as_str());
                f.secrets.push(secret.as_str());
                f.outcome = Some(outcome.as_str());
            }
            Event::ExecEnd {
                run,
                agent,
                outcome,
                ..
            } => {
                f.who(run, agent.as_str());
                f.outcome = Some(outcome.as_str());
            }
            Event::ExecRefused { as_agent, .. } | Event::ToolRefused { as_agent, .. } => {
                f.agent = Some(as_agent);
                f.outcome = Some("refused");
            }
            Event::HttpRequest {
                run,
                agent,
                decision,
                injected,
                ..
            } => {
                f.who(run, agent.as_str());
                f.secrets
                    .extend(injected.split(',').filter(|s| !s.is_empty()));
                f.outcome = Some(decision.as_str());
            }
            Event::SecretSet { secret, .. }
            | Event::SecretRotate { secret, .. }
            | Event::SecretRemove { secret, .. } => f.secrets.push(secret.as_str()),
            Event::LogInit { .. }
            | Event::LogRecover { .. }
            | Event::StoreWrite { .. }
            | Event::StoreRestore { .. }
            | Event::StoreRekey { .. }
            | Event::SegmentClose { .. }
            | Event::SegmentOpen { .. } => {}
            Event::AgentAdd { agent, .. } | Event::AgentRemove { agent, .. } => {
                f.agent = Some(agent.as_str())
            }
            Event::GrantAdd { agent, secret, .. } | Event::GrantRevoke { agent, secret, .. } => {
                f.agent = Some(agent.as_str());
                f.secrets.push(secret.as_str());
            }
            Event::ProjectAdd { .. } | Event::PolicyChange { .. } => {}
        }
        f
    }

    fn who(&mut self, run: &audit::RunId, agent: &'a str) {
        self.run = Some(run.to_string());
        self.agent = Some(agent);
    }
}
