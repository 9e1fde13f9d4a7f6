//! What the task's WASI context grants besides arguments and output: the
//! agent's directories and environment variables, nothing else.
//!
//! Guarantees: the host environment is never inherited, only the variables
//! tasks.toml lists; each granted directory is a capability (cap-std under
//! wasmtime-wasi), so `..`, absolute paths and symlinks cannot leave it;
//! directories are read-only unless granted `rw`. Missing directories are
//! found before the task is recorded as started
//! ([`crate::policy::Confinement::check_dirs`]), so they refuse the run
//! instead of failing it.

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

pub use crate::policy::DirError;
use crate::policy::{Confinement, DirMode};

/// The directories and environment one run gets.
pub struct Grants<'a>(pub &'a Confinement);

impl Grants<'_> {
    /// Adds the environment and the preopened directories to `builder`.
    pub fn apply(&self, builder: &mut WasiCtxBuilder) -> Result<(), DirError> {
        for (name, value) in &self.0.env {
            builder.env(name, value);
        }
        for dir in &self.0.dirs {
            let perms = match dir.mode {
                DirMode::ReadOnly => FsPerms::ReadOnly,
                DirMode::ReadWrite => FsPerms::ReadWrite,
            };
            builder
                .preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| DirError {
                    host: dir.host.clone(),
                    guest: dir.guest.clone(),
                    source: std::io::Error::other(format!("{e:#}")),
                })?;
        }
        Ok(())
    }
}
