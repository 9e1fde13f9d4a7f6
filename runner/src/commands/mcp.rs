//! `runner mcp`: serve the tools of tasks.toml to an MCP client over stdio.
//!
//! stdout is the protocol channel: nothing else is written to it. The
//! runner's own lines (warnings, why a call failed) go to stderr, which MCP
//! clients keep as the server's log.

use clap::Args;

use crate::cli::Global;
use crate::mcp::{Setup, serve_stdio};

#[derive(Debug, Args)]
pub struct Mcp {}

impl Mcp {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        // Checked once up front so a broken setup fails at start with a
        // hint, not as the first call's error; each request reads it again.
        crate::policy::Policy::load_trusted(&global.config())?;
        serve_stdio(Setup {
            config: global.config(),
            home: global.home.clone(),
            database_url: global.database_url.clone(),
        })?;
        Ok(crate::exit_code::OK)
    }
}
