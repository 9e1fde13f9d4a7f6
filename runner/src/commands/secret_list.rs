//! `runner secret list`: names, projects, versions and dates; never values.
//!
//! VERSION and ROTATED come from the store; CREATED (when the secret was
//! first set) and LAST RESOLVED (when a run last received it) from the audit
//! log, which is read only for this display.

use std::collections::BTreeMap;

use clap::Args;
use time::OffsetDateTime;

use crate::audit::{self, Event, Record};
use crate::cli::Global;
use crate::commands::log_check;
use crate::names::{ProjectName, SecretName};
use crate::store::{EntryInfo, Store};

#[derive(Debug, Args)]
pub struct SecretList {
    /// Print JSON Lines, one object per secret (times RFC 3339 or null)
    #[arg(long)]
    pub json: bool,
}

/// What the audit log says about one secret.
#[derive(Default)]
struct History {
    set: Option<OffsetDateTime>,
    resolved: Option<OffsetDateTime>,
}

impl SecretList {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.open_reading()?;
        let store = Store::open(&dir)?;
        // The dates from the log are a convenience: a damaged log must not
        // hide the list; it is read through the verifier, whose verdict
        // ends the output.
        let key = audit::CheckpointKey::from_store(&store);
        let mut history = Histories::new();
        let warning = log_check::stream(&dir, Some(&key), |record| note(&mut history, record))
            .unwrap_or_else(|error| {
                eprintln!("warning: created/last-resolved dates unavailable: {error:#}");
                None
            });
        let verdict = log_check::finish;
        if self.json {
            for entry in store.entries() {
                println!("{}", json_row(entry, &history));
            }
            return Ok(verdict(warning, crate::exit_code::OK));
        }
        let rows: Vec<[String; 6]> = store
            .entries()
            .map(|entry| row(entry, &history, OffsetDateTime::now_utc()))
            .collect();
        if rows.is_empty() {
            println!("no secrets stored; add one with `runner secret set NAME --project P`");
            return Ok(verdict(warning, crate::exit_code::OK));
        }
        let header = [
            "PROJECT",
            "NAME",
            "VERSION",
            "CREATED",
            "ROTATED",
            "LAST RESOLVED",
        ];
        print_table(&header, &rows);
        Ok(verdict(warning, crate::exit_code::OK))
    }
}

type Histories = BTreeMap<(ProjectName, SecretName), History>;

/// CREATED, ROTATED and LAST RESOLVED of one secret.
fn dates(entry: &EntryInfo, history: &Histories) -> [Option<OffsetDateTime>; 3] {
    let seen = history.get(&(entry.project.clone(), entry.name.clone()));
    let this_version = Some(entry.created);
    let (created, rotated) = match entry.version {
        1 => (this_version, None),
        _ => (seen.and_then(|h| h.set), this_version),
    };
    [created, rotated, seen.and_then(|h| h.resolved)]
}

fn json_row(entry: &EntryInfo, history: &Histories) -> serde_json::Value {
    let [created, rotated, resolved] = dates(entry, history).map(|t| t.map(crate::age::show));
    serde_json::json!({
        "project": entry.project.as_str(),
        "name": entry.name.as_str(),
        "version": entry.version,
        "created": created,
        "rotated": rotated,
        "last_resolved": resolved,
    })
}

fn row(entry: &EntryInfo, history: &Histories, now: OffsetDateTime) -> [String; 6] {
    let [created, rotated, resolved] = dates(entry, history);
    let when = |time: Option<OffsetDateTime>, missing: &str| when(time, missing, now);
    [
        entry.project.to_string(),
        entry.name.to_string(),
        entry.version.to_string(),
        when(created, "?"),
        when(rotated, "-"),
        when(resolved, "never"),
    ]
}

/// An absolute time with the relative one beside it: `2026-01-31T00:00:00Z
/// (3 minutes ago)`.
fn when(time: Option<OffsetDateTime>, missing: &str, now: OffsetDateTime) -> String {
    time.map(|t| crate::age::show_with_relative(t, now))
        .unwrap_or_else(|| missing.into())
}

/// Takes one record into the history of the secret it names: when it was
/// last set and last resolved.
fn note(seen: &mut Histories, record: &Record) {
    match &record.event {
        Event::SecretSet {
            project, secret, ..
        } => {
            // A secret removed and set again starts a new history.
            let history = History {
                set: Some(record.ts),
                resolved: None,
            };
            seen.insert((project.clone(), secret.clone()), history);
        }
        Event::SecretResolve {
            project, secret, ..
        } => {
            let key = (project.clone(), secret.clone());
            seen.entry(key).or_default().resolved = Some(record.ts);
        }
        _ => {}
    }
}

/// Prints rows under a header, columns padded to their widest cell.
pub fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: [&str; N]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(*header);
    for row in rows {
        line(row.each_ref().map(String::as_str));
    }
}
