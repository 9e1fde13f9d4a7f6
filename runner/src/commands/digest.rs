//! `runner digest TASK.wasm...`: print each component's digest, the value an
//! agent's `components = [...]` pins.
//!
//! The digest is blake3 of the file's exact bytes, the same hash `exec.start`
//! records as `component`; nothing is compiled or run.

use std::path::PathBuf;

use clap::Args;

use crate::cli::Global;
use crate::policy::ComponentDigest;

#[derive(Debug, Args)]
pub struct Digest {
    /// Component files (.wasm)
    #[arg(required = true)]
    pub tasks: Vec<PathBuf>,
}

impl Digest {
    pub fn execute(&self, _global: &Global) -> anyhow::Result<u8> {
        for path in &self.tasks {
            let wasm = super::exec::read_component(path)?;
            println!("{}  {}", ComponentDigest::of(&wasm), path.display());
        }
        Ok(crate::exit_code::OK)
    }
}
