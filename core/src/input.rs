//! Reading a file the user names: tasks.toml, a task component, an anchor.
//!
//! Guarantees:
//! - The file is opened once, without blocking (`O_NONBLOCK`: opening a FIFO
//!   never waits for a writer), and every check is made on the opened handle
//!   (`fstat`), so swapping the path between check and read changes nothing.
//! - Only a regular file is read: a FIFO, a device (`/dev/zero`), a directory
//!   or a socket is refused at once, naming what it is.
//! - A file larger than its cap is refused before anything is read; one that
//!   grows while being read is cut at the cap plus one byte and refused.
//!
//! The caps are documented in docs/tasks-toml.md ("Size limits").

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Largest tasks.toml accepted (4 MiB: thousands of agents).
pub(crate) const MAX_POLICY_BYTES: u64 = 4 << 20;
/// Largest task component accepted (128 MiB; a Python component is ~40 MiB).
pub const MAX_COMPONENT_BYTES: u64 = 128 << 20;
/// Largest anchor file accepted (a checkpoint line is a few hundred bytes).
pub const MAX_ANCHOR_BYTES: u64 = 64 << 10;

/// Why a named file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot open {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is {kind}, not a regular file", .path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is larger than the {max}-byte limit", .path.display())]
    TooLarge { path: PathBuf, max: u64 },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl InputError {
    pub fn hint(&self) -> Option<String> {
        match self {
            InputError::NotRegular { .. } => {
                Some("name a regular file (pipes, devices and directories are refused)".into())
            }
            InputError::TooLarge { max, .. } => Some(format!(
                "the limit is a fixed {max} bytes: check that this is the file you meant \
                 (docs/tasks-toml.md, \"Size limits\")"
            )),
            InputError::Open { .. } | InputError::Read { .. } => None,
        }
    }
}

/// A regular file opened for reading, with the metadata of that handle.
pub struct Opened {
    pub file: File,
    pub meta: Metadata,
    pub path: PathBuf,
    max: u64,
}

impl Opened {
    /// Opens `path` without blocking and refuses anything but a regular file
    /// of at most `max` bytes.
    pub fn open(path: &Path, max: u64) -> Result<Opened, InputError> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
            .map_err(|source| InputError::Open {
                path: path.to_owned(),
                source,
            })?;
        let meta = file.metadata().map_err(|source| InputError::Read {
            path: path.to_owned(),
            source,
        })?;
        if let Some(kind) = not_regular(&meta) {
            let path = path.to_owned();
            return Err(InputError::NotRegular { path, kind });
        }
        if meta.len() > max {
            let path = path.to_owned();
            return Err(InputError::TooLarge { path, max });
        }
        let path = path.to_owned();
        Ok(Opened {
            file,
            meta,
            path,
            max,
        })
    }

    /// Reads the whole file, refusing it if it grew past its cap.
    pub fn read_all(self) -> Result<Vec<u8>, InputError> {
        let mut bytes = Vec::with_capacity(usize::try_from(self.meta.len()).unwrap_or(0));
        let read = (&self.file)
            .take(self.max.saturating_add(1))
            .read_to_end(&mut bytes);
        read.map_err(|source| InputError::Read {
            path: self.path.clone(),
            source,
        })?;
        if bytes.len() as u64 > self.max {
            return Err(InputError::TooLarge {
                path: self.path,
                max: self.max,
            });
        }
        Ok(bytes)
    }
}

/// [`Opened::open`] then [`Opened::read_all`].
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, InputError> {
    Opened::open(path, max)?.read_all()
}

fn not_regular(meta: &Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    match () {
        _ if kind.is_file() => None,
        _ if kind.is_dir() => Some("a directory"),
        _ if kind.is_fifo() => Some("a pipe (FIFO)"),
        _ if kind.is_char_device() || kind.is_block_device() => Some("a device"),
        _ if kind.is_socket() => Some("a socket"),
        _ => Some("not a file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_directories_and_oversized_files() {
        let dir = tempfile::tempdir().unwrap();
        let zero = read_regular(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(
            matches!(
                zero,
                InputError::NotRegular {
                    kind: "a device",
                    ..
                }
            ),
            "{zero}"
        );
        let d = read_regular(dir.path(), 10).unwrap_err();
        assert!(
            matches!(
                d,
                InputError::NotRegular {
                    kind: "a directory",
                    ..
                }
            ),
            "{d}"
        );
        let file = dir.path().join("f");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_regular(&file, 10).unwrap(), b"0123456789");
        let big = read_regular(&file, 9).unwrap_err();
        assert!(matches!(big, InputError::TooLarge { max: 9, .. }), "{big}");
        assert!(big.hint().unwrap().contains("9 bytes"));
    }
}
