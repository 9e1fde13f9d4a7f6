//! Where ScopeHold keeps its state, and who may touch it.
//!
//! The state dir holds the encrypted store, its key file and the audit log. It
//! is located from `--home`, else `$SCOPEHOLD_HOME`, else
//! `$XDG_DATA_HOME/scopehold`, else `~/.local/share/scopehold`. It is created
//! with mode 0700, and a state dir that other users can read, write or enter is
//! refused: the key file inside it is the root of everything. So is a state
//! dir, or a key file in it, owned by another user (as ssh refuses a `~/.ssh`
//! it does not own): whoever owns them can change them. With the dir private
//! and ours, nobody else can swap the key file after this check.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variable naming the state dir.
pub(crate) const HOME_ENV: &str = "SCOPEHOLD_HOME";
/// Environment variable naming the policy file.
pub(crate) const CONFIG_ENV: &str = "SCOPEHOLD_CONFIG";
/// Policy file used when neither `--config` nor `$SCOPEHOLD_CONFIG` is given.
pub(crate) const DEFAULT_CONFIG: &str = "tasks.toml";

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error(
        "cannot find a state dir: none of --home, $SCOPEHOLD_HOME, $XDG_DATA_HOME or $HOME is set"
    )]
    Unlocatable,
    #[error("state dir {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("state dir {} is already initialised", .0.display())]
    AlreadyInitialised(PathBuf),
    /// `init` into a directory holding other files (no ScopeHold state).
    #[error("{} is not empty and holds no ScopeHold state: not a state dir to initialise", .0.display())]
    NotAStateDir(PathBuf),
    #[error("state dir {} is accessible to other users (mode {mode:o})", .path.display())]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{} is owned by uid {owner}, not by this user (uid {me})", .path.display())]
    Foreign { path: PathBuf, owner: u32, me: u32 },
    #[error("cannot access state dir {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl HomeError {
    pub fn hint(&self) -> Option<String> {
        match self {
            HomeError::Unlocatable => Some("pass --home DIR or set SCOPEHOLD_HOME".into()),
            HomeError::Missing(path) => {
                Some(format!("run `runner --home {} init` first", path.display()))
            }
            HomeError::AlreadyInitialised(_) => {
                Some("nothing was changed; to start over, use a new --home".into())
            }
            HomeError::TooOpen { path, .. } => Some(format!("chmod 700 {}", path.display())),
            HomeError::Foreign { path, .. } => Some(format!(
                "use a state dir of your own, or, if it is yours, `chown -R $(id -u) {}`",
                path.display()
            )),
            HomeError::NotADirectory(path) => Some(format!(
                "--home names the state dir, a directory (created if missing), and this is a \
                 file: pass another path, e.g. `runner --home {}.d init`",
                path.display()
            )),
            HomeError::NotAStateDir(path) => Some(format!(
                "nothing was changed; `init` creates a state dir in a new or empty directory, \
                 e.g. `runner --home {} init`",
                path.join("scopehold").display()
            )),
            HomeError::Io { .. } => None,
        }
    }
}

/// Picks the state dir from the flag, the environment or the XDG default.
pub fn locate(flag: Option<&Path>) -> Result<PathBuf, HomeError> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = var(HOME_ENV) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(data) = var("XDG_DATA_HOME") {
        return Ok(PathBuf::from(data).join("scopehold"));
    }
    let home = var("HOME").ok_or(HomeError::Unlocatable)?;
    Ok(PathBuf::from(home).join(".local/share/scopehold"))
}

/// Picks the policy file from the flag, the environment or `./tasks.toml`.
pub fn locate_config(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os(CONFIG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

/// Creates the state dir with mode 0700. An existing empty dir is accepted if
/// it is private; one that already holds files is refused, so `init` can never
/// overwrite a key or a store (and one holding other files is called what it
/// is, not an initialised state dir).
pub fn create(dir: &Path) -> Result<(), HomeError> {
    let io = |source| HomeError::Io {
        path: dir.to_path_buf(),
        source,
    };
    if fs::metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
        return Err(HomeError::NotADirectory(dir.to_path_buf()));
    }
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(source) => return Err(io(source)),
    }
    let names: Vec<_> = fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|entry| entry.ok().map(|e| e.file_name()))
        .collect();
    if !names.is_empty() && !names.iter().any(|name| is_state_file(name)) {
        return Err(HomeError::NotAStateDir(dir.to_path_buf()));
    }
    check_private(dir)?;
    match names.is_empty() {
        true => Ok(()),
        false => Err(HomeError::AlreadyInitialised(dir.to_path_buf())),
    }
}

/// A file only ScopeHold puts in a state dir.
fn is_state_file(name: &std::ffi::OsStr) -> bool {
    use crate::audit::{AUDIT_FILE, CHECKPOINT_FILE};
    use crate::store::{KEY_FILE, LOCK_FILE, STORE_FILE};
    let name = name.to_string_lossy();
    [STORE_FILE, KEY_FILE, LOCK_FILE, AUDIT_FILE, CHECKPOINT_FILE].contains(&name.as_ref())
        || name.starts_with("audit.") // sealed segments, temp checkpoints
        || name.starts_with(&format!(".{STORE_FILE}."))
}

/// Checks that an existing state dir is a private directory.
pub fn open(dir: &Path) -> Result<(), HomeError> {
    match fs::metadata(dir) {
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
            Err(HomeError::Missing(dir.to_path_buf()))
        }
        Err(source) => Err(HomeError::Io {
            path: dir.to_path_buf(),
            source,
        }),
        Ok(_) => check_private(dir),
    }
}

fn check_private(dir: &Path) -> Result<(), HomeError> {
    let meta = fs::metadata(dir).map_err(|source| HomeError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(HomeError::NotADirectory(dir.to_path_buf()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(HomeError::TooOpen {
            path: dir.to_path_buf(),
            mode,
        });
    }
    check_owner(dir, &meta)?;
    match fs::symlink_metadata(dir.join(crate::store::KEY_FILE)) {
        Ok(key) => check_owner(&dir.join(crate::store::KEY_FILE), &key),
        Err(_) => Ok(()),
    }
}

/// Refuses a file or directory owned by someone other than the user
/// running the runner.
fn check_owner(path: &Path, meta: &fs::Metadata) -> Result<(), HomeError> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        let (path, owner) = (path.to_path_buf(), meta.uid());
        return Err(HomeError::Foreign { path, owner, me });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_makes_a_private_dir_and_refuses_a_used_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        create(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        fs::write(dir.join("key"), b"x").unwrap();
        assert!(matches!(
            create(&dir),
            Err(HomeError::AlreadyInitialised(_))
        ));
        open(&dir).unwrap();
    }

    #[test]
    fn open_refuses_a_dir_others_can_read() {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let err = open(tmp.path()).unwrap_err();
        assert!(err.hint().unwrap().starts_with("chmod 700"), "{err}");
        assert!(matches!(
            open(&tmp.path().join("nope")),
            Err(HomeError::Missing(_))
        ));
    }

    #[test]
    fn a_dir_or_key_file_owned_by_another_user_is_refused() {
        // Only root can give a file away; elsewhere this cannot be set up.
        if rustix::process::geteuid().as_raw() != 0 {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let key = tmp.path().join(crate::store::KEY_FILE);
        fs::write(&key, b"k").unwrap();
        std::os::unix::fs::chown(&key, Some(65534), None).unwrap();
        let err = open(tmp.path()).unwrap_err();
        assert!(
            matches!(err, HomeError::Foreign { owner: 65534, .. }),
            "{err}"
        );
        fs::remove_file(&key).unwrap();
        open(tmp.path()).unwrap();
        std::os::unix::fs::chown(tmp.path(), Some(65534), None).unwrap();
        let err = open(tmp.path()).unwrap_err();
        assert!(err.hint().unwrap().contains("chown"), "{err}");
    }

    #[test]
    fn flag_wins_over_environment() {
        let flag = Path::new("/tmp/flag-home");
        assert_eq!(locate(Some(flag)).unwrap(), flag);
    }
}
