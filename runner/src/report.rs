//! How the runner talks to its user: `error: ...` then `hint: ...` on stderr,
//! and tracing output filtered by `RUST_LOG` (default: warnings only).

use tracing_subscriber::EnvFilter;

use crate::exit_code;

/// An error that has already decided the exit code (e.g. a refused task).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub message: String,
    pub hint: Option<String>,
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
    let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
    eprintln!("error: {}", dedup_chain(&chain).join(": "));
    if let Some(hint) = hint_for(error) {
        eprintln!("hint: {hint}");
    }
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
        if let Some(e) = cause.downcast_ref::<crate::audit::AuditError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::home::HomeError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::policy::UnsafePolicyFile>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::sandbox::CacheError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::sandbox::DirError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::broker::StoreUnusable>() {
            return e.hint();
        }
        cause
            .downcast_ref::<crate::sandbox::LoadError>()
            .and_then(|e| e.hint())
    })
}

/// For `exec`: refusals before a task starts get their own code; everything
/// else is a runner error. (Other commands exit 1 on any error.)
pub fn exec_exit_code(error: &anyhow::Error) -> u8 {
    let refused = error.chain().any(|cause| {
        cause.is::<Refused>()
            || cause.is::<crate::sandbox::LoadError>()
            || cause.is::<crate::sandbox::DirError>()
            || cause.is::<crate::policy::UnsafePolicyFile>()
            || matches!(
                cause.downcast_ref::<crate::policy::PolicyError>(),
                Some(crate::policy::PolicyError::UnknownAgent { .. })
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
