//! `runner init`: create the state dir, its key file, the store and the log.

use anyhow::Context;
use clap::Args;

use crate::audit::AuditLog;
use crate::cli::Global;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct Init {}

impl Init {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.home()?;
        crate::home::create(&dir)?;
        let store = Store::init(&dir).context("cannot create the store")?;
        AuditLog::create(&dir, store.store_id()).context("cannot create the audit log")?;
        println!("initialised ScopeHold state in {}", dir.display());
        println!("next: printf %s \"$KEY\" | runner secret set NAME --project PROJECT");
        Ok(crate::exit_code::OK)
    }
}
