//! `runner rekey [--data-key] [--passphrase | --key-file]`: change the key.
//!
//! Without `--data-key` only the data key's wrapping changes: a new key file
//! (or passphrase) replaces the old one, which no longer opens the store.
//! With `--data-key` every secret is also re-encrypted under a new data key,
//! in one atomic write. Either way the change is audited: `store.rekey`
//! (what changed), then `store.write`.

use clap::Args;

use crate::cli::Global;
use crate::commands::secret_set::finish;
use crate::state::{Change, rekey_done};
use crate::store::{KeyProtection, passphrase};

#[derive(Debug, Args)]
pub struct Rekey {
    /// Also re-encrypt every secret under a new data key
    #[arg(long)]
    pub data_key: bool,
    /// Protect the store with a new passphrase from now on (read from the
    /// terminal, or from SCOPEHOLD_NEW_PASSPHRASE)
    #[arg(long, conflicts_with = "key_file")]
    pub passphrase: bool,
    /// Protect the store with a new key file from now on
    #[arg(long)]
    pub key_file: bool,
}

impl Rekey {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let (dir, place) = global.open_place()?;
        let mut state = place.open_for_change()?;
        let to_passphrase = self.passphrase || (!self.key_file && state.store().uses_passphrase());
        let protection = match to_passphrase {
            true => KeyProtection::Passphrase(passphrase::new(passphrase::NEW_PASSPHRASE_ENV)?),
            false => KeyProtection::KeyFile,
        };
        let written = state.write_store(Change::Rekey {
            protection,
            data_key: self.data_key,
        })?;
        let what = rekey_done(self.data_key);
        match to_passphrase {
            true => println!("{what}; the new passphrase now opens the store"),
            false => println!(
                "{what}; the new key file {} now opens the store: back it up, old copies no \
                 longer work",
                dir.key_file().display()
            ),
        }
        finish(written.unfinished)
    }
}
