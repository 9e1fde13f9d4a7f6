//! What `runner serve` keeps between runs: the engine, compiled components,
//! and the unlocked store with the cache key derived from it.
//!
//! Guarantees: key material lives only in [`Keys`] (the open store and the
//! compiled-code cache's key), each run gets its own copy of the store,
//! re-read and checked at the run's first request ([`Store::reopen`]), and
//! [`Hot::lock`] drops all of it (the key types zeroize on drop): from then
//! on every run is refused with a hint. Compiled components are no secret;
//! they were compiled here or loaded from authenticated cache artifacts
//! (the cache is always keyed here, so a same-user writer of the cache
//! cannot plant code).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wasmtime::Engine;

use crate::broker::{Answer, Approver, Question, Reopen, StoreUnusable, TerminalApprover};
use crate::policy::{ComponentDigest, Policy, PolicyError, StampedPolicy};
use crate::sandbox::{CacheKey, CodeCache, LoadError, Task};
use crate::store::Store;

/// Most compiled components (and policy files) kept; beyond it the table
/// starts over.
const MAX_HOT_TASKS: usize = 64;

/// Why the daemon no longer holds the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// No run for the idle time.
    Idle(Duration),
    /// The hard cap since unlocking passed.
    Cap(Duration),
    /// The daemon is stopping.
    Stopping,
}

/// The secrets a daemon holds while unlocked.
struct Keys {
    store: Option<Store>,
    /// Shared with a compilation in progress, which drops its handle when
    /// done: the key is gone once both are.
    cache: Option<Arc<CodeCache>>,
    locked: Option<Locked>,
}

/// The daemon's state shared by its connections.
pub struct Hot {
    home: PathBuf,
    engine: Engine,
    tasks: Mutex<HashMap<[u8; 32], Task>>,
    /// The policy files runs came with, as last parsed.
    policies: Mutex<HashMap<PathBuf, StampedPolicy>>,
    keys: Arc<Mutex<Keys>>,
    unlocked_at: Instant,
    last_used: Mutex<Instant>,
    active: AtomicUsize,
    approval_timeout: Duration,
}

impl Hot {
    /// Holds `store` (unlocked by the caller) for the state dir `home`.
    pub fn new(home: &Path, store: Store, engine: Engine) -> Hot {
        let cache = crate::exec::code_cache(home)
            .map(|cache| Arc::new(cache.keyed(CacheKey::from_store(&store))));
        let keys = Keys {
            store: Some(store),
            cache,
            locked: None,
        };
        Hot {
            home: home.to_owned(),
            engine,
            tasks: Mutex::default(),
            policies: Mutex::default(),
            keys: Arc::new(Mutex::new(keys)),
            unlocked_at: Instant::now(),
            last_used: Mutex::new(Instant::now()),
            active: AtomicUsize::new(0),
            approval_timeout: crate::broker::approval_timeout(),
        }
    }

    /// The state dir served.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Fails with a hint once the daemon has locked itself.
    pub fn check_unlocked(&self) -> anyhow::Result<()> {
        match lock(&self.keys).locked {
            None => Ok(()),
            Some(why) => Err(locked_error(why).into()),
        }
    }

    /// The compiled component `wasm` (whose digest is `digest`): from
    /// memory, else from the keyed cache or compiled now, and kept. A
    /// handle is cheap: the engine, the linked component.
    pub fn task(&self, digest: &ComponentDigest, wasm: &[u8]) -> Result<Task, LoadError> {
        let key = *digest.0.as_bytes();
        if let Some(task) = lock(&self.tasks).get(&key) {
            return Ok(task.clone());
        }
        // Compiled without holding the keys: a cache key taken now is enough.
        let cache = lock(&self.keys).cache.clone();
        let task = Task::load_on(self.engine.clone(), (wasm, digest), cache.as_deref())?;
        let mut tasks = lock(&self.tasks);
        if tasks.len() >= MAX_HOT_TASKS {
            tasks.clear();
        }
        tasks.insert(key, task.clone());
        Ok(task)
    }

    /// The policy file at `path` as it is now: opened and checked at every
    /// run, parsed again only when it changed ([`Policy::load_trusted_again`]).
    pub fn policy(&self, path: &Path) -> Result<Arc<Policy>, PolicyError> {
        let known = lock(&self.policies).get(path).cloned();
        let loaded = Policy::load_trusted_again(path, known.as_ref())?;
        let policy = loaded.policy.clone();
        let mut policies = lock(&self.policies);
        if policies.len() >= MAX_HOT_TASKS {
            policies.clear();
        }
        policies.insert(path.to_owned(), loaded);
        Ok(policy)
    }

    /// How a run's broker gets its copy of the store.
    pub fn reopen(&self) -> Reopen {
        let keys = self.keys.clone();
        Arc::new(move || {
            let keys = lock(&keys);
            match (&keys.store, keys.locked) {
                (Some(store), None) => store.reopen().map_err(reopen_failed),
                (_, why) => Err(locked_error(why.unwrap_or(Locked::Stopping))),
            }
        })
    }

    /// Approval questions go to the daemon's terminal, one at a time.
    pub fn approver(&self) -> Box<dyn Approver + Send> {
        Box::new(OneAtATime(TerminalApprover::new(self.approval_timeout)))
    }

    /// Drops the store and the cache key (zeroized); later runs are refused.
    pub fn lock(&self, why: Locked) {
        let mut keys = lock(&self.keys);
        if keys.locked.is_none() {
            keys.locked = Some(why);
        }
        keys.store = None;
        keys.cache = None;
    }

    /// Whether the daemon is locked, and why.
    pub fn locked(&self) -> Option<Locked> {
        lock(&self.keys).locked
    }

    /// Marks a run as started; the returned guard marks its end.
    pub fn busy(&self) -> Busy<'_> {
        self.active.fetch_add(1, Ordering::SeqCst);
        Busy(self)
    }

    /// Locks if the daemon has been idle for `idle` or unlocked for `cap`.
    pub fn lock_if_due(&self, idle: Duration, cap: Duration) {
        if self.locked().is_some() {
            return;
        }
        if self.unlocked_at.elapsed() >= cap {
            self.lock(Locked::Cap(cap));
        } else if self.active.load(Ordering::SeqCst) == 0 && lock(&self.last_used).elapsed() >= idle
        {
            self.lock(Locked::Idle(idle));
        }
    }

    /// Runs in progress.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
}

/// A run in progress; its end restarts the idle clock.
pub struct Busy<'a>(&'a Hot);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        *lock(&self.0.last_used) = Instant::now();
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One question on the terminal at a time: concurrent runs wait their turn.
struct OneAtATime(TerminalApprover);

static TERMINAL: Mutex<()> = Mutex::new(());

impl Approver for OneAtATime {
    fn ask(&self, question: &Question) -> Answer {
        let _turn = lock(&TERMINAL);
        self.0.ask(question)
    }
}

fn locked_error(why: Locked) -> StoreUnusable {
    let reason = match why {
        Locked::Idle(idle) => format!("no run for {}", show(idle)),
        Locked::Cap(cap) => format!("{} passed since it was unlocked", show(cap)),
        Locked::Stopping => "it is stopping".into(),
    };
    StoreUnusable::new(
        format!("runner serve has locked the store ({reason}); its key is gone from memory"),
        Some(
            "unlock again: stop the daemon with `runner serve --stop` and start `runner serve`; \
             without a daemon, `runner exec` runs in its own process"
                .into(),
        ),
    )
}

/// A store changed so that the held keys no longer open it (a data-key
/// rekey) needs a new unlock; other failures are as at an open.
fn reopen_failed(error: crate::store::StoreError) -> StoreUnusable {
    match error {
        crate::store::StoreError::RekeyedMeanwhile => StoreUnusable::new(
            "the store was given a new data key since runner serve unlocked it".into(),
            Some("restart it: `runner serve --stop`, then `runner serve`".into()),
        ),
        other => StoreUnusable::from(other),
    }
}

fn show(duration: Duration) -> String {
    format!("{} s", duration.as_secs())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
