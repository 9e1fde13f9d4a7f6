//! Group commit: concurrent appends in one process share one write and one
//! `fdatasync`.
//!
//! Appenders to the same log queue their events; whoever finds no commit in
//! progress becomes the leader, takes the whole queue and commits it as one
//! batch ([`AuditLog::commit_batch`]); the others wait and are woken with
//! their own record. Every appender still returns only after the `fdatasync`
//! that covers its record, so no value is released before its record is
//! durable. The leader steps down once its batch is written, before the
//! sync, so the next batch is written while the previous one syncs; across
//! processes the file lock orders batches and the sync runs outside it, so
//! the syncs of concurrent writers overlap (the filesystem merges them).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};

use super::AuditError;
use super::record::{Event, Record};
use super::writer::AuditLog;

/// One log's queue. Keyed by path: handles are cheap and many.
#[derive(Default)]
struct Group {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    queue: Vec<(u64, Event)>,
    leading: bool,
    results: HashMap<u64, Result<Record, AuditError>>,
}

static GROUPS: LazyLock<Mutex<HashMap<PathBuf, Arc<Group>>>> = LazyLock::new(Default::default);

fn group_for(log: &AuditLog) -> Arc<Group> {
    let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    groups.entry(log.path().to_owned()).or_default().clone()
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Appends `event` as part of whatever batch is being formed.
pub(crate) fn append(log: &AuditLog, event: Event) -> Result<Record, AuditError> {
    let group = group_for(log);
    let mut state = group.lock();
    let ticket = state.next_ticket;
    state.next_ticket += 1;
    state.queue.push((ticket, event));
    loop {
        if let Some(result) = state.results.remove(&ticket) {
            return result;
        }
        if state.leading {
            state = group.done.wait(state).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        state.leading = true;
        let batch = std::mem::take(&mut state.queue);
        drop(state);
        let outcome = Leading(&group).commit(log, batch);
        state = group.lock();
        state.results.extend(outcome);
        group.done.notify_all();
    }
}

/// Clears the leader flag and wakes the waiters even if the commit panics,
/// so that no appender waits forever.
struct Leading<'a>(&'a Group);

impl Leading<'_> {
    fn commit(
        self,
        log: &AuditLog,
        batch: Vec<(u64, Event)>,
    ) -> Vec<(u64, Result<Record, AuditError>)> {
        let (tickets, events): (Vec<u64>, Vec<Event>) = batch.into_iter().unzip();
        let written = log.write_phase(events);
        // Written: the next batch may be formed and written while this one
        // syncs, so several syncs can be in flight (pipelining).
        drop(self);
        match written.and_then(|w| log.sync_phase(w)) {
            Ok(results) => tickets.into_iter().zip(results).collect(),
            Err(error) => {
                let mut all: Vec<_> = tickets
                    .into_iter()
                    .map(|t| (t, Err(error.clone_shared())))
                    .collect();
                // The first ticket gets the original error, with its source.
                if let Some(first) = all.first_mut() {
                    first.1 = Err(error);
                }
                all
            }
        }
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0.lock().leading = false;
        self.0.done.notify_all();
    }
}
