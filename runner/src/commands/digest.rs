//! `runner digest TASK.wasm...`: print each component's digest, the value an
//! agent's `components = [...]` pins; for a script (.py, .js, .mjs), its
//! text's digest, the value `scripts = [...]` pins.
//!
//! The digest is blake3 of the file's exact bytes, the same hash `exec.start`
//! records as `component`; nothing is compiled or run.

use std::path::PathBuf;

use clap::Args;

use crate::cli::Global;
use crate::policy::ComponentDigest;

#[derive(Debug, Args)]
pub struct Digest {
    /// Component files (.wasm) or scripts (.py, .js, .mjs)
    #[arg(required = true)]
    pub tasks: Vec<PathBuf>,
    /// Print JSON Lines: {"path": ..., "digest": ...} per file
    #[arg(long)]
    pub json: bool,
}

impl Digest {
    pub fn execute(&self, _global: &Global) -> anyhow::Result<u8> {
        for path in &self.tasks {
            // A script's digest is what `scripts = [...]` pins.
            let digest = match crate::script::Script::read(path) {
                Some(script) => script?.digest,
                None => ComponentDigest::of(&super::exec::read_component(path)?),
            };
            match self.json {
                true => println!(
                    "{}",
                    serde_json::json!({"path": path.display().to_string(), "digest": digest.to_string()})
                ),
                false => println!("{digest}  {}", path.display()),
            }
        }
        Ok(crate::exit_code::OK)
    }
}
