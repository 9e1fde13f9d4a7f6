//! The audit log as the history of who could resolve what.
//!
//! Guarantees:
//! - A change made from the CLI ([`commit`]) is appended to the audit log,
//!   naming the operator, before the new tasks.toml is renamed into place;
//!   if the record cannot be written, the file is not changed.
//! - A hand edit is caught ([`note_hand_edits`]): when a loaded tasks.toml's
//!   agents or grants differ from the last state recorded for that path, a
//!   `policy.change` record with the difference, attributed to the file's
//!   owner, is appended first (before the run's `exec.start`). The first
//!   load of a path records every agent and grant in it as added.
//! - The warm path stays cheap: `policy.state` in the state dir keeps, per
//!   policy path, the digest of the last recorded file and its agents and
//!   grants; a file with that digest costs one small read.
//!
//! A crash between a CLI change's rename and the state update makes the next
//! load record that change once more, as a `policy.change` (an extra record,
//! never a missing one).
//!
//! `policy.state` is not authenticated: a writer of the state dir can make
//! a later hand edit go unrecorded (but not alter the records already
//! written). See `docs/audit-format.md`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::audit::Event;
use crate::broker::FileStamp;
use crate::operator::Operator;
use crate::policy::{Edit, LockedPolicy, Policy, Snapshot, apply_edit};
use crate::state::Chain;

/// The state file's name in the state dir.
pub(crate) const STATE_FILE: &str = "policy.state";

#[derive(Default, Clone, Serialize, Deserialize)]
struct State {
    /// Policy path -> what was last recorded for it.
    policies: BTreeMap<String, Recorded>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Recorded {
    /// blake3 of the file bytes, hex.
    digest: String,
    snapshot: Snapshot,
}

/// Records a hand edit of `policy` (see the module docs), then remembers
/// `policy` as the recorded state.
pub fn note_hand_edits(home: &Path, policy: &Policy, log: &Chain) -> anyhow::Result<()> {
    let key = key(policy.path());
    let mut state = read(home);
    let digest = policy.digest().to_hex().to_string();
    if state.policies.get(&key).is_some_and(|r| r.digest == digest) {
        return Ok(());
    }
    let now = Snapshot::of(policy);
    // First sight of this path: everything in it is recorded as added, so
    // the log holds who could resolve what from the first run on.
    let old = state.policies.get(&key).map(|r| &r.snapshot);
    let changes = old.cloned().unwrap_or_default().diff(&now);
    if !changes.is_empty() {
        let owner = std::fs::metadata(policy.path()).map_or(u32::MAX, |m| m.uid());
        let by = Operator::owner(owner);
        let event = Event::PolicyChange {
            user: by.user,
            uid: by.uid,
            hostname: by.host,
            command: "file edit".to_owned(),
            policy: policy.digest().into(),
            changes,
        };
        log.append(event)
            .context("cannot record the change of tasks.toml in the audit log")?;
    }
    state.policies.insert(
        key,
        Recorded {
            digest,
            snapshot: now,
        },
    );
    write(home, &state);
    Ok(())
}

/// Makes `edit` to the locked file: hand edits first recorded, then
/// `event` (the change, by its operator) appended, then the file replaced.
pub fn commit(
    home: &Path,
    file: &LockedPolicy,
    edit: &Edit,
    event: Event,
    log: &Chain,
) -> anyhow::Result<()> {
    let text = apply_edit(file.text(), file.policy(), edit)?;
    file.check_unchanged()?;
    note_hand_edits(home, file.policy(), log)?;
    log.append(event)
        .context("cannot record the change in the audit log; tasks.toml was not changed")?;
    file.replace(&text)?;
    let new = Policy::parse(&text, file.policy().path())?;
    let mut state = read(home);
    let recorded = Recorded {
        digest: new.digest().to_hex().to_string(),
        snapshot: Snapshot::of(&new),
    };
    state.policies.insert(key(new.path()), recorded);
    write(home, &state);
    Ok(())
}

/// The command line as run, for the record.
pub fn command_line() -> String {
    let words: Vec<String> = std::env::args()
        .enumerate()
        .map(|(i, arg)| match i {
            0 => "runner".to_owned(),
            _ if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '"') => {
                format!("{arg:?}")
            }
            _ => arg,
        })
        .collect();
    words.join(" ")
}

/// The policy's absolute path (its directory resolved, so that the key is
/// the same before and after the first `project add` creates the file).
fn key(path: &Path) -> String {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let name = path.file_name().unwrap_or_default();
    dir.join(name).display().to_string()
}

/// The state, or an empty one when missing or unreadable (everything is
/// then recorded again: a spurious record, never a missing one).
///
/// Parsed again only when the file is not the one last parsed in this
/// process (`runner serve` loads it at every run): its writers replace it
/// by rename, so a new version has another stamp; a stamp younger than a
/// second is not trusted (the broker's [`FileStamp`] rule). Stamped before
/// it is read, so a file replaced in between is read again next time.
fn read(home: &Path) -> State {
    static LAST: Mutex<Option<(PathBuf, FileStamp, State)>> = Mutex::new(None);
    let path = home.join(STATE_FILE);
    let stamp = FileStamp::of(&path).filter(|stamp| !stamp.is_recent());
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let (Some(stamp), Some((known, known_stamp, state))) = (stamp, last.as_ref())
        && *known == path
        && *known_stamp == stamp
    {
        return state.clone();
    }
    let state: State = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    *last = stamp.map(|stamp| (path, stamp, state.clone()));
    state
}

/// Replaces the state file atomically; a failure only costs a repeated
/// record later, so it is a warning.
fn write(home: &Path, state: &State) {
    let path = home.join(STATE_FILE);
    let temp = home.join(format!(".{STATE_FILE}.{}.tmp", std::process::id()));
    let text = serde_json::to_vec(state).unwrap_or_default();
    let done = std::fs::write(&temp, text).and_then(|()| std::fs::rename(&temp, &path));
    if let Err(error) = done {
        let _ = std::fs::remove_file(&temp);
        eprintln!(
            "scopehold: warning: cannot update {}: {error}",
            path.display()
        );
    }
}
