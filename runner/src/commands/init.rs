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
//! with an empty one) gets its log; a log holding only its `log.init` gets
//! its first checkpoint. Nothing that could hold a secret or a record is
//! ever removed: a state dir with anything else is initialised.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::audit::{AUDIT_FILE, AuditLog, CHECKPOINT_FILE, CheckpointKey};
use crate::cli::Global;
use crate::store::{
    KEY_FILE, KeyProtection, LOCK_FILE, NEXT_KEY_FILE, STORE_FILE, Store, passphrase,
};

#[derive(Debug, Args)]
pub struct Init {
    /// Protect the store with a passphrase instead of a key file (read from
    /// the terminal, or from SCOPEHOLD_PASSPHRASE)
    #[arg(long)]
    pub passphrase: bool,
}

/// The temp file a checkpoint is written to before its rename (audit's
/// `Checkpoint::store`); a kill or an error can leave it.
const CHECKPOINT_TEMP: &str = "audit.checkpoint.tmp";

/// What an existing state dir holds, as far as `init` is concerned.
enum Found {
    /// No state dir, an empty one, or one `init` must refuse.
    Fresh,
    /// Leftovers of an `init` stopped before its store file existed.
    BeforeStore(Vec<PathBuf>),
    /// A store file without an audit log (the empty log, if any, to remove).
    WithoutLog(Option<PathBuf>),
    /// A store file and a log of one record (`log.init`), no checkpoint:
    /// appends refuse a log without its checkpoint, and this one hides
    /// nothing, so `init` writes it.
    WithoutCheckpoint,
}

impl Init {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.home()?;
        let found = inspect(&dir)?;
        let resumed = !matches!(found, Found::Fresh);
        if resumed && dir.join(CHECKPOINT_TEMP).exists() {
            remove_all(&dir, &[dir.join(CHECKPOINT_TEMP)])?;
        }
        let (store, log) = match found {
            Found::Fresh => {
                crate::home::create(&dir)?;
                (self.create_store(&dir)?, None)
            }
            Found::BeforeStore(leftovers) => {
                remove_all(&dir, &leftovers)?;
                (self.create_store(&dir)?, None)
            }
            Found::WithoutLog(empty_log) => {
                // The empty log first: it holds nothing, and the rollback
                // check at open would find no authenticated start in it.
                remove_all(&dir, empty_log.as_slice())?;
                (Store::open(&dir).context("cannot open the store")?, None)
            }
            Found::WithoutCheckpoint => {
                let store = Store::open(&dir).context("cannot open the store")?;
                let log = only_log_init(&dir, &store)?;
                (store, Some(log))
            }
        };
        let log = match log {
            Some(log) => log,
            None => AuditLog::create_anchored(&dir, CheckpointKey::from_store(&store))
                .context("cannot create the audit log")?,
        };
        log.checkpoint_now()
            .context("cannot write the audit log's first checkpoint")?;
        if resumed {
            println!("completed an interrupted init");
        }
        println!("initialised ScopeHold state in {}", dir.display());
        if !store.uses_passphrase() {
            println!(
                "back up the key file {} separately from the store",
                dir.join(KEY_FILE).display()
            );
        }
        println!("next: printf %s \"$KEY\" | runner secret set NAME --project PROJECT");
        Ok(crate::exit_code::OK)
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
    let has = |wanted: &str| names.iter().any(|n| n == wanted);
    if names.is_empty() || !names.iter().all(|n| is_init_file(n)) {
        return Ok(Found::Fresh);
    }
    crate::home::open(dir)?;
    let log_lines = match has(AUDIT_FILE) {
        true => lines_of_small(&dir.join(AUDIT_FILE)),
        false => Some(0),
    };
    let log = has(AUDIT_FILE).then(|| dir.join(AUDIT_FILE));
    match (has(STORE_FILE), log_lines) {
        (true, Some(0)) => return Ok(Found::WithoutLog(log)),
        (true, Some(1)) if !has(CHECKPOINT_FILE) => return Ok(Found::WithoutCheckpoint),
        (false, Some(0)) if !has(KEY_FILE) && !has(CHECKPOINT_FILE) => {}
        // Complete; or a key file without a store file, which may be
        // someone's only copy; or a log with records: refused.
        _ => return Ok(Found::Fresh),
    }
    // The lock is harmless and kept; the checkpoint temp file is removed
    // for every resumed init in `execute`.
    for name in names
        .iter()
        .filter(|n| ![LOCK_FILE, CHECKPOINT_TEMP].contains(&n.as_str()))
    {
        leftovers.push(dir.join(name));
    }
    Ok(Found::BeforeStore(leftovers))
}

/// Files an `init` makes.
fn is_init_file(name: &str) -> bool {
    let temp = name.starts_with(&format!(".{STORE_FILE}.")) && name.ends_with(".tmp");
    let made = [STORE_FILE, KEY_FILE, LOCK_FILE, AUDIT_FILE, NEXT_KEY_FILE];
    temp || made.contains(&name) || name == CHECKPOINT_FILE || name == CHECKPOINT_TEMP
}

/// The number of complete lines of a file of at most a few KiB (`None`:
/// larger or unreadable). A new log's `log.init` is one short line; a line
/// without its newline is an append that never completed.
fn lines_of_small(path: &Path) -> Option<usize> {
    let bytes = fs::read(path).ok().filter(|b| b.len() <= 8192)?;
    Some(bytes.iter().filter(|b| **b == b'\n').count())
}

/// The log of an init stopped before its first checkpoint, once verified
/// to hold one intact record: nothing it could hide.
fn only_log_init(dir: &Path, store: &Store) -> anyhow::Result<AuditLog> {
    let report = crate::audit::verify(&dir.join(AUDIT_FILE))?;
    if !report.is_intact() || report.records != 1 {
        anyhow::bail!(
            "{} holds an audit log without a checkpoint that does not verify as a new one; \
             run `runner audit verify`",
            dir.display()
        );
    }
    Ok(AuditLog::open(dir)?.anchored(CheckpointKey::from_store(store)))
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
