//! The compiled-code cache: Cranelift output kept in `<state dir>/cache` so a
//! repeat run of the same component skips compilation.
//!
//! Loading precompiled code is `unsafe` in wasmtime: the bytes become machine
//! code without validation, so whoever can write the cache can run code as
//! the user. The cache therefore guarantees:
//! - artifacts are read only from `<state dir>/cache`, a real directory owned
//!   by the user with mode 0700 (created so; anything else is refused);
//! - an artifact is used only if it is a regular file owned by the user and
//!   not writable by others; otherwise it is ignored with a warning;
//! - an artifact is named by the component's blake3 digest and the engine's
//!   compatibility hash, so a different component, wasmtime or configuration
//!   never finds it;
//! - each artifact ends with a blake3 checksum of its contents; a truncated or
//!   corrupted one fails the check and the component is compiled again;
//! - artifacts are written atomically: a fresh 0600 temporary file, fsynced,
//!   then renamed into place, so a reader never sees half of one.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// File names of artifacts end with this; `clear` removes nothing else.
const SUFFIX: &str = ".cwasm";
/// The trailing checksum: blake3 of everything before it.
const CHECKSUM_LEN: usize = 32;

/// Why the cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache dir {} is not a directory owned by you with mode 0700", .0.display())]
    Unsafe(PathBuf),
    #[error("cannot use cache dir {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CacheError {
    pub fn hint(&self) -> Option<String> {
        match self {
            CacheError::Unsafe(path) => Some(format!(
                "anyone who can write the cache can run code as you; remove it with \
                 `rm -r {}` (it is rebuilt on the next run)",
                path.display()
            )),
            CacheError::Io { .. } => None,
        }
    }
}

/// The checked cache directory of one state dir.
pub struct CodeCache {
    dir: PathBuf,
}

impl CodeCache {
    /// Opens (creating with mode 0700 if missing) `<home>/cache`, refusing a
    /// symlink, a directory owned by someone else, or one others can access.
    pub fn open(home: &Path) -> Result<CodeCache, CacheError> {
        let dir = home.join("cache");
        let io = |source| CacheError::Io {
            path: dir.clone(),
            source,
        };
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(io(error)),
        }
        let meta = fs::symlink_metadata(&dir).map_err(io)?;
        let private = meta.permissions().mode() & 0o077 == 0;
        if !meta.is_dir() || meta.uid() != current_uid() || !private {
            return Err(CacheError::Unsafe(dir));
        }
        Ok(CodeCache { dir })
    }

    /// The cached compilation of `wasm` for `engine`, if a sound one exists.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> Option<Component> {
        let path = self.path_for(engine, wasm);
        let meta = fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.uid() != current_uid() || meta.permissions().mode() & 0o022 != 0
        {
            tracing::warn!(path = %path.display(), "ignoring a cached artifact others could have written");
            eprintln!(
                "scopehold: warning: ignoring cached code {}: not a file only you can write",
                path.display()
            );
            return None;
        }
        let bytes = fs::read(&path).ok()?;
        let Some(code) = checked(&bytes) else {
            tracing::warn!(path = %path.display(), "cached artifact failed its checksum; recompiling");
            return None;
        };
        // SAFETY: `code` was read from a file in the owner-only cache dir
        // (checked in `open`), itself owned by the user and not writable by
        // others, and it matches the checksum written with it. Only this
        // program writes there, from `Component::serialize` of the same
        // engine configuration (the file name carries the engine's
        // compatibility hash, and wasmtime checks it again).
        match unsafe { Component::deserialize(engine, code) } {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "compiled-code cache hit");
                Some(component)
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), "cached artifact rejected ({error:#}); recompiling");
                None
            }
        }
    }

    /// Saves `component` (compiled from `wasm`); failures only cost the next
    /// run a compilation, so they are logged, not returned.
    pub fn store(&self, engine: &Engine, wasm: &[u8], component: &Component) {
        let path = self.path_for(engine, wasm);
        let result = component
            .serialize()
            .map_err(std::io::Error::other)
            .and_then(|code| write_atomically(&self.dir, &path, &code));
        match result {
            Ok(()) => tracing::debug!(path = %path.display(), "compiled code cached"),
            Err(error) => {
                tracing::warn!(path = %path.display(), "cannot cache compiled code: {error}")
            }
        }
    }

    /// Removes every artifact (and leftover temporary file); returns how many.
    pub fn clear(&self) -> Result<usize, CacheError> {
        let io = |source| CacheError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(SUFFIX) || name.starts_with(".tmp-") {
                fs::remove_file(entry.path()).map_err(io)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// `<blake3 of the component>-<engine compatibility hash>.cwasm`
    fn path_for(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut hasher = Blake3Hasher(blake3::Hasher::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hasher.0.finalize().to_hex();
        let component = blake3::hash(wasm).to_hex();
        self.dir
            .join(format!("{component}-{}{SUFFIX}", &engine_hash[..32]))
    }
}

/// The artifact without its trailing checksum, if the checksum matches.
fn checked(bytes: &[u8]) -> Option<&[u8]> {
    let split = bytes.len().checked_sub(CHECKSUM_LEN)?;
    let (code, sum) = bytes.split_at(split);
    (blake3::hash(code).as_bytes() == sum).then_some(code)
}

/// Writes `code` plus its checksum to a new 0600 file, syncs it, and renames
/// it to `path`.
fn write_atomically(dir: &Path, path: &Path, code: &[u8]) -> std::io::Result<()> {
    let temp = dir.join(format!(".tmp-{}-{}", std::process::id(), nonce()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(code)?;
        file.write_all(blake3::hash(code).as_bytes())?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn nonce() -> u64 {
    let mut bytes = [0u8; 8];
    // A clash only makes create_new fail, and the artifact is not cached.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Feeds wasmtime's `Hash` of the engine into blake3, giving a hash that is
/// the same in every process (std's hasher is not guaranteed to be).
struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let hash = self.0.finalize();
        u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"))
    }
}
