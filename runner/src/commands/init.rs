//! `runner init [--passphrase]`: create the state dir, the store and the log.
//!
//! By default a random key file protects the store's data key; with
//! `--passphrase` a passphrase (typed twice at the terminal, or taken from
//! `SCOPEHOLD_PASSPHRASE`) does, through Argon2id, and no key file exists.

use anyhow::Context;
use clap::Args;

use crate::audit::AuditLog;
use crate::cli::Global;
use crate::store::{KeyProtection, Store, passphrase};

#[derive(Debug, Args)]
pub struct Init {
    /// Protect the store with a passphrase instead of a key file (read from
    /// the terminal, or from SCOPEHOLD_PASSPHRASE)
    #[arg(long)]
    pub passphrase: bool,
}

impl Init {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.home()?;
        crate::home::create(&dir)?;
        let protection = match self.passphrase {
            true => KeyProtection::Passphrase(passphrase::new(passphrase::PASSPHRASE_ENV)?),
            false => KeyProtection::KeyFile,
        };
        let store = Store::init_with(&dir, protection).context("cannot create the store")?;
        AuditLog::create_anchored(&dir, crate::audit::CheckpointKey::from_store(&store))
            .context("cannot create the audit log")?
            .checkpoint_now()
            .context("cannot write the audit log's first checkpoint")?;
        println!("initialised ScopeHold state in {}", dir.display());
        if !self.passphrase {
            println!(
                "back up the key file {} separately from the store",
                dir.join("key").display()
            );
        }
        println!("next: printf %s \"$KEY\" | runner secret set NAME --project PROJECT");
        Ok(crate::exit_code::OK)
    }
}
