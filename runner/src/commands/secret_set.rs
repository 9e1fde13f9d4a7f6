//! `runner secret set NAME --project P`: store a new secret read from stdin.

use clap::Args;
use secrecy::ExposeSecret;

use crate::cli::Global;
use crate::commands::secret_checks;
use crate::names::{ProjectName, SecretName};
use crate::report::Refused;
use crate::state::Change;
use crate::store::{self, StoreError};

// `Debug` by hand: `stray` may hold a value someone typed on the command line
// by mistake, and must not reach any debug output.
#[derive(Args)]
pub struct SecretSet {
    /// Secret name, e.g. posthog-read
    pub name: SecretName,
    /// Project the secret belongs to
    #[arg(long, short)]
    pub project: Option<ProjectName>,
    /// Store into a project tasks.toml does not declare
    #[arg(long)]
    pub force: bool,
    /// Accept a value that is not UTF-8 text (tasks read secrets as text)
    #[arg(long)]
    pub binary: bool,
    /// Anything else on the command line: refused, never read as a value.
    #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub stray: Vec<String>,
}

impl std::fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSet")
            .field("name", &self.name)
            .field("project", &self.project)
            .field("force", &self.force)
            .field("binary", &self.binary)
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
        let (_, place) = global.open_place()?;
        secret_checks::require_declared(global, project, self.force)?;
        let value = read_stdin_value()?;
        secret_checks::require_text(value.expose_secret(), self.binary)?;
        let mut state = place.open_for_change()?;
        let name = &self.name;
        let written = state.write_store(Change::Set {
            project,
            name,
            value: &value,
        })?;
        if let Some(entry) = &written.entry {
            println!(
                "stored {}/{} version {}",
                entry.project, entry.name, entry.version
            );
        }
        finish(written.unfinished)
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
