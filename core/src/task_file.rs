//! The task file `exec`, `explain` and `digest` are given: read through one
//! handle within [`MAX_COMPONENT_BYTES`], then recognised by its header as a
//! component, a core module or not WebAssembly at all, so the error says
//! which and how to fix it before anything is compiled.

use std::path::{Path, PathBuf};

use crate::input::{InputError, MAX_COMPONENT_BYTES};

const MAGIC: &[u8; 4] = b"\0asm";
/// Core modules: version 1, layer 0.
const CORE_MODULE: [u8; 4] = [1, 0, 0, 0];
/// Bytes 6..8 of a component header: layer 1 (bytes 4..6 are its version).
const COMPONENT_LAYER: [u8; 2] = [1, 0];

const BUILD_HINT: &str = "build the task with `cargo build --release --target wasm32-wasip2`";

/// Why the task file is not a component this runner can load.
#[derive(Debug, thiserror::Error)]
pub enum TaskFileError {
    #[error("cannot read task: {0}")]
    Unreadable(#[from] InputError),
    #[error("{} is not a WebAssembly file (it does not begin with `\\0asm`)", .0.display())]
    NotWasm(PathBuf),
    #[error("{} is not a component: it is a core WebAssembly module", .0.display())]
    CoreModule(PathBuf),
    #[error("{} is WebAssembly of an unknown kind (header {header})", .path.display())]
    UnknownKind { path: PathBuf, header: String },
}

impl TaskFileError {
    pub fn hint(&self) -> Option<String> {
        match self {
            TaskFileError::Unreadable(error) => error.hint().or_else(|| Some(BUILD_HINT.into())),
            TaskFileError::NotWasm(_) | TaskFileError::UnknownKind { .. } => Some(format!(
                "a task is a WASI 0.2 command component (.wasm); {BUILD_HINT}"
            )),
            TaskFileError::CoreModule(_) => Some(
                "not a component: build for wasm32-wasip2 (`cargo build --release --target \
                 wasm32-wasip2`) or run `wasm-tools component new MODULE.wasm -o TASK.wasm` \
                 (with a WASI adapter for a wasm32-wasip1 module)"
                    .into(),
            ),
        }
    }

    /// Short code for the `exec.refused` record.
    pub fn reason(&self) -> &'static str {
        match self {
            TaskFileError::Unreadable(_) => "unreadable",
            TaskFileError::NotWasm(_) => "not-wasm",
            TaskFileError::CoreModule(_) => "core-module",
            TaskFileError::UnknownKind { .. } => "unknown-wasm",
        }
    }
}

/// Reads the task file and checks that it is a component.
pub fn read(path: &Path) -> Result<Vec<u8>, TaskFileError> {
    let wasm = crate::input::read_regular(path, MAX_COMPONENT_BYTES)?;
    check(path, &wasm)?;
    Ok(wasm)
}

/// Checks the header only; wasmtime validates the rest when compiling.
pub fn check(path: &Path, wasm: &[u8]) -> Result<(), TaskFileError> {
    let (Some(magic), Some(version)) = (wasm.get(..4), wasm.get(4..8)) else {
        return Err(TaskFileError::NotWasm(path.to_owned()));
    };
    if magic != MAGIC {
        return Err(TaskFileError::NotWasm(path.to_owned()));
    }
    if version == CORE_MODULE {
        return Err(TaskFileError::CoreModule(path.to_owned()));
    }
    if version[2..] != COMPONENT_LAYER {
        let header = version.iter().map(|b| format!("{b:02x}")).collect();
        return Err(TaskFileError::UnknownKind {
            path: path.to_owned(),
            header,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        let path = Path::new("t.wasm");
        assert!(check(path, b"\0asm\x0d\0\x01\0rest").is_ok());
        let core = check(path, b"\0asm\x01\0\0\0").unwrap_err();
        assert_eq!(core.reason(), "core-module");
        assert!(core.hint().unwrap().contains("wasm-tools component new"));
        for text in [&b""[..], b"\0as", b"hello world", b"\x7fELF\x02\x01\x01\0"] {
            assert_eq!(check(path, text).unwrap_err().reason(), "not-wasm");
        }
        assert_eq!(
            check(path, b"\0asm\x01\0\x02\0").unwrap_err().reason(),
            "unknown-wasm"
        );
    }
}
