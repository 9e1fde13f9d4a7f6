//! The compiled-code cache: Cranelift output kept in `<state dir>/cache` so a
//! repeat run of the same component skips compilation.
//!
//! Loading precompiled code is `unsafe` in wasmtime: the bytes become machine
//! code without validation, so whoever can write the cache can run code as
//! the user. The cache therefore guarantees:
//! - artifacts are read only from `<state dir>/cache`, a real directory owned
//!   by the user with mode 0700 (created so; anything else is refused);
//! - an artifact is used only if it is a regular file (opened without
//!   following a symlink) owned by the user and not writable by others;
//!   otherwise it is ignored with a warning;
//! - an artifact is named by the component's blake3 digest and the engine's
//!   compatibility hash, so a different component, wasmtime or configuration
//!   never finds it;
//! - each artifact ends with a blake3 checksum of its code (damage) and a tag:
//!   a MAC, keyed by a subkey of the store key, over the component digest,
//!   the engine hash and that checksum. With [`Trust::Keyed`] (runs of an
//!   agent that is pinned or holds grants) only an artifact with a valid tag
//!   is loaded, so an artifact compiled from another component, or written by
//!   anyone without the store key, is never run as such an agent: it is
//!   compiled again with a warning. With [`Trust::Checksum`] (agents that
//!   hold nothing) the tag is not checked: their warm path never opens the
//!   store;
//! - the checks run on a sealed private copy of the artifact's code, the
//!   copy wasmtime then maps (`sealed_code.rs`): what runs is what was
//!   checked, whatever is written to the cache file meanwhile;
//! - artifacts are written atomically: a fresh 0600 temporary file, fsynced,
//!   then renamed into place, so a reader never sees half of one.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretBox};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::sealed_code::{SealedCode, TRAILER_LEN};
use crate::policy::ComponentDigest;

/// File names of artifacts end with this; `clear` removes nothing else.
const SUFFIX: &str = ".cwasm";
/// The trailer: blake3 of the code, then the tag (zeros when unkeyed).
const TAG_LEN: usize = TRAILER_LEN / 2;
/// `Store::derive_subkey` context of the artifact MAC key.
const CACHE_CONTEXT: &str = "scopehold compiled-code cache v1";
/// Domain separation for the tag's input.
const TAG_DOMAIN: &[u8] = b"scopehold cache artifact v1\0";

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

/// The key that authenticates artifacts, derived from the store key.
pub struct CacheKey(SecretBox<[u8; 32]>);

impl CacheKey {
    pub fn from_store(store: &crate::store::Store) -> CacheKey {
        CacheKey(store.derive_subkey(CACHE_CONTEXT))
    }
}

/// How much an artifact must prove before wasmtime is handed it.
pub enum Trust {
    /// Its checksum only: catches damage, not a state-dir writer.
    Checksum,
    /// Its tag under the store-derived key as well.
    Keyed(CacheKey),
}

/// What an artifact is the compilation of: a component, for an engine.
struct ArtifactId {
    component: blake3::Hash,
    /// The first 32 hex digits of blake3 over the engine's compatibility hash.
    engine: String,
}

impl ArtifactId {
    fn new(engine: &Engine, digest: &ComponentDigest) -> ArtifactId {
        let mut hasher = Blake3Hasher(blake3::Hasher::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine = hasher.0.finalize().to_hex()[..32].to_owned();
        ArtifactId {
            component: digest.0,
            engine,
        }
    }

    fn file_name(&self) -> String {
        format!("{}-{}{SUFFIX}", self.component.to_hex(), self.engine)
    }

    /// The MAC binding `checksum` (of the code) to this component and engine.
    fn tag(&self, key: &CacheKey, checksum: &[u8]) -> blake3::Hash {
        let mut mac = blake3::Hasher::new_keyed(key.0.expose_secret());
        mac.update(TAG_DOMAIN);
        mac.update(self.component.as_bytes());
        mac.update(self.engine.as_bytes());
        mac.update(checksum);
        mac.finalize()
    }
}

/// The checked cache directory of one state dir, and the trust its loads need.
pub struct CodeCache {
    dir: PathBuf,
    trust: Trust,
}

impl CodeCache {
    /// Opens (creating with mode 0700 if missing) `<home>/cache`, refusing a
    /// symlink, a directory owned by someone else, or one others can access.
    /// Loads check checksums only until [`CodeCache::keyed`] is called.
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
        Ok(CodeCache {
            dir,
            trust: Trust::Checksum,
        })
    }

    /// From now on, loads accept only artifacts authenticated with `key`,
    /// and stores tag what they write with it.
    pub fn keyed(self, key: CacheKey) -> CodeCache {
        CodeCache {
            trust: Trust::Keyed(key),
            ..self
        }
    }

    /// The cached compilation of the component with `digest` for `engine`,
    /// if a sound one exists.
    pub fn load(&self, engine: &Engine, digest: &ComponentDigest) -> Option<Component> {
        let id = ArtifactId::new(engine, digest);
        let path = self.dir.join(id.file_name());
        let sealed = match SealedCode::copy_from(&open_artifact(&path)?) {
            Ok(sealed) => sealed,
            Err(error) => {
                tracing::warn!(path = %path.display(), "cannot read cached artifact ({error}); recompiling");
                return None;
            }
        };
        self.verified(&id, &path, &sealed)?;
        // SAFETY: the code was copied from a regular file in the owner-only
        // cache dir (checked in `open`), itself owned by the user and not
        // writable by others, into a sealed memory file no one can change,
        // and it matches the checksum written with it; for agents that are
        // pinned or hold grants, also its MAC under a key only the store
        // holder has, bound to this component's digest and this engine. Only
        // this program writes there, from `Component::serialize` of the same
        // engine configuration (wasmtime checks the header too).
        match unsafe { sealed.deserialize(engine) } {
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

    /// Whether the sealed artifact passes the checks `self.trust` asks for.
    fn verified(&self, id: &ArtifactId, path: &Path, sealed: &SealedCode) -> Option<()> {
        let (checksum, tag) = sealed.trailer();
        if blake3::hash(sealed.code()).as_bytes() != checksum {
            tracing::warn!(path = %path.display(), "cached artifact failed its checksum; recompiling");
            return None;
        }
        let Trust::Keyed(key) = &self.trust else {
            return Some(());
        };
        if tag == [0; TAG_LEN] {
            tracing::debug!(path = %path.display(), "cached artifact is not authenticated; recompiling");
            return None;
        }
        // blake3::Hash compares in constant time.
        let found = <[u8; TAG_LEN]>::try_from(tag).map(blake3::Hash::from_bytes);
        if found.ok() != Some(id.tag(key, checksum)) {
            tracing::warn!(path = %path.display(), "cached artifact failed its MAC; recompiling");
            eprintln!(
                "scopehold: warning: ignoring cached code {}: it was not compiled by this \
                 runner from this component (MAC mismatch); compiling it again",
                path.display()
            );
            return None;
        }
        Some(())
    }

    /// Saves `component` (compiled from the component with `digest`); failures only cost the next
    /// run a compilation, so they are logged, not returned.
    pub fn store(&self, engine: &Engine, digest: &ComponentDigest, component: &Component) {
        let id = ArtifactId::new(engine, digest);
        let path = self.dir.join(id.file_name());
        let result = component
            .serialize()
            .map_err(std::io::Error::other)
            .and_then(|code| {
                let checksum = blake3::hash(&code);
                let tag = match &self.trust {
                    Trust::Keyed(key) => *id.tag(key, checksum.as_bytes()).as_bytes(),
                    Trust::Checksum => [0; TAG_LEN],
                };
                let trailer = [checksum.as_bytes().as_slice(), &tag].concat();
                write_atomically(&self.dir, &path, &code, &trailer)
            });
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
}

/// Opens the artifact at `path` if it is a regular file, not a symlink,
/// owned by the user and not writable by others (checked on the opened file).
fn open_artifact(path: &Path) -> Option<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path);
    let meta = file.as_ref().ok()?.metadata().ok();
    let sound = meta.as_ref().is_some_and(|meta| {
        meta.is_file() && meta.uid() == current_uid() && meta.permissions().mode() & 0o022 == 0
    });
    let exists = file.is_ok() || fs::symlink_metadata(path).is_ok();
    if !sound {
        if exists {
            tracing::warn!(path = %path.display(), "ignoring a cached artifact others could have written");
            eprintln!(
                "scopehold: warning: ignoring cached code {}: not a file only you can write",
                path.display()
            );
        }
        return None;
    }
    file.ok()
}

/// Writes `code` plus its trailer to a new 0600 file, syncs it, and renames
/// it to `path`.
fn write_atomically(dir: &Path, path: &Path, code: &[u8], trailer: &[u8]) -> std::io::Result<()> {
    let temp = dir.join(format!(".tmp-{}-{}", std::process::id(), nonce()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(code)?;
        file.write_all(trailer)?;
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
