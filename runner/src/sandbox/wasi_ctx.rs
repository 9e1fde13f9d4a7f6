//! What the task's WASI context grants besides arguments and output: the
//! agent's directories and environment variables, nothing else.
//!
//! Guarantees: the host environment is never inherited, only the variables
//! tasks.toml lists; each granted directory is a capability (cap-std under
//! wasmtime-wasi), so `..`, absolute paths and symlinks cannot leave it;
//! directories are read-only unless granted `rw`. [`Grants::check`] runs
//! before the task is recorded as started, so a missing directory refuses the
//! run instead of failing it.

use std::path::PathBuf;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::policy::{Confinement, DirMode};

/// A granted directory could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot grant {} as {guest}: {source}", host.display())]
pub struct DirError {
    pub host: PathBuf,
    pub guest: String,
    #[source]
    pub source: std::io::Error,
}

impl DirError {
    pub fn hint(&self) -> Option<String> {
        Some(format!(
            "create the directory {} or fix `dirs` in tasks.toml (a relative host path is \
             relative to tasks.toml)",
            self.host.display()
        ))
    }
}

/// The directories and environment one run gets.
pub struct Grants<'a>(pub &'a Confinement);

impl Grants<'_> {
    /// Checks that every granted directory exists and is a directory.
    pub fn check(&self) -> Result<(), DirError> {
        for dir in &self.0.dirs {
            let error = |source| DirError {
                host: dir.host.clone(),
                guest: dir.guest.clone(),
                source,
            };
            let meta = std::fs::metadata(&dir.host).map_err(error)?;
            if !meta.is_dir() {
                return Err(error(std::io::Error::other("not a directory")));
            }
        }
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::DirGrant;

    fn grants(host: PathBuf) -> Confinement {
        let dir = DirGrant {
            host,
            guest: "/data".into(),
            mode: DirMode::ReadOnly,
        };
        Confinement {
            dirs: vec![dir],
            ..Confinement::default()
        }
    }

    #[test]
    fn only_existing_directories_can_be_granted() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(Grants(&grants(tmp.path().to_owned())).check().is_ok());
        let missing = grants(tmp.path().join("missing"));
        let err = Grants(&missing).check().unwrap_err();
        assert!(
            err.hint().unwrap().contains("create the directory"),
            "{err}"
        );
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(Grants(&grants(file)).check().is_err());
    }
}
