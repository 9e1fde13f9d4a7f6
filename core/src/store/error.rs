//! Errors of the secret store.
//!
//! Messages name files, projects and secret names, never a value, a key or a
//! ciphertext. A wrong key file and a corrupted store deliberately produce the
//! same error, so a failure says nothing about which bytes were wrong.

use std::io;
use std::path::PathBuf;

use crate::names::{ProjectName, SecretName};

use super::kek::MIN_PASSPHRASE_LEN;
use super::passphrase::{NEW_PASSPHRASE_ENV, PASSPHRASE_ENV};
use super::{KEY_FILE, MAX_VALUE_LEN, STORE_FILE};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no secret store in {dir}")]
    NotInitialised { dir: PathBuf },
    #[error("{dir} is already initialised (found {found}); refusing to overwrite it")]
    AlreadyInitialised { dir: PathBuf, found: &'static str },
    #[error("the key file {path} is missing but the store file exists")]
    MissingKeyFile { path: PathBuf },
    #[error("the store file {path} is missing but the key file exists")]
    MissingStoreFile { path: PathBuf },
    #[error("the key file {path} is accessible to other users (mode {mode:o})")]
    KeyFilePermissions { path: PathBuf, mode: u32 },
    #[error("the key file {path} is {len} bytes long; a key file holds exactly 32 bytes")]
    KeyFileLength { path: PathBuf, len: u64 },
    #[error("the key file {path} is not a regular file")]
    KeyFileNotRegular { path: PathBuf },
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the store file {path} is malformed: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "the store file {path} has format version {found}; this runner reads version {supported}"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
    #[error("could not decrypt secret {project}/{name}: wrong key or corrupted store")]
    Undecryptable {
        project: ProjectName,
        name: SecretName,
    },
    #[error(
        "the store file {path} failed its integrity check: wrong key (key file or passphrase) \
         or corrupted store"
    )]
    Unauthenticated { path: PathBuf },
    #[error(
        "the store file {path} was rolled back: it is at generation {found}, but the audit log \
         recorded generation {recorded}"
    )]
    RolledBack {
        path: PathBuf,
        found: u64,
        recorded: u64,
    },
    #[error("cannot check the store for rollback: audit log {path}: {reason}")]
    AuditUnreadable { path: PathBuf, reason: String },
    #[error("refusing the store's key derivation settings: {0}")]
    KdfRefused(String),
    #[error("the store is protected by a passphrase, and none was given")]
    PassphraseRequired,
    #[error("the passphrase is shorter than {MIN_PASSPHRASE_LEN} bytes")]
    PassphraseTooShort,
    #[error("the two passphrases typed differ")]
    PassphraseMismatch,
    #[error("could not read the passphrase from the terminal: {0}")]
    ReadPassphrase(#[source] io::Error),
    #[error("could not disable core dumps: {0}")]
    CoreDumps(#[source] io::Error),
    #[error("secret {project}/{name} already exists")]
    AlreadyExists {
        project: ProjectName,
        name: SecretName,
    },
    #[error("no secret {project}/{name} in the store")]
    NotFound {
        project: ProjectName,
        name: SecretName,
    },
    #[error("the secret value is empty")]
    EmptyValue,
    #[error("the secret value is longer than {MAX_VALUE_LEN} bytes")]
    ValueTooLarge,
    #[error("could not read the secret value: {0}")]
    ReadValue(#[source] io::Error),
    #[error("the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),
    #[error("the store holds {0} versions of a secret; no further rotation is possible")]
    VersionExhausted(u32),
    #[error("encryption failed")]
    Encrypt,
    /// The change is in effect (the new file is in place) but a later step
    /// failed, e.g. syncing the directory or installing the new key file.
    #[error("the change took effect, but finishing it failed: {0}")]
    Unfinished(Box<StoreError>),
    #[error("the store was rekeyed by another command while this one ran")]
    RekeyedMeanwhile,
    /// `runner init` on a host without the key of the database's store.
    #[error("this host has no key file ({path}) for the store in the database")]
    NoKeyToJoin { path: PathBuf },
    /// An operation of the file store asked of a store held in a database.
    #[error("`runner {0}` is not supported with the PostgreSQL backend yet")]
    FileOnly(&'static str),
    /// The database holding the store document failed (message scrubbed of
    /// the URL's password by the backend).
    #[error("{message}")]
    Database {
        message: String,
        hint: Option<String>,
        /// Another writer changed the document first (nothing was changed).
        conflict: bool,
    },
}

impl StoreError {
    /// A one-line remedy for the user, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NotInitialised { .. } => Some("run `runner init`".into()),
            Self::AlreadyInitialised { .. } => Some(
                "the existing key and secrets are kept; use `runner secret set` to add secrets"
                    .into(),
            ),
            Self::MissingKeyFile { .. } => Some(format!(
                "restore the `{KEY_FILE}` file from a backup; without it the stored secrets \
                 cannot be decrypted"
            )),
            Self::MissingStoreFile { .. } => Some(format!(
                "restore `{STORE_FILE}` from a backup, or move the key file away and run \
                 `runner init` to start an empty store"
            )),
            Self::KeyFilePermissions { path, .. } => Some(format!("chmod 600 {}", path.display())),
            Self::KeyFileLength { .. } | Self::KeyFileNotRegular { .. } => {
                Some("restore the key file from a backup".into())
            }
            Self::Undecryptable { .. } | Self::Unauthenticated { .. } => Some(
                "check that the key file or passphrase belongs to this store; otherwise restore \
                 the store file and key file from a backup"
                    .into(),
            ),
            Self::RolledBack { .. } => Some(format!(
                "an older copy of {STORE_FILE} was put back (it may hold removed or replaced \
                 secrets); restore the newest copy from a backup, or, if this copy is the one \
                 you mean to use, run `runner accept-restore`"
            )),
            Self::AuditUnreadable { .. } => {
                Some("run `runner audit verify` to locate the damage".into())
            }
            Self::KdfRefused(_) => Some(
                "the store header asks for more key-derivation work than this runner allows; \
                 restore the store file from a backup"
                    .into(),
            ),
            Self::PassphraseRequired => Some(format!(
                "run from a terminal to be asked for it, or set {PASSPHRASE_ENV}"
            )),
            Self::PassphraseTooShort | Self::PassphraseMismatch => Some(format!(
                "choose a passphrase of at least {MIN_PASSPHRASE_LEN} bytes (or set \
                 {PASSPHRASE_ENV}; {NEW_PASSPHRASE_ENV} for `runner rekey`)"
            )),
            Self::Malformed { .. } => {
                Some("the file was left untouched; restore it from a backup".into())
            }
            Self::UnsupportedFormat { .. } => {
                Some("use the runner version that wrote this store".into())
            }
            Self::AlreadyExists { project, name } => Some(format!(
                "use `runner secret rotate {name} --project {project}` to replace its value"
            )),
            Self::NotFound { project, name } => Some(format!(
                "`runner secret list` shows the stored secrets; \
                 `runner secret set {name} --project {project}` adds one"
            )),
            Self::EmptyValue => Some(
                "pass the value on stdin, e.g. `runner secret set NAME --project P < file`".into(),
            ),
            Self::ValueTooLarge => Some("store a smaller value".into()),
            Self::VersionExhausted(_) => {
                Some("remove the secret with `runner secret rm` and set it again".into())
            }
            Self::Unfinished(_) => Some(
                "the change is in effect and the next command completes what is left; check the \
                 disk (e.g. `dmesg`) before relying on it"
                    .into(),
            ),
            Self::RekeyedMeanwhile => Some("nothing was changed; run the command again".into()),
            Self::NoKeyToJoin { path } => Some(format!(
                "copy the key file of a host that has joined to {} (mode 0600) and run \
                 `runner init` again; with a passphrase store, run `runner init --passphrase`",
                path.display()
            )),
            Self::FileOnly(_) => Some(
                "nothing was changed; see docs/postgres.md for what the PostgreSQL backend \
                 supports"
                    .into(),
            ),
            Self::Database { hint, .. } => hint.clone(),
            Self::Io { .. }
            | Self::ReadValue(_)
            | Self::ReadPassphrase(_)
            | Self::CoreDumps(_)
            | Self::Random(_)
            | Self::Encrypt => None,
        }
    }

    /// Whether the change was made although this error was returned: the
    /// caller must record it (audit) as a change that took effect.
    pub fn took_effect(&self) -> bool {
        matches!(self, Self::Unfinished(_))
    }

    /// `self` as an error after the change took effect (see `Unfinished`).
    pub(crate) fn unfinished(self) -> Self {
        match self {
            Self::Unfinished(_) => self,
            other => Self::Unfinished(Box::new(other)),
        }
    }

    /// Wraps an I/O error with what was being done and to which file.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
