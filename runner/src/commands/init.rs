//! `runner init [--passphrase]`: create the state dir, the store and the log.
//!
//! By default a random key file protects the store's data key; with
//! `--passphrase` a passphrase (typed twice at the terminal, or taken from
//! `SCOPEHOLD_PASSPHRASE`) does, through Argon2id, and no key file exists.
//!
//! An `init` interrupted by a crash or an I/O error is redone or completed
//! by running `init` again, never called "already initialised" while every
//! other command says "not initialised": leftovers from before the store
//! file existed (the lock, `key.next`, temp files, an empty `audit.jsonl`)
//! are removed and the init redone; a store file without an audit log (or
//! with an empty one) gets its log; a log that holds only its `log.init`
//! (with this store's MAC) and no checkpoint gets its first checkpoint. Nothing that could hold a secret or a
//! record is ever removed: a state dir with anything else is initialised.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::audit::{AUDIT_FILE, AuditLog, CHECKPOINT_FILE, CheckpointKey};
use crate::cli::Global;
use crate::policy::LockedPolicy;
use crate::store::{
    KEY_FILE, KeyProtection, LOCK_FILE, NEXT_KEY_FILE, STORE_FILE, Store, passphrase,
};

/// The checkpoint's temp file (a crash while writing the first one).
const CHECKPOINT_TEMP: &str = "audit.checkpoint.tmp";

#[derive(Debug, Args)]
pub struct Init {
    /// Protect the store with a passphrase instead of a key file (read from
    /// the terminal, or from SCOPEHOLD_PASSPHRASE)
    #[arg(long)]
    pub passphrase: bool,
}

/// What an existing state dir holds, as far as `init` is concerned.
enum Found {
    /// No state dir, an empty one, or one `init` must refuse.
    Fresh,
    /// Leftovers of an `init` stopped before its store file existed.
    BeforeStore(Vec<PathBuf>),
    /// A store file without an audit log (the empty log, if any, to remove).
    WithoutLog(Option<PathBuf>),
    /// A store file and a log, but no checkpoint yet (a temp checkpoint
    /// to remove, if any).
    WithoutCheckpoint(Vec<PathBuf>),
}

impl Init {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.home()?;
        if let crate::state::Place::Postgres(db) = global.place(&dir)? {
            return super::init_pg::init(&db, &dir, self.passphrase);
        }
        let (store, resumed) = match inspect(&dir)? {
            Found::Fresh => {
                crate::home::create(&dir)?;
                (self.create_store(&dir)?, false)
            }
            Found::BeforeStore(leftovers) => {
                remove_all(&dir, &leftovers)?;
                (self.create_store(&dir)?, true)
            }
            Found::WithoutLog(empty_log) => {
                let store = Store::open(&dir).context("cannot open the store")?;
                remove_all(&dir, empty_log.as_slice())?;
                (store, true)
            }
            Found::WithoutCheckpoint(leftovers) => {
                let store = Store::open(&dir).context("cannot open the store")?;
                remove_all(&dir, &leftovers)?;
                AuditLog::open(&dir)?
                    .anchored(CheckpointKey::from_store(&store))
                    .complete_init()
                    .context("cannot write the audit log's first checkpoint")?;
                return Ok(done(&dir, &store, true));
            }
        };
        AuditLog::create_anchored(&dir, CheckpointKey::from_store(&store))
            .context("cannot create the audit log")?
            .checkpoint_now()
            .context("cannot write the audit log's first checkpoint")?;
        write_starter_policy(&global.config());
        Ok(done(&dir, &store, resumed))
    }

    fn create_store(&self, dir: &Path) -> anyhow::Result<Store> {
        let protection = match self.passphrase {
            true => KeyProtection::Passphrase(passphrase::new(passphrase::PASSPHRASE_ENV)?),
            false => KeyProtection::KeyFile,
        };
        Store::init_with(dir, protection).map_err(|err| {
            let again = match err.took_effect() {
                true => "; run `runner init` again to complete it",
                false => "",
            };
            anyhow::Error::new(err).context(format!("cannot create the store{again}"))
        })
    }
}

/// Tells the operator what was done and what comes next.
/// The commented tasks.toml `init` writes where none exists: valid (it
/// declares nothing) and a guide to the two ways of filling it.
const STARTER_POLICY: &str = r#"# tasks.toml: which agent may resolve which secret, until when.
# Reference: docs/tasks-toml.md. Fill it from the command line (edits keep
# your comments and are recorded in the audit log):
#
#   runner project add analytics --description "Product analytics"
#   runner agent add support-bot --project analytics
#   runner grant posthog-read --agent support-bot --expires 30d
#
# or by hand, as below (hand edits are recorded too, on the next run):
#
# [projects.analytics]
# description = "Product analytics"
#
# [agents.support-bot]
# project = "analytics"
# grants = [
#   { secret = "posthog-read", expires = "2027-01-01T00:00:00Z" },
# ]

[projects]

[agents]
"#;

/// Writes [`STARTER_POLICY`] at `path` unless a file is there (never
/// overwritten). The state dir is initialised either way: a failure here
/// is a warning.
fn write_starter_policy(path: &Path) {
    // Most inits find a tasks.toml: leave it, and its directory, untouched
    // (no lock file); the check is repeated under the lock.
    if path.exists() {
        return;
    }
    let written = LockedPolicy::open(path).and_then(|file| {
        let absent = file.text().is_empty() && !path.exists();
        absent.then(|| file.replace(STARTER_POLICY)).transpose()
    });
    match written {
        Ok(Some(())) => println!(
            "wrote a starter {} (it declares nothing yet)",
            path.display()
        ),
        Ok(None) => {}
        Err(error) => eprintln!(
            "scopehold: warning: no starter tasks.toml written at {}: {error}",
            path.display()
        ),
    }
}

fn done(dir: &Path, store: &Store, resumed: bool) -> u8 {
    if resumed {
        println!("completed an interrupted init");
    }
    println!("initialised ScopeHold state in {}", dir.display());
    if store.uses_passphrase() {
        println!(
            "a lost passphrase cannot be recovered: nothing can open the store without it \
             (no reset, no backdoor); keep it in a password manager"
        );
    }
    if !store.uses_passphrase() {
        println!(
            "back up the key file {} separately from the store",
            dir.join(KEY_FILE).display()
        );
    }
    println!("next: printf %s \"$KEY\" | runner secret set NAME --project PROJECT");
    crate::exit_code::OK
}

/// Classifies the state dir. Only a dir holding nothing but an interrupted
/// init's files is resumed; anything else goes to `home::create`, which
/// creates it or refuses it (already initialised, not private).
fn inspect(dir: &Path) -> anyhow::Result<Found> {
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(_) => return Ok(Found::Fresh),
    };
    let (mut names, mut leftovers) = (Vec::new(), Vec::new());
    for entry in listing {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    let empty_log = match names.iter().any(|n| n == AUDIT_FILE) {
        true => fs::metadata(dir.join(AUDIT_FILE))
            .map(|meta| meta.is_file() && meta.len() == 0)
            .unwrap_or(false),
        false => true,
    };
    let has = |wanted: &str| names.iter().any(|n| n == wanted);
    let only_init_files = names.iter().all(|n| is_init_file(n));
    if only_init_files && !empty_log && has(STORE_FILE) && !has(CHECKPOINT_FILE) {
        crate::home::open(dir)?;
        let temp = names.iter().filter(|n| n.as_str() == CHECKPOINT_TEMP);
        return Ok(Found::WithoutCheckpoint(
            temp.map(|n| dir.join(n)).collect(),
        ));
    }
    if names.is_empty() || !only_init_files || !empty_log {
        return Ok(Found::Fresh);
    }
    crate::home::open(dir)?;
    let log = has(AUDIT_FILE).then(|| dir.join(AUDIT_FILE));
    if has(STORE_FILE) {
        return Ok(Found::WithoutLog(log));
    }
    if has(KEY_FILE) {
        // A key file without a store file may be someone's only copy.
        return Ok(Found::Fresh);
    }
    for name in names.iter().filter(|n| *n != LOCK_FILE) {
        leftovers.push(dir.join(name));
    }
    Ok(Found::BeforeStore(leftovers))
}

/// Files an `init` makes before it is complete.
fn is_init_file(name: &str) -> bool {
    let temp = name.starts_with(&format!(".{STORE_FILE}.")) && name.ends_with(".tmp");
    let made = [
        STORE_FILE,
        KEY_FILE,
        LOCK_FILE,
        AUDIT_FILE,
        NEXT_KEY_FILE,
        CHECKPOINT_TEMP,
    ];
    temp || made.contains(&name)
}

/// Removes an interrupted init's leftovers, durably.
fn remove_all(dir: &Path, paths: &[PathBuf]) -> anyhow::Result<()> {
    for path in paths {
        fs::remove_file(path).with_context(|| {
            format!(
                "cannot remove {} (left by an interrupted init)",
                path.display()
            )
        })?;
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}
