//! `runner secret set NAME --project P`: store a new secret read from stdin.

use std::path::Path;

use anyhow::Context;
use clap::Args;

use crate::audit::{AuditLog, Event};
use crate::cli::Global;
use crate::names::{ProjectName, SecretName};
use crate::report::Refused;
use crate::store::{self, EntryInfo, Store, StoreError};

// `Debug` by hand: `stray` may hold a value someone typed on the command line
// by mistake, and must not reach any debug output.
#[derive(Args)]
pub struct SecretSet {
    /// Secret name, e.g. posthog-read
    pub name: SecretName,
    /// Project the secret belongs to
    #[arg(long, short)]
    pub project: Option<ProjectName>,
    /// Anything else on the command line: refused, never read as a value.
    #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub stray: Vec<String>,
}

impl std::fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSet")
            .field("name", &self.name)
            .field("project", &self.project)
            .field(
                "stray",
                &format_args!("<{} refused argument(s)>", self.stray.len()),
            )
            .finish()
    }
}

impl SecretSet {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let project = value_from_stdin_only(&self.stray, &self.name, self.project.as_ref())?;
        let dir = global.open_home()?;
        let value = read_stdin_value()?;
        let mut store = open_for_change(&dir)?;
        let outcome = store.set(project, &self.name, &value);
        let (entry, unfinished) = applied(outcome, store.find(project, &self.name))?;
        let event = Event::SecretSet {
            project: entry.project.clone(),
            secret: entry.name.clone(),
            version: entry.version,
        };
        record_write(&dir, &store, Some(event))?;
        println!(
            "stored {}/{} version {}",
            entry.project, entry.name, entry.version
        );
        finish(unfinished)
    }
}

/// Splits a store write's outcome into the entry it changed and, when the
/// change took effect although a later step failed (`now` is then the
/// entry as it stands), that error, to report once the change is recorded.
/// An error before the change took effect is returned as is.
pub fn applied(
    outcome: Result<EntryInfo, StoreError>,
    now: Option<&EntryInfo>,
) -> Result<(EntryInfo, Option<StoreError>), StoreError> {
    match (outcome, now) {
        (Ok(entry), _) => Ok((entry, None)),
        (Err(err), Some(entry)) if err.took_effect() => Ok((entry.clone(), Some(err))),
        (Err(err), _) => Err(err),
    }
}

/// The exit of a store command whose change is recorded: success, or the
/// error that came after the change took effect (exit status and message
/// say both that it failed and that the change is in effect).
pub fn finish(unfinished: Option<StoreError>) -> anyhow::Result<u8> {
    match unfinished {
        None => Ok(crate::exit_code::OK),
        Some(err) => Err(anyhow::Error::new(err).context(
            "the change is in effect and recorded in the audit log, but it did not finish",
        )),
    }
}

/// Opens the store for a change, after checking that the audit log would
/// take the change's records now (its checkpoint head still in the chain,
/// the clock not behind it): a change the log would refuse is refused
/// before it is made, rather than left in effect and unrecorded.
pub fn open_for_change(dir: &Path) -> anyhow::Result<Store> {
    let store = Store::open(dir)?;
    ready_to_record(dir, &store)?;
    Ok(store)
}

/// Fails, changing nothing, if the audit log would refuse `store`'s records.
pub fn ready_to_record(dir: &Path, store: &Store) -> anyhow::Result<()> {
    AuditLog::open(dir)?
        .anchored(crate::audit::CheckpointKey::from_store(store))
        .check_appendable()
        .context("refusing to change the store: the audit log would not record the change")
}

/// Audits a store change: `event` (what changed), then `store.write` with the
/// store's new generation, which later opens compare against to detect a
/// rolled-back store file.
pub fn record_write(dir: &Path, store: &Store, event: Option<Event>) -> anyhow::Result<()> {
    let log = AuditLog::open(dir)?.anchored(crate::audit::CheckpointKey::from_store(store));
    let written = Event::StoreWrite {
        store: store.store_id().to_owned(),
        generation: store.generation(),
    };
    for event in event.into_iter().chain([written]) {
        log.append(event)
            .context("the store was changed, but the audit record failed")?;
    }
    Ok(())
}

/// Refuses any extra command-line words (a value typed there would sit in shell
/// history and be visible to every process through `ps`) without repeating
/// them, and requires `--project`.
pub fn value_from_stdin_only<'a>(
    stray: &[String],
    name: &SecretName,
    project: Option<&'a ProjectName>,
) -> anyhow::Result<&'a ProjectName> {
    let pipe_hint = format!(
        "pipe the value on stdin: printf %s \"$VALUE\" | runner secret set {name} --project PROJECT"
    );
    if !stray.is_empty() {
        return Err(Refused {
            message: format!(
                "refusing {} extra command-line argument(s): secret values are read from stdin only",
                stray.len()
            ),
            hint: Some(pipe_hint),
        }
        .into());
    }
    project.ok_or_else(|| {
        Refused {
            message: "missing --project".into(),
            hint: Some(pipe_hint),
        }
        .into()
    })
}

/// Reads the value from stdin; at a terminal without echo, telling the user
/// how to finish.
pub fn read_stdin_value() -> anyhow::Result<secrecy::SecretSlice<u8>> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("enter the value (not shown), then press Enter and Ctrl-D");
        return Ok(store::passphrase::read_value_hidden(stdin.lock())?);
    }
    Ok(store::read_value(stdin.lock())?)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    #[test]
    fn debug_output_never_shows_a_value_typed_on_the_command_line() {
        let cli = Cli::try_parse_from([
            "runner",
            "secret",
            "set",
            "posthog-read",
            "--project",
            "analytics",
            "phc_CANARY_argv",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(
            !shown.contains("CANARY"),
            "stray argument leaked into Debug"
        );
        assert!(shown.contains("1 refused argument"), "{shown}");
    }
}
