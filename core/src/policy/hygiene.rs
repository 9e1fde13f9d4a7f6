//! Policy file hygiene: the file that decides what a task may reach must be
//! controlled by the user running it.
//!
//! Guarantees: [`open_trusted`] opens tasks.toml once (without blocking, so a
//! FIFO cannot hang it) and checks the opened handle, which is then the one
//! read: it must be a regular file within the size cap, owned by the user
//! running the runner or by root, and not writable by group or others. Every
//! directory above the file actually opened (after symlinks) must likewise be
//! owned by the user or root and not writable by others, unless it is
//! sticky like /tmp (where others cannot replace what they do not own): the
//! check ssh makes of `authorized_keys`. A path swapped between a check and
//! the read therefore cannot bring in a file others control.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::input::{InputError, MAX_POLICY_BYTES, Opened};

/// Why a policy file is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum UnsafePolicyFile {
    #[error("policy file: {0}")]
    Input(#[from] InputError),
    #[error("policy file {} is writable by other users (mode {mode:o})", path.display())]
    Writable { path: PathBuf, mode: u32 },
    #[error("policy file {} is owned by uid {owner}, not by this user (uid {me})", path.display())]
    Foreign { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "policy file {} is in directory {}, which {why}",
        file.display(),
        dir.display()
    )]
    UnsafeDir {
        file: PathBuf,
        dir: PathBuf,
        why: String,
    },
}

impl UnsafePolicyFile {
    pub fn hint(&self) -> Option<String> {
        match self {
            UnsafePolicyFile::Input(InputError::Open { .. }) => {
                Some(super::error::NO_POLICY_HINT.into())
            }
            UnsafePolicyFile::Input(error) => error.hint(),
            UnsafePolicyFile::Writable { path, .. } => {
                Some(format!("run `chmod go-w {}`", path.display()))
            }
            UnsafePolicyFile::Foreign { path, .. } => Some(format!(
                "copy the file to one you own, or `chown $(id -u) {}`",
                path.display()
            )),
            UnsafePolicyFile::UnsafeDir { dir, .. } => Some(format!(
                "others could replace the file: `chmod go-w {}` (and make it yours), or keep \
                 tasks.toml in a directory only you control",
                dir.display()
            )),
        }
    }
}

/// Opens the policy file and checks the opened handle and the directories
/// above it; the caller reads that handle.
pub fn open_trusted(path: &Path) -> Result<Opened, UnsafePolicyFile> {
    let opened = Opened::open(path, MAX_POLICY_BYTES)?;
    let mode = opened.meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        let path = path.to_owned();
        return Err(UnsafePolicyFile::Writable { path, mode });
    }
    let me = current_uid();
    let owner = opened.meta.uid();
    if owner != me && owner != 0 {
        let path = path.to_owned();
        return Err(UnsafePolicyFile::Foreign { path, owner, me });
    }
    check_dirs(&real_path(&opened), me)?;
    Ok(opened)
}

/// Refuses a policy file other users could have changed.
pub fn check_file_safety(path: &Path) -> Result<(), UnsafePolicyFile> {
    open_trusted(path).map(drop)
}

/// Where the opened file really is (symlinks resolved at open time).
fn real_path(opened: &Opened) -> PathBuf {
    let fd = opened.file.as_raw_fd();
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .or_else(|_| std::fs::canonicalize(&opened.path))
        .unwrap_or_else(|_| opened.path.clone())
}

/// Every ancestor of `file` must be owned by `me` or root, and not writable
/// by others unless sticky.
fn check_dirs(file: &Path, me: u32) -> Result<(), UnsafePolicyFile> {
    for dir in file.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let unsafe_dir = |why: String| UnsafePolicyFile::UnsafeDir {
            file: file.to_owned(),
            dir: dir.to_owned(),
            why,
        };
        if meta.uid() != me && meta.uid() != 0 {
            return Err(unsafe_dir(format!("is owned by uid {}", meta.uid())));
        }
        let sticky = meta.mode() & 0o1000 != 0;
        if meta.mode() & 0o022 != 0 && !sticky {
            let mode = meta.mode() & 0o7777;
            return Err(unsafe_dir(format!("others can write (mode {mode:o})")));
        }
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
