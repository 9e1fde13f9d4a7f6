//! `runner init` with `[state] backend = "postgres"`: create the database's
//! state, or join it (docs/postgres.md). The state dir then holds only this
//! host's key file (none with `--passphrase`) and, later, the compiled-code
//! cache: store and chain are in the database.

use std::path::Path;

use anyhow::Context;

use crate::state::postgres::{Initialised, PostgresBackend};
use crate::store::{KEY_FILE, KeyProtection, passphrase};

/// Creates or joins; prints which, and what the operator does next.
pub fn init(db: &PostgresBackend, dir: &Path, with_passphrase: bool) -> anyhow::Result<u8> {
    match dir.exists() {
        true => crate::home::open(dir)?,
        false => crate::home::create(dir)?,
    }
    let protection = || match with_passphrase {
        true => Ok(KeyProtection::Passphrase(passphrase::new(
            passphrase::PASSPHRASE_ENV,
        )?)),
        false => Ok(KeyProtection::KeyFile),
    };
    let (store, done) = db
        .initialise(protection)
        .context("cannot initialise the ScopeHold state in the database")?;
    match done {
        Initialised::Created => println!(
            "created the ScopeHold state (store {}) in the database",
            store.store_id()
        ),
        Initialised::Joined => println!(
            "joined the ScopeHold state (store {}) in the database",
            store.store_id()
        ),
    }
    if store.uses_passphrase() {
        println!("every host opens the store with the same passphrase (SCOPEHOLD_PASSPHRASE)");
    } else {
        println!(
            "the key file {} opens the store: back it up, and copy it (mode 0600) into the state \
             dir of each host that joins",
            dir.join(KEY_FILE).display()
        );
    }
    if done == Initialised::Created {
        println!("next: printf %s \"$KEY\" | runner secret set NAME --project PROJECT");
    }
    Ok(crate::exit_code::OK)
}
