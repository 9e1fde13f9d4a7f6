//! `runner audit show RUN`: one run for review: its records, and for a
//! script run the exact code that ran, from the state dir's script store.
//!
//! The code shown is checked against the digest `exec.start` recorded (the
//! store's entries are named by it), so what is printed is what ran, or an
//! error says it cannot be shown. The readable view escapes control
//! characters in the code as `audit log` does in records; `--script` prints
//! the stored bytes alone, unchanged, to save or diff.

use std::io::Write;

use anyhow::Context;
use clap::Args;
use time::OffsetDateTime;

use crate::audit::{self, Event, Record};
use crate::cli::Global;
use crate::commands::{audit_describe, audit_log, log_check};
use crate::policy::ComponentDigest;
use crate::report::{Refused, StdoutError, escape_for_terminal};
use crate::script::ScriptStore;

#[derive(Debug, Args)]
pub struct AuditShow {
    /// The run: its id as `audit log` shows it, or a unique prefix
    #[arg(value_name = "RUN-ID")]
    pub run: String,
    /// Print only the script's exact text (nothing else, no escaping)
    #[arg(long)]
    pub script: bool,
}

impl AuditShow {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.open_reading()?;
        let path = dir.join(audit::AUDIT_FILE);
        let records = self.records(&path)?;
        let script = records.iter().find_map(|r| match &r.event {
            Event::ExecStart {
                script: Some(script),
                ..
            } => Some(ComponentDigest(blake3::Hash::from_bytes(
                *script.as_bytes(),
            ))),
            _ => None,
        });
        let text = match script {
            Some(digest) => Some(
                ScriptStore::open(&dir.home)
                    .and_then(|store| store.get(&digest))
                    .context("cannot show the script of this run")?,
            ),
            None => None,
        };
        let mut out = std::io::stdout().lock();
        if self.script {
            let Some(text) = text else {
                return Err(not_a_script(&self.run).into());
            };
            out.write_all(&text).map_err(StdoutError)?;
            out.flush().map_err(StdoutError)?;
            return Ok(crate::exit_code::OK);
        }
        self.print(&mut out, &path, &records, script.zip(text))
            .map_err(StdoutError)?;
        let key = log_check::quiet_key(&dir);
        let warning = log_check::check(&dir, key.as_ref())?;
        Ok(log_check::finish(warning, crate::exit_code::OK))
    }

    /// The records of the one run `self.run` names.
    fn records(&self, path: &std::path::Path) -> anyhow::Result<Vec<Record>> {
        let mut runs = std::collections::BTreeSet::new();
        let mut records = Vec::new();
        audit::for_each_record(path, |record| {
            if let Some(run) = audit_log::run_of(&record.event)
                && run.starts_with(self.run.as_str())
            {
                runs.insert(run);
                records.push(record);
            }
        })?;
        match runs.len() {
            0 => Err(Refused {
                message: format!("no run {:?} in the audit log", self.run),
                hint: Some("`runner audit log --kind exec.start` lists the runs".into()),
            }
            .into()),
            1 => Ok(records),
            n => Err(Refused {
                message: format!("{n} runs start with {:?}", self.run),
                hint: Some("give more of the run id".into()),
            }
            .into()),
        }
    }

    fn print(
        &self,
        out: &mut impl Write,
        path: &std::path::Path,
        records: &[Record],
        script: Option<(ComponentDigest, Vec<u8>)>,
    ) -> std::io::Result<()> {
        let ended = audit_log::ended_runs(path).unwrap_or_default();
        let now = OffsetDateTime::now_utc();
        for record in records {
            let line = audit_describe::describe(record, &ended, now);
            writeln!(out, "{}", escape_for_terminal(&line))?;
        }
        let Some((digest, text)) = script else {
            return writeln!(out, "(a component run: no script to show)");
        };
        let text = String::from_utf8_lossy(&text);
        writeln!(out, "--- script {digest} ({} bytes) ---", text.len())?;
        write!(out, "{}", escape_code(&text))?;
        if !text.ends_with('\n') {
            writeln!(out)?;
        }
        writeln!(out, "--- end of script ---")
    }
}

/// The code with line breaks and tabs kept and every other terminal-unsafe
/// character escaped, as `audit log` escapes records.
fn escape_code(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            let parts: Vec<_> = line.split('\t').map(escape_for_terminal).collect();
            parts.join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn not_a_script(run: &str) -> Refused {
    Refused {
        message: format!("run {run:?} ran a component, not a script"),
        hint: Some("`runner audit show RUN` without --script shows its records".into()),
    }
}
