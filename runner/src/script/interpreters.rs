//! The interpreter components scripts run in, and where they are found.
//!
//! `$SCOPEHOLD_INTERPRETERS/<language>.wasm` when that variable is set, else
//! `<state dir>/interpreters/<language>.wasm` (installed there by
//! `interpreters/build.sh --install`, docs/scripts.md). An interpreter runs
//! with the agent's grants, so it is trusted like the runner binary: the
//! file and its directory must be owned by you (or root) and writable by no
//! one else, or it is refused; its digest is recorded in `exec.start` and a
//! pinned agent (`components`) runs only a pinned interpreter.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::input::{MAX_COMPONENT_BYTES, Opened};
pub use crate::policy::Language;
use crate::task_file::TaskFileError;

/// Overrides the interpreter directory (a share dir, a build output).
pub const DIR_VARIABLE: &str = "SCOPEHOLD_INTERPRETERS";

/// The interpreter's file name in its directory.
fn file_name(language: Language) -> String {
    format!("{}.wasm", language.as_str())
}

/// Why no interpreter could be loaded.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    #[error("no {language} interpreter: {} does not exist", .path.display())]
    Missing {
        language: &'static str,
        path: PathBuf,
    },
    #[error("{language} interpreter {}: {problem}", .path.display())]
    Unsafe {
        language: &'static str,
        path: PathBuf,
        problem: String,
    },
    #[error("{language} interpreter: {source}")]
    Unusable {
        language: &'static str,
        source: TaskFileError,
    },
}

impl InterpreterError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            InterpreterError::Missing { path, .. } => format!(
                "build and install the interpreters with `interpreters/build.sh --install {}` \
                 (docs/scripts.md), or set {DIR_VARIABLE} to a directory holding them",
                path.parent().unwrap_or(Path::new(".")).display()
            ),
            InterpreterError::Unsafe { .. } => "an interpreter runs with the agent's grants: \
                 keep it and its directory owned by you and writable by no one else (chmod \
                 go-w), or reinstall it with `interpreters/build.sh --install`"
                .into(),
            InterpreterError::Unusable { source, .. } => return source.hint(),
        })
    }
}

/// An interpreter component, read and checked.
pub struct Interpreter {
    pub path: PathBuf,
    pub wasm: Vec<u8>,
}

impl Interpreter {
    /// The interpreter for `language`, for a runner whose state dir is `home`.
    pub fn load(home: &Path, language: Language) -> Result<Interpreter, InterpreterError> {
        Interpreter::load_from(&dir_of(home), language)
    }

    /// Checks, reading only its 8-byte header, that the interpreter for
    /// `language` is there, safe to run and a component: what listing an
    /// MCP code tool needs when its agent pins no component (no digest to
    /// compare, so the 20 MB need not be read and hashed).
    pub fn check(home: &Path, language: Language) -> Result<(), InterpreterError> {
        Interpreter::check_in(&dir_of(home), language)
    }

    fn check_in(dir: &Path, language: Language) -> Result<(), InterpreterError> {
        let (path, opened) = open_checked(dir, language)?;
        let mut header = [0u8; 8];
        let read = std::os::unix::fs::FileExt::read_at(&opened.file, &mut header, 0);
        let read = read.map_err(|source| {
            let source = crate::input::InputError::Read {
                path: path.clone(),
                source,
            };
            unusable(language.as_str(), source.into())
        })?;
        crate::task_file::check(&path, &header[..read]).map_err(|e| unusable(language.as_str(), e))
    }

    /// The interpreter for `language` in `dir`.
    fn load_from(dir: &Path, language: Language) -> Result<Interpreter, InterpreterError> {
        let (path, opened) = open_checked(dir, language)?;
        let name = language.as_str();
        let wasm = opened.read_all().map_err(|e| unusable(name, e.into()))?;
        crate::task_file::check(&path, &wasm).map_err(|e| unusable(name, e))?;
        Ok(Interpreter { path, wasm })
    }
}

/// Where the interpreters are: `$SCOPEHOLD_INTERPRETERS`, else the state
/// dir's `interpreters`.
fn dir_of(home: &Path) -> PathBuf {
    match std::env::var_os(DIR_VARIABLE) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home.join("interpreters"),
    }
}

/// Opens the interpreter for `language` in `dir`, refusing one that is
/// missing or that someone else could have written (file or directory).
fn open_checked(dir: &Path, language: Language) -> Result<(PathBuf, Opened), InterpreterError> {
    let path = dir.join(file_name(language));
    let name = language.as_str();
    let opened = match Opened::open(&path, MAX_COMPONENT_BYTES) {
        Err(crate::input::InputError::Open { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(InterpreterError::Missing {
                language: name,
                path,
            });
        }
        other => other.map_err(|e| unusable(name, e.into()))?,
    };
    let unsafe_error = |problem: String| InterpreterError::Unsafe {
        language: name,
        path: path.clone(),
        problem,
    };
    check_owner(&opened.meta).map_err(|p| unsafe_error(format!("the file {p}")))?;
    let dir_meta = std::fs::metadata(dir).map_err(|e| unsafe_error(e.to_string()))?;
    check_owner(&dir_meta).map_err(|p| unsafe_error(format!("its directory {p}")))?;
    Ok((path, opened))
}

fn unusable(language: &'static str, source: TaskFileError) -> InterpreterError {
    InterpreterError::Unusable { language, source }
}

/// Owned by the user (or root) and writable by no one else.
fn check_owner(meta: &std::fs::Metadata) -> Result<(), String> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!("is owned by uid {}, not by you", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "is writable by group or others (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A component header: `\0asm`, version 0x0d, layer 1.
    const HEADER: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn an_interpreter_others_can_write_is_refused_and_a_missing_one_has_a_hint() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("interpreters");
        let missing = Interpreter::load_from(&dir, Language::Python)
            .err()
            .unwrap();
        assert!(matches!(missing, InterpreterError::Missing { .. }));
        assert!(
            missing
                .hint()
                .unwrap()
                .contains("interpreters/build.sh --install")
        );
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let file = dir.join("python.wasm");
        std::fs::write(&file, HEADER).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let loaded = Interpreter::load_from(&dir, Language::Python).ok().unwrap();
        assert_eq!(loaded.wasm, HEADER);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o622)).unwrap();
        let open = Interpreter::load_from(&dir, Language::Python)
            .err()
            .unwrap();
        assert!(
            open.to_string().contains("writable by group or others"),
            "{open}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let open = Interpreter::load_from(&dir, Language::Python)
            .err()
            .unwrap();
        assert!(open.to_string().contains("its directory"), "{open}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(&file, b"not wasm").unwrap();
        let bad = Interpreter::load_from(&dir, Language::Python)
            .err()
            .unwrap();
        assert!(matches!(bad, InterpreterError::Unusable { .. }), "{bad}");
    }

    #[test]
    fn the_header_check_agrees_with_a_load_without_reading_the_rest() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("interpreters");
        let missing = Interpreter::check_in(&dir, Language::Python).err().unwrap();
        assert!(matches!(missing, InterpreterError::Missing { .. }));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let file = dir.join("python.wasm");
        std::fs::write(&file, [HEADER, &[0xff; 64]].concat()).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        Interpreter::check_in(&dir, Language::Python).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o622)).unwrap();
        let open = Interpreter::check_in(&dir, Language::Python).err().unwrap();
        assert!(matches!(open, InterpreterError::Unsafe { .. }), "{open}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        for bad in [&b"\0asm\x01\0\0\0"[..], b"\0as", b"#!/bin/sh"] {
            std::fs::write(&file, bad).unwrap();
            let checked = Interpreter::check_in(&dir, Language::Python).err().unwrap();
            let loaded = Interpreter::load_from(&dir, Language::Python)
                .err()
                .unwrap();
            assert!(
                matches!(checked, InterpreterError::Unusable { .. }),
                "{checked}"
            );
            assert_eq!(checked.to_string(), loaded.to_string());
        }
    }
}
