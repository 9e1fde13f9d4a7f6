//! How the runner talks to its user: `error: ...` then `hint: ...` on stderr,
//! and tracing output filtered by `RUST_LOG` (default: warnings only).
//!
//! Standard output that cannot be written never panics: commands that stream
//! (`audit log`) return a [`StdoutError`], and [`guard_stdout`] turns the
//! panic of any other `println!` into the same error. A closed pipe
//! (`runner audit log | head -1`) ends the command quietly with status 0, as
//! ripgrep does; any other failure (a full disk) is an error with a hint.

use std::io::Write;

use tracing_subscriber::EnvFilter;

use crate::exit_code;

/// An error that has already decided the exit code (e.g. a refused task).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub message: String,
    pub hint: Option<String>,
}

// The terminal-safety check lives in the library: policy and operator
// names are checked with it too.
pub use scopehold_core::terminal::{escape_for_terminal, is_terminal_unsafe};

/// Standard output could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct StdoutError(#[source] pub std::io::Error);

impl StdoutError {
    pub fn hint(&self) -> Option<String> {
        Some(
            "is the disk full, or the output redirected to a file that cannot grow? \
             anything the command changed was done before it printed"
                .into(),
        )
    }

    /// A reader that went away (a closed pipe) is not an error.
    pub fn is_closed_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Flushes stdout (buffered output of `println!`).
pub fn flush_stdout() -> Result<(), StdoutError> {
    std::io::stdout().flush().map_err(StdoutError)
}

/// How the messages of a `println!` or `eprintln!` that failed begin.
const PRINT_PANICS: [&str; 2] = ["failed printing to stdout: ", "failed printing to stderr: "];

/// Runs `command`; a `println!` (or `eprintln!`) that cannot write becomes a
/// [`StdoutError`] instead of a panic message and backtrace. Other panics
/// are untouched.
pub fn guard_stdout<T>(command: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if print_failure(info.payload()).is_none() {
            default(info);
        }
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(command)) {
        Ok(result) => result,
        Err(payload) => match print_failure(payload.as_ref()) {
            Some(message) => Err(StdoutError(print_error_of(message)).into()),
            None => std::panic::resume_unwind(payload),
        },
    }
}

fn print_failure(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())?;
    PRINT_PANICS
        .iter()
        .any(|prefix| text.starts_with(prefix))
        .then(|| text.to_owned())
}

/// The I/O error a failed print stood for; only stdout's reader going away
/// counts as a closed pipe (a failed stderr must not end as success).
fn print_error_of(message: String) -> std::io::Error {
    let closed = message.starts_with(PRINT_PANICS[0]) && message.contains("Broken pipe");
    let kind = match closed {
        true => std::io::ErrorKind::BrokenPipe,
        false => std::io::ErrorKind::Other,
    };
    std::io::Error::new(kind, message)
}

/// Whether the error is only a reader that went away.
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<StdoutError>()
            .is_some_and(StdoutError::is_closed_pipe)
    })
}

pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints the error chain on one line, then the first hint any cause offers.
pub fn print_error(error: &anyhow::Error) {
    // `eprintln!` would panic on a closed or full stderr; there is nowhere
    // left to report that, so it is ignored.
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {}", error_message(error));
    if let Some(hint) = hint_for(error) {
        let _ = writeln!(stderr, "hint: {hint}");
    }
}

/// The error chain on one line, as `error:` prints it.
pub fn error_message(error: &anyhow::Error) -> String {
    let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
    dedup_chain(&chain).join(": ")
}

/// Drops causes whose text the previous message already contains, so
/// `context: cause` never prints the cause twice.
fn dedup_chain(chain: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for message in chain {
        if out
            .last()
            .is_none_or(|prev| !prev.contains(message.as_str()))
        {
            out.push(message);
        }
    }
    out
}

pub fn hint_for(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<Refused>() {
            return e.hint.clone();
        }
        if let Some(e) = cause.downcast_ref::<crate::serve::client::Relayed>() {
            return e.0.hint.clone();
        }
        if let Some(e) = cause.downcast_ref::<crate::policy::PolicyError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::policy::EditError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::policy::FileError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::store::StoreError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::state::StateError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::audit::AuditError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::home::HomeError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::state::PlaceError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::state::postgres::PgError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::policy::UnsafePolicyFile>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<StdoutError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::input::InputError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::sandbox::CacheError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::task_file::TaskFileError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::policy::DirError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::broker::StoreUnusable>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::broker::readiness::NotReady>() {
            return e.hint();
        }
        if let Some(hint) = crate::script::hint_for(cause) {
            return hint;
        }
        cause
            .downcast_ref::<crate::sandbox::LoadError>()
            .and_then(|e| e.hint())
    })
}

/// For `exec`: refusals before a task starts get their own code; everything
/// else is a runner error. (Other commands exit 1 on any error.)
pub fn exec_exit_code(error: &anyhow::Error) -> u8 {
    // A daemon's failure carries the code it decided.
    if let Some(relayed) = error.downcast_ref::<crate::serve::client::Relayed>() {
        return relayed.0.code;
    }
    let refused = error.chain().any(|cause| {
        cause.is::<Refused>()
            || cause.is::<crate::sandbox::LoadError>()
            || cause.is::<crate::task_file::TaskFileError>()
            || cause.is::<crate::script::ScriptError>()
            || cause.is::<crate::policy::DirError>()
            || cause.is::<crate::broker::readiness::NotReady>()
            || cause.is::<crate::policy::UnsafePolicyFile>()
            || matches!(
                cause.downcast_ref::<crate::policy::PolicyError>(),
                Some(
                    crate::policy::PolicyError::UnknownAgent { .. }
                        | crate::policy::PolicyError::Unsafe(_)
                )
            )
    });
    let audit_refused = error.chain().any(|cause| {
        cause
            .downcast_ref::<crate::audit::AuditError>()
            .is_some_and(|e| e.refuses_appends())
    });
    if audit_refused {
        exit_code::AUDIT_REFUSED
    } else if refused {
        exit_code::REFUSED
    } else {
        exit_code::RUNNER_ERROR
    }
}
