//! `runner audit log`: the audit log for people (or JSON Lines with --json).

use clap::Args;
use time::format_description::well_known::Rfc3339;

use crate::audit::{self, Event, Record};
use crate::cli::Global;

#[derive(Debug, Args)]
pub struct AuditLogCmd {
    /// Print the raw JSON Lines records
    #[arg(long)]
    pub json: bool,
}

impl AuditLogCmd {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.open_home()?;
        let path = dir.join(audit::AUDIT_FILE);
        if self.json {
            print!("{}", std::fs::read_to_string(&path)?);
            return Ok(crate::exit_code::OK);
        }
        for record in audit::read_records(&path)? {
            println!("{}", describe(&record));
        }
        Ok(crate::exit_code::OK)
    }
}

/// One line per record: sequence, time, kind, then the facts that matter.
fn describe(record: &Record) -> String {
    let ts = record.ts.format(&Rfc3339).unwrap_or_default();
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
            ..
        } => format!(
            "exec.start     run {} agent {agent} ({project}) component {}",
            short(&run.to_string()),
            short(&component.to_string())
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
        Event::ExecEnd {
            run,
            agent,
            exit_code,
            duration_ms,
            outcome,
            ..
        } => format!(
            "exec.end       run {} agent {agent} {outcome} code {exit_code} in {duration_ms} ms",
            short(&run.to_string())
        ),
        Event::HttpRequest {
            run,
            agent,
            method,
            target,
            path,
            decision,
            reason,
            status,
            ..
        } => {
            format!(
                "http.request   run {} agent {agent} {method} {target}{path} {decision} \
                 ({reason}) status {status}",
                short(&run.to_string())
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
    };
    format!("{:>6}  {ts}  {what}", record.seq)
}

fn short(hex: &str) -> String {
    hex.get(..12).unwrap_or(hex).to_owned()
}
