//! A cached artifact's code, copied into a sealed memory file before it is
//! checked, so the bytes wasmtime maps as machine code are exactly the bytes
//! whose checksum and tag were verified.
//!
//! Why not map the cache file itself: a mapping of a file sees later writes
//! to it, so a process able to write the artifact in place could change the
//! code between the check and its use. Why not read it into memory: wasmtime
//! then copies the code again into its own mapping and copies each memory's
//! initial image into yet another memory file, which for an interpreter
//! component (tens of MB) is most of a warm run's time.
//!
//! Guarantees:
//! - the code is copied (by the kernel, `sendfile`) into an anonymous memory
//!   file that only this process holds, which is then sealed against any
//!   write, growth or shrinking (`F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK
//!   | F_SEAL_SEAL`) before the first byte is hashed: from then on, no one,
//!   this process included, can change it;
//! - wasmtime loads the code from that sealed file (`deserialize_file`), so
//!   its code and its copy-on-write memory images are mappings of the checked
//!   bytes, not copies of them.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The artifact trailer's length (checksum and tag).
pub(super) const TRAILER_LEN: usize = 64;

/// An artifact's code in a sealed memory file, mapped read-only, and the
/// trailer that came with it.
pub(super) struct SealedCode {
    memfd: OwnedFd,
    map: *mut std::ffi::c_void,
    len: usize,
    trailer: [u8; TRAILER_LEN],
}

impl SealedCode {
    /// Copies `file`'s code (all but the trailer) into a new sealed memory
    /// file and reads the trailer. An error (a file shorter than a trailer,
    /// a failed copy) only costs the caller a compilation.
    pub(super) fn copy_from(file: &File) -> std::io::Result<SealedCode> {
        let total = file.metadata()?.len();
        let len = total
            .checked_sub(TRAILER_LEN as u64)
            .filter(|len| *len > 0)
            .ok_or_else(|| std::io::Error::other("shorter than its trailer"))?;
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
        let memfd = rustix::fs::memfd_create("scopehold-cached-code", flags)?;
        copy_range(file, &memfd, len)?;
        let seals = SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL;
        rustix::fs::fcntl_add_seals(&memfd, seals)?;
        let mut trailer = [0u8; TRAILER_LEN];
        read_exact_at(file, &mut trailer, len as u64)?;
        // SAFETY: a fresh read-only shared mapping of `len` bytes of a file
        // that holds exactly `len` bytes and can no longer shrink; it is
        // unmapped in `drop`, and no reference into it outlives `self`.
        let map = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED | MapFlags::POPULATE,
                &memfd,
                0,
            )?
        };
        Ok(SealedCode {
            memfd,
            map,
            len,
            trailer,
        })
    }

    /// The sealed code.
    pub(super) fn code(&self) -> &[u8] {
        // SAFETY: `map` is a live read-only mapping of `len` bytes (see
        // `copy_from`) of a sealed file: its contents never change.
        unsafe { std::slice::from_raw_parts(self.map.cast::<u8>(), self.len) }
    }

    /// The checksum and tag read after the code.
    pub(super) fn trailer(&self) -> (&[u8], &[u8]) {
        self.trailer.split_at(TRAILER_LEN / 2)
    }

    /// Loads the sealed code as a component.
    ///
    /// # Safety
    /// As [`Component::deserialize`]: the code must be trusted wasmtime
    /// output for `engine` (the caller has checked its checksum and tag).
    pub(super) unsafe fn deserialize(&self, engine: &Engine) -> wasmtime::Result<Component> {
        // wasmtime opens the path itself: our own descriptor of the sealed
        // file, through /proc (this process may always open its own fds).
        let path = format!("/proc/self/fd/{}", self.memfd.as_raw_fd());
        // SAFETY: the file is sealed against writes (module docs); the
        // caller vouches for its contents.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Ok(component),
            // No /proc (some containers), or memory files may not hold
            // code (`vm.memfd_noexec`): the same sealed bytes, copied.
            Err(_) => unsafe { Component::deserialize(engine, self.code()) },
        }
    }
}

impl Drop for SealedCode {
    fn drop(&mut self) {
        // SAFETY: `map` and `len` are the mapping made in `copy_from`, and
        // `code()`'s borrows of it ended with `self`'s.
        let _ = unsafe { rustix::mm::munmap(self.map, self.len) };
    }
}

/// Copies the first `len` bytes of `from` into `to` in the kernel.
fn copy_range(from: &File, to: &OwnedFd, len: usize) -> std::io::Result<()> {
    let mut offset = 0u64;
    while (offset as usize) < len {
        let left = len - offset as usize;
        let sent = rustix::fs::sendfile(to.as_fd(), from, Some(&mut offset), left)?;
        if sent == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn artifact(code: &[u8], trailer: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(code).unwrap();
        file.write_all(trailer).unwrap();
        file
    }

    #[test]
    fn the_code_and_trailer_are_split_and_the_copy_is_sealed() {
        let code = vec![7u8; 3 * 4096 + 5];
        let trailer: Vec<u8> = (0..TRAILER_LEN as u8).collect();
        let file = artifact(&code, &trailer);
        let sealed = SealedCode::copy_from(file.as_file()).unwrap();
        assert_eq!(sealed.code(), code);
        assert_eq!(sealed.trailer(), trailer.split_at(32));
        let seals = rustix::fs::fcntl_get_seals(&sealed.memfd).unwrap();
        assert!(seals.contains(SealFlags::WRITE | SealFlags::SHRINK | SealFlags::SEAL));
        // Not even a writer holding our own descriptor can change it.
        let path = format!("/proc/self/fd/{}", sealed.memfd.as_raw_fd());
        let opened = std::fs::OpenOptions::new().write(true).open(&path);
        let written = opened.and_then(|mut file| file.write_all(b"changed"));
        assert!(written.is_err(), "a sealed file took a write");
        // Nor does a change to the cache file reach the sealed copy.
        std::fs::write(file.path(), vec![9u8; code.len() + TRAILER_LEN]).unwrap();
        assert_eq!(sealed.code(), code);
    }

    #[test]
    fn a_file_no_longer_than_a_trailer_is_refused() {
        for len in [0, 1, TRAILER_LEN] {
            let file = artifact(&vec![1u8; len], &[]);
            assert!(SealedCode::copy_from(file.as_file()).is_err(), "{len}");
        }
    }
}
