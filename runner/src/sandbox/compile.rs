//! Compiling a component under fixed caps, before any run limit applies.
//!
//! `Component::new` works on untrusted bytes before a task's own limits
//! exist; a small component nested thousands of levels deep once took 20 s
//! and 7 GB there. Guarantees, for `exec`, `explain` (and, for the size,
//! `digest`, which reads but never compiles):
//! - at most [`MAX_COMPONENT_BYTES`] of component;
//! - nested components at most [`MAX_NESTING`] deep, and at most
//!   [`MAX_PARTS`] nested components and core modules in all, checked by a
//!   walk of the section headers that allocates nothing, before wasmtime
//!   sees the bytes;
//! - compilation stopped (the command fails, naming the cap) after
//!   [`COMPILE_TIMEOUT`].
//!
//! The caps are documented in docs/tasks-toml.md ("Size limits"). On a
//! terminal a spinner says what takes the time while it compiles.

use std::io::IsTerminal;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use wasmtime::Engine;
use wasmtime::component::Component;

pub use crate::input::MAX_COMPONENT_BYTES;

use super::LoadError;

/// Deepest nesting of components inside components (tools nest 1 to 3).
pub const MAX_NESTING: usize = 32;
/// Most nested components and core modules in one component.
pub const MAX_PARTS: usize = 1_000;
/// Longest a compilation may take (a large Python component takes well
/// under a minute on two cores).
pub const COMPILE_TIMEOUT: Duration = Duration::from_secs(120);

/// Component-model section ids that hold a whole module or component.
const CORE_MODULE_SECTION: u8 = 1;
const COMPONENT_SECTION: u8 = 4;

/// Checks the caps, then compiles `wasm` for `engine` within the time cap.
pub fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, LoadError> {
    check_shape(wasm)?;
    let (engine, bytes) = (engine.clone(), wasm.to_vec());
    let (done, result) = std::sync::mpsc::channel();
    // A compilation past the cap is abandoned; the command then fails and
    // the process ends, taking the thread with it.
    std::thread::spawn(move || {
        let _ = done.send(Component::new(&engine, &bytes));
    });
    let spinner = spinner(wasm.len());
    let compiled = result.recv_timeout(COMPILE_TIMEOUT);
    spinner.finish_and_clear();
    match compiled {
        Ok(compiled) => compiled.map_err(LoadError::Invalid),
        Err(RecvTimeoutError::Timeout) => Err(LoadError::TooCostly(format!(
            "compiling it took longer than {} s",
            COMPILE_TIMEOUT.as_secs()
        ))),
        // The compiler panicked (a wasmtime bug); its message is on stderr.
        Err(RecvTimeoutError::Disconnected) => Err(LoadError::Invalid(wasmtime::Error::msg(
            "the compiler stopped unexpectedly",
        ))),
    }
}

/// What a compilation that takes seconds (a Python or JavaScript component)
/// is doing, as a spinner on stderr; hidden unless stderr is a terminal, so
/// piped or logged output never holds it.
fn spinner(bytes: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        spinner.set_style(style);
    }
    let size = bytes as f64 / 1e6;
    spinner.set_message(format!("compiling the component ({size:.1} MB)"));
    // Drawn now, not at the first tick: a short compilation shows it too.
    spinner.tick();
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}

/// Refuses a component over the size, nesting or part caps. Malformed
/// bytes pass: wasmtime's validation names their problem better.
pub fn check_shape(wasm: &[u8]) -> Result<(), LoadError> {
    if wasm.len() as u64 > MAX_COMPONENT_BYTES {
        let why = format!("it is larger than {MAX_COMPONENT_BYTES} bytes");
        return Err(LoadError::TooCostly(why));
    }
    let mut parts = 0;
    walk(wasm, 0, &mut parts)
}

/// Walks the sections of one component at `depth`, descending into nested
/// components; the recursion is bounded by [`MAX_NESTING`].
fn walk(bytes: &[u8], depth: usize, parts: &mut usize) -> Result<(), LoadError> {
    if depth > MAX_NESTING {
        let why = format!("its components are nested more than {MAX_NESTING} deep");
        return Err(LoadError::TooCostly(why));
    }
    // `\0asm`, then version 0x0d and layer 1 for a component (a core module
    // has layer 0 and nests nothing).
    let Some(mut rest) = bytes.strip_prefix(b"\0asm\x0d\0\x01\0") else {
        return Ok(());
    };
    while let Some((&id, after)) = rest.split_first() {
        let Some((payload, next)) = section(after) else {
            return Ok(());
        };
        if id == CORE_MODULE_SECTION || id == COMPONENT_SECTION {
            *parts += 1;
            if *parts > MAX_PARTS {
                let why = format!("it holds more than {MAX_PARTS} nested components and modules");
                return Err(LoadError::TooCostly(why));
            }
        }
        if id == COMPONENT_SECTION {
            walk(payload, depth + 1, parts)?;
        }
        rest = next;
    }
    Ok(())
}

/// A section's payload (after its LEB128 u32 size) and what follows it.
fn section(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut size: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(5) {
        size |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let body = &bytes[i + 1..];
            let size = usize::try_from(size).ok()?;
            return (size <= body.len()).then(|| body.split_at(size));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component holding a component, `depth` levels deep, written
    /// outside in (each level's size is known from the one inside it).
    pub(crate) fn nested(depth: usize) -> Vec<u8> {
        const HEADER: &[u8] = b"\0asm\x0d\0\x01\0";
        let mut sizes = vec![HEADER.len()];
        for k in 0..depth {
            sizes.push(HEADER.len() + 1 + leb(sizes[k]).len() + sizes[k]);
        }
        let mut bytes = Vec::with_capacity(sizes[depth]);
        for k in (0..depth).rev() {
            bytes.extend_from_slice(HEADER);
            bytes.push(COMPONENT_SECTION);
            bytes.extend_from_slice(&leb(sizes[k]));
        }
        bytes.extend_from_slice(HEADER);
        bytes
    }

    fn leb(mut n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                return out;
            }
        }
    }

    #[test]
    fn nesting_is_capped_before_compiling() {
        assert!(check_shape(&nested(MAX_NESTING)).is_ok());
        let deep = check_shape(&nested(20_000)).unwrap_err();
        assert!(deep.to_string().contains("nested more than 32"), "{deep}");
        let engine = super::super::engine::engine().unwrap();
        let started = std::time::Instant::now();
        assert!(compile(&engine, &nested(20_000)).is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(compile(&engine, &nested(3)).is_ok());
    }

    #[test]
    fn malformed_bytes_are_left_to_wasmtime() {
        for bytes in [
            &b""[..],
            b"\0asm",
            b"\0asm\x0d\0\x01\0\x04\xff\xff\xff\xff\xff",
        ] {
            assert!(check_shape(bytes).is_ok());
        }
    }
}
