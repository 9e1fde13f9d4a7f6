//! `runner cache clear`: remove every compiled artifact from the state dir's
//! compiled-code cache. The next run of each component compiles it again.

use anyhow::Context;
use clap::Args;

use crate::cli::Global;
use crate::sandbox::CodeCache;

#[derive(Debug, Args)]
pub struct CacheClear {}

impl CacheClear {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let home = global.open_home()?;
        let cache = CodeCache::open(&home)?;
        let removed = cache
            .clear()
            .context("cannot clear the compiled-code cache")?;
        println!("removed {removed} compiled artifact(s)");
        Ok(crate::exit_code::OK)
    }
}
