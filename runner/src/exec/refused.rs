//! The `exec.refused` record: a run refused before its task started (unknown
//! agent, unpinned component, a file that is not a component, an unsupported
//! import, and what would have failed it: a missing host directory, a store
//! that cannot be opened) is an attempt an operator wants to see.
//!
//! Recording it is best effort: the run is refused either way, and a state
//! dir that does not exist yet (no `init`) has no log to record it in. The
//! record holds names, the task path, the file's digest and the error text,
//! never a secret (nothing was resolved).
use super::TaskSource;
use crate::audit::{Event, Hash, Token};
use crate::broker::readiness::NotReady;
use crate::policy::{DirError, PolicyError};
use crate::sandbox::LoadError;
use crate::state::Place;
use crate::task_file::TaskFileError;

/// Longest agent name, path or detail kept in the record, in characters.
const MAX_FIELD_CHARS: usize = 512;

/// Appends `exec.refused` for `error`; a failure to do so is a warning.
pub(super) fn record(
    place: &Place,
    agent: &str,
    task: TaskSource<'_>,
    wasm: Option<&[u8]>,
    error: &anyhow::Error,
) {
    let path = match task {
        TaskSource::File(path) => path.display().to_string(),
        TaskSource::Script { name, .. } => name.to_owned(),
    };
    let event = Event::ExecRefused {
        as_agent: clip(agent),
        path: clip(&path),
        component: digest(task, wasm),
        reason: Token::new(reason(error)).expect("refusal reasons are valid tokens"),
        detail: clip(&format!("{error:#}")),
    };
    if let Err(failure) = place.chain(None).and_then(|log| log.append_unsynced(event)) {
        crate::broker::notice::say(&format!(
            "scopehold: warning: the refused run could not be recorded: {failure}"
        ));
    }
}

/// The task file's digest, read now if the run was refused before reading
/// it (an unknown agent) or because of what it holds (a core module); all
/// zeros when it cannot be read (a directory, a missing file). A script
/// given as text: the text's digest.
fn digest(task: TaskSource<'_>, wasm: Option<&[u8]>) -> Hash {
    match (wasm, task) {
        (Some(wasm), _) => Hash::of(wasm),
        (None, TaskSource::Script { text, .. }) => Hash::of(text),
        (None, TaskSource::File(path)) => {
            crate::input::read_regular(path, crate::input::MAX_COMPONENT_BYTES)
                .map(|bytes| Hash::of(&bytes))
                .unwrap_or(Hash::ZERO)
        }
    }
}

/// The refusal's short code, from the first cause that names one.
fn reason(error: &anyhow::Error) -> &'static str {
    for cause in error.chain() {
        if let Some(PolicyError::UnknownAgent { .. }) = cause.downcast_ref::<PolicyError>() {
            return "unknown-agent";
        }
        if let Some(e) = cause.downcast_ref::<TaskFileError>() {
            return e.reason();
        }
        if let Some(e) = cause.downcast_ref::<LoadError>() {
            return match e {
                LoadError::Invalid(_) => "invalid-component",
                LoadError::Unlinkable(_) => "unsupported-import",
                LoadError::TooCostly(_) => "too-costly",
            };
        }
        if let Some(e) = cause.downcast_ref::<NotReady>() {
            return e.reason();
        }
        if cause.is::<DirError>() {
            return "missing-dir";
        }
        // Before the task starts, the one other refusal is the pin check.
        if cause.is::<crate::report::Refused>() {
            return "unpinned";
        }
    }
    "refused"
}

/// At most [`MAX_FIELD_CHARS`] characters of `text`, marked when cut.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_FIELD_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}
