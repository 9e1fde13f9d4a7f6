//! Policy file hygiene: the file that decides what a task may reach must be
//! controlled by the user running it.
//!
//! Guarantees: [`check_file_safety`] refuses a tasks.toml that users other
//! than its owner can write (group- or world-writable), or that is owned by
//! a user other than the one running the runner (root-owned files are
//! accepted, as root can change any file anyway). The checked path is the
//! file a symlink points to, since that is what gets read.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a policy file is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum UnsafePolicyFile {
    #[error("cannot check policy file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("policy file {} is writable by other users (mode {mode:o})", path.display())]
    Writable { path: PathBuf, mode: u32 },
    #[error("policy file {} is owned by uid {owner}, not by this user (uid {me})", path.display())]
    Foreign { path: PathBuf, owner: u32, me: u32 },
}

impl UnsafePolicyFile {
    pub fn hint(&self) -> Option<String> {
        match self {
            UnsafePolicyFile::Unreadable { .. } => {
                Some("pass --config FILE or set SCOPEHOLD_CONFIG".into())
            }
            UnsafePolicyFile::Writable { path, .. } => {
                Some(format!("run `chmod go-w {}`", path.display()))
            }
            UnsafePolicyFile::Foreign { path, .. } => Some(format!(
                "copy the file to one you own, or `chown $(id -u) {}`",
                path.display()
            )),
        }
    }
}

/// Refuses a policy file other users could have changed.
pub fn check_file_safety(path: &Path) -> Result<(), UnsafePolicyFile> {
    let meta = std::fs::metadata(path).map_err(|source| UnsafePolicyFile::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(UnsafePolicyFile::Writable {
            path: path.to_owned(),
            mode,
        });
    }
    let me = current_uid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(UnsafePolicyFile::Foreign {
            path: path.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    Ok(())
}

fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn refuses_group_and_world_writable_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tasks.toml");
        std::fs::write(&file, "").unwrap();
        for (mode, ok) in [(0o600, true), (0o644, true), (0o664, false), (0o646, false)] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let result = check_file_safety(&file);
            assert_eq!(result.is_ok(), ok, "mode {mode:o}: {result:?}");
        }
        let err = check_file_safety(&file).unwrap_err();
        assert!(
            err.hint().unwrap().starts_with("run `chmod go-w "),
            "{:?}",
            err.hint()
        );
        assert!(check_file_safety(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn refuses_a_file_owned_by_another_user() {
        // Only root can give a file away; elsewhere this case cannot be set up.
        if current_uid() != 0 {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tasks.toml");
        std::fs::write(&file, "").unwrap();
        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        let err = check_file_safety(&file).unwrap_err();
        assert!(
            matches!(err, UnsafePolicyFile::Foreign { owner: 65534, .. }),
            "{err}"
        );
        assert!(err.hint().unwrap().contains("chown"), "{:?}", err.hint());
        std::os::unix::fs::chown(&file, Some(0), None).unwrap();
        assert!(check_file_safety(&file).is_ok());
    }
}
