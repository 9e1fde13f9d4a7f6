//! The command line: global flags and one subcommand per file in `commands/`.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::commands;

/// ScopeHold: give the agent access, not the raw key.
#[derive(Debug, Parser)]
#[command(
    name = "runner",
    version,
    long_version = commands::completions::long_version(),
    about,
    max_term_width = 100,
    after_help = "Exit codes: 0 success, 1 failure, 2 usage error; `audit verify` 3 when \
        UNANCHORED; `exec` the task's own or 118-126, 130, 143, 134 (`runner exec --help`). \
        The table: README.md, \"Exit codes\"."
)]
pub struct Cli {
    /// State dir (default: $SCOPEHOLD_HOME, else $XDG_DATA_HOME/scopehold)
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Policy file (default: $SCOPEHOLD_CONFIG, else ./tasks.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// PostgreSQL URL for `[state] backend = "postgres"` (default:
    /// $SCOPEHOLD_DATABASE_URL); never printed
    #[arg(long, global = true, value_name = "URL", value_parser = DatabaseUrl::parse)]
    pub database_url: Option<DatabaseUrl>,
    #[command(subcommand)]
    pub command: Command,
}

/// `--database-url`: holds a password, so its `Debug` shows nothing.
#[derive(Clone)]
pub struct DatabaseUrl(std::sync::Arc<secrecy::SecretString>);

impl DatabaseUrl {
    /// The URL, to hand to the backend (never to print).
    pub fn secret(&self) -> &secrecy::SecretString {
        &self.0
    }

    fn parse(text: &str) -> Result<DatabaseUrl, std::convert::Infallible> {
        Ok(DatabaseUrl(std::sync::Arc::new(text.into())))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl([REDACTED])")
    }
}

/// Global settings every command may use.
pub struct Global {
    pub home: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub database_url: Option<DatabaseUrl>,
}

impl Global {
    pub fn home(&self) -> anyhow::Result<PathBuf> {
        Ok(crate::home::locate(self.home.as_deref())?)
    }

    /// The state dir, checked to exist and be private.
    pub fn open_home(&self) -> anyhow::Result<crate::state_dir::StateDir> {
        let dir = self.home()?;
        crate::home::open(&dir)?;
        Ok(crate::state_dir::StateDir::new(dir))
    }

    pub fn config(&self) -> PathBuf {
        crate::home::locate_config(self.config.as_deref())
    }

    pub fn config_flag(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// Where the state of the state dir `home` lives, as tasks.toml's
    /// `[state] backend` selects (docs/postgres.md).
    pub fn place(&self, home: &Path) -> anyhow::Result<crate::state::Place> {
        let url = self.database_url.as_ref().map(DatabaseUrl::secret);
        Ok(crate::state::Place::select(&self.config(), home, url)?)
    }

    /// As [`Global::place`], for a command that only reads: a tasks.toml
    /// that cannot be loaded does not stop a state dir that holds its own
    /// log from being read (`audit verify` after a bad edit must still
    /// work). A state dir without one (a database host's) still fails, so
    /// a database selection never falls back to files.
    fn place_for_reading(&self, home: &Path) -> anyhow::Result<crate::state::Place> {
        let url = self.database_url.as_ref().map(DatabaseUrl::secret);
        match crate::state::Place::select(&self.config(), home, url) {
            Err(crate::state::PlaceError::Policy(error))
                if crate::state_dir::StateDir::new(home).audit_log().exists() =>
            {
                eprintln!("warning: {error}");
                eprintln!(
                    "warning: reading the state dir's own files ({}); fix tasks.toml before \
                     changing anything",
                    home.display()
                );
                Ok(crate::state::Place::File(home.into()))
            }
            other => Ok(other?),
        }
    }

    /// The checked state dir and the place its state lives.
    pub fn open_place(&self) -> anyhow::Result<(crate::state_dir::StateDir, crate::state::Place)> {
        let dir = self.open_home()?;
        let place = self.place(&dir)?;
        Ok((dir, place))
    }

    /// The state dir, for a command only the file backend supports
    /// (`what`): refused, changing nothing, with another backend.
    pub fn file_only(&self, what: &'static str) -> anyhow::Result<crate::state_dir::StateDir> {
        let (dir, place) = self.open_place()?;
        match place {
            crate::state::Place::File(_) => Ok(dir),
            crate::state::Place::Postgres(_) => {
                Err(crate::store::StoreError::FileOnly(what).into())
            }
        }
    }

    /// The chain and store to read, in the file layout (the state dir, or a
    /// snapshot of the database), with the state dir itself.
    pub fn open_reading(&self) -> anyhow::Result<Reading> {
        let home = self.open_home()?;
        let place = self.place_for_reading(&home)?;
        let reading = place.reading()?;
        let dir = crate::state_dir::StateDir::new(reading.dir());
        Ok(Reading {
            dir,
            home,
            _held: reading,
        })
    }
}

/// A directory to read the chain and store from; derefs to it.
pub struct Reading {
    dir: crate::state_dir::StateDir,
    /// The state dir itself (for what stays local: the script store).
    pub home: crate::state_dir::StateDir,
    _held: crate::state::Reading,
}

impl Reading {
    /// Whether this is a snapshot of a database (not the state dir).
    pub fn is_snapshot(&self) -> bool {
        self._held.is_snapshot()
    }
}

impl std::ops::Deref for Reading {
    type Target = crate::state_dir::StateDir;

    fn deref(&self) -> &crate::state_dir::StateDir {
        &self.dir
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the state dir, its key file, the store and the audit log
    Init(commands::init::Init),
    /// Store and manage secrets
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Run a task as an agent: `runner exec TASK.wasm --agent NAME [-- ARGS...]`
    Exec(commands::exec::Exec),
    /// Unlock the store once and serve `runner exec` from memory (docs/serve.md)
    Serve(commands::serve::Serve),
    /// Show what a run would get (imports, secrets, egress, dirs, env, limits) without running it
    Explain(commands::explain::Explain),
    /// Serve the [tools.NAME] of tasks.toml to an MCP client over stdio (docs/mcp.md)
    Mcp(commands::mcp::Mcp),
    /// Print a component's digest, for pinning it with `components = [...]`
    Digest(commands::digest::Digest),
    /// Declare projects in tasks.toml (recorded in the audit log)
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Add, list and remove agents in tasks.toml (recorded in the audit log)
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Let an agent resolve a stored secret, until an expiry (default 30 days)
    Grant(commands::grant::Grant),
    /// Take a grant back: the agent is denied the secret from its next call on, also in running tasks
    Revoke(commands::revoke::Revoke),
    /// Check and read the audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage the compiled-code cache in the state dir
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Change the store's key file or passphrase (--data-key: also re-encrypt every secret)
    Rekey(commands::rekey::Rekey),
    /// Accept an older store file restored on purpose from a backup (audited)
    AcceptRestore(commands::accept_restore::AcceptRestore),
    /// Print shell completions: `runner completions bash > /etc/bash_completion.d/runner`
    Completions(commands::completions::Completions),
    /// Print the man page (roff): `runner man > ~/.local/share/man/man1/runner.1`
    #[command(hide = true)]
    Man(commands::completions::Man),
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a new secret; the value is read from stdin, never from the command line
    Set(commands::secret_set::SecretSet),
    /// Store a new version of a secret, read from stdin
    Rotate(commands::secret_rotate::SecretRotate),
    /// Remove a secret: grants to it deny from now on
    Rm(commands::secret_rm::SecretRm),
    /// List secrets: names, projects, versions and dates, never values
    List(commands::secret_list::SecretList),
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Add a project to tasks.toml
    Add(commands::project_add::ProjectAdd),
    /// List the projects
    List(commands::project_list::ProjectList),
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Add an agent of a project to tasks.toml
    Add(commands::agent_add::AgentAdd),
    /// List the agents, their projects and grants
    List(commands::agent_list::AgentList),
    /// Remove an agent and its grants
    Rm(commands::agent_rm::AgentRm),
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Remove every compiled artifact; the next runs compile again
    Clear(commands::cache_clear::CacheClear),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the chain and its checkpoints; exit 0 only when intact and anchored
    Verify(commands::audit_verify::AuditVerify),
    /// Print the log's authenticated checkpoint, to keep elsewhere as an anchor
    Head(commands::audit_head::AuditHead),
    /// Review grants: last use, uses, expiry; never-used, stale, expired, missing, ghost
    Grants(commands::audit_grants::AuditGrants),
    /// Print the audit log readably (or as JSON Lines with --json)
    Log(commands::audit_log::AuditLogCmd),
    /// Seal the active audit log segment now and start a new one
    Rotate(commands::audit_rotate::AuditRotate),
    /// One run's records and, for a script run, the exact code that ran
    Show(commands::audit_show::AuditShow),
}

impl Cli {
    pub fn is_exec(&self) -> bool {
        matches!(self.command, Command::Exec(_))
    }

    /// Runs the chosen command and returns the process exit code.
    pub fn run(self) -> anyhow::Result<u8> {
        let global = Global {
            home: self.home,
            config: self.config,
            database_url: self.database_url,
        };
        match self.command {
            Command::Init(cmd) => cmd.execute(&global),
            Command::Secret(SecretCommand::Set(cmd)) => cmd.execute(&global),
            Command::Secret(SecretCommand::Rotate(cmd)) => cmd.execute(&global),
            Command::Secret(SecretCommand::Rm(cmd)) => cmd.execute(&global),
            Command::Secret(SecretCommand::List(cmd)) => cmd.execute(&global),
            Command::Exec(cmd) => cmd.execute(&global),
            Command::Serve(cmd) => cmd.execute(&global),
            Command::Project(ProjectCommand::Add(cmd)) => cmd.execute(&global),
            Command::Project(ProjectCommand::List(cmd)) => cmd.execute(&global),
            Command::Agent(AgentCommand::Add(cmd)) => cmd.execute(&global),
            Command::Agent(AgentCommand::List(cmd)) => cmd.execute(&global),
            Command::Agent(AgentCommand::Rm(cmd)) => cmd.execute(&global),
            Command::Grant(cmd) => cmd.execute(&global),
            Command::Revoke(cmd) => cmd.execute(&global),
            Command::Explain(cmd) => cmd.execute(&global),
            Command::Digest(cmd) => cmd.execute(&global),
            Command::Mcp(cmd) => cmd.execute(&global),
            Command::Audit(AuditCommand::Verify(cmd)) => cmd.execute(&global),
            Command::Audit(AuditCommand::Log(cmd)) => cmd.execute(&global),
            Command::Audit(AuditCommand::Head(cmd)) => cmd.execute(&global),
            Command::Audit(AuditCommand::Grants(cmd)) => cmd.execute(&global),
            Command::Audit(AuditCommand::Rotate(cmd)) => cmd.execute(&global),
            Command::Audit(AuditCommand::Show(cmd)) => cmd.execute(&global),
            Command::Cache(CacheCommand::Clear(cmd)) => cmd.execute(&global),
            Command::Rekey(cmd) => cmd.execute(&global),
            Command::AcceptRestore(cmd) => cmd.execute(&global),
            Command::Completions(cmd) => cmd.execute(&global),
            Command::Man(cmd) => cmd.execute(&global),
        }
    }
}
