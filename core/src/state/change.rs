//! The store changes a [`State`](super::State) makes, and the audit event
//! each is recorded with. One place for what used to be repeated in every
//! store command: which event names a change, and whether a change whose
//! later step failed is in effect (then it is recorded all the same).

use secrecy::SecretSlice;

use crate::audit::Event;
use crate::names::{ProjectName, SecretName};
use crate::store::{EntryInfo, KeyProtection, Store, StoreError};

/// One change to the store. Holds a value or a passphrase, so no `Debug`.
pub enum Change<'a> {
    /// A new secret, version 1.
    Set {
        project: &'a ProjectName,
        name: &'a SecretName,
        value: &'a SecretSlice<u8>,
    },
    /// A new version of an existing secret.
    Rotate {
        project: &'a ProjectName,
        name: &'a SecretName,
        value: &'a SecretSlice<u8>,
    },
    /// A secret removed.
    Remove {
        project: &'a ProjectName,
        name: &'a SecretName,
    },
    /// The data key re-wrapped (and, with `data_key`, replaced); recorded
    /// as `store.rekey`.
    Rekey {
        protection: KeyProtection,
        data_key: bool,
    },
    /// An older store file re-stamped above `recorded`, the newest
    /// generation the chain holds (its `store.restore` is already recorded).
    AcceptRestore { recorded: u64 },
}

/// A change that is in effect and recorded.
#[derive(Debug)]
pub struct Written {
    /// The entry the change made or removed (none for a rekey or restore).
    pub entry: Option<EntryInfo>,
    /// The store's generation after the change (recorded as `store.write`).
    pub generation: u64,
    /// The error of a step after the change took effect: the command fails
    /// with it, saying the change is in effect and recorded.
    pub unfinished: Option<StoreError>,
}

/// What [`Change::apply`] did: the entry, its event, an error after effect.
pub(crate) struct Applied {
    pub entry: Option<EntryInfo>,
    pub event: Option<Event>,
    pub unfinished: Option<StoreError>,
}

impl<'a> Change<'a> {
    /// A copy of the change to make again (after a concurrent writer won),
    /// where one can be made: not for a rekey (its new key is made once).
    pub(crate) fn again(&self) -> Option<Change<'a>> {
        match self {
            Change::Set {
                project,
                name,
                value,
            } => Some(Change::Set {
                project,
                name,
                value,
            }),
            Change::Rotate {
                project,
                name,
                value,
            } => Some(Change::Rotate {
                project,
                name,
                value,
            }),
            Change::Remove { project, name } => Some(Change::Remove { project, name }),
            Change::Rekey { .. } | Change::AcceptRestore { .. } => None,
        }
    }

    pub(crate) fn is_rekey(&self) -> bool {
        matches!(self, Change::Rekey { .. })
    }

    /// Makes the change to `store`. An error before the change took effect
    /// is returned as is; one after it is kept in [`Applied::unfinished`].
    /// `reopen` gives the store as it now stands when a restore's re-stamp
    /// took effect but did not finish.
    pub(crate) fn apply(
        self,
        store: &mut Store,
        reopen: impl FnOnce() -> Result<Store, StoreError>,
    ) -> Result<Applied, StoreError> {
        match self {
            Change::Set {
                project,
                name,
                value,
            } => {
                let outcome = store.set(project, name, value);
                let (entry, unfinished) = settled(outcome, store.find(project, name))?;
                Ok(with_event(entry, unfinished, secret_set))
            }
            Change::Rotate {
                project,
                name,
                value,
            } => {
                let outcome = store.rotate(project, name, value);
                let (entry, unfinished) = settled(outcome, store.find(project, name))?;
                Ok(with_event(entry, unfinished, secret_rotate))
            }
            Change::Remove { project, name } => {
                let before = store.find(project, name).cloned();
                let outcome = store.remove(project, name);
                let (entry, unfinished) = settled(outcome, before.as_ref())?;
                Ok(with_event(entry, unfinished, secret_remove))
            }
            Change::Rekey {
                protection,
                data_key,
            } => {
                let by = match protection {
                    KeyProtection::Passphrase(_) => "a new passphrase",
                    KeyProtection::KeyFile => "a new key file",
                };
                let mut applied = keyed(store.rekey(protection, data_key))?;
                applied.event = Some(Event::StoreRekey {
                    store: store.store_id().to_owned(),
                    detail: format!("{}, protected by {by}", rekey_done(data_key)),
                });
                Ok(applied)
            }
            Change::AcceptRestore { recorded } => {
                let applied = keyed(store.accept_restore(recorded).map(drop))?;
                if applied.unfinished.is_some() {
                    *store = reopen()?;
                }
                Ok(applied)
            }
        }
    }
}

/// What a rekey did, as `runner rekey` says it and `store.rekey` records it.
pub fn rekey_done(data_key: bool) -> &'static str {
    match data_key {
        true => "re-encrypted every secret under a new data key",
        false => "re-wrapped the data key",
    }
}

/// Splits a store write's outcome into the entry it changed and, when the
/// change took effect although a later step failed (`now` is then the entry
/// as it stands), that error. An error before the change took effect is
/// returned as is.
fn settled(
    outcome: Result<EntryInfo, StoreError>,
    now: Option<&EntryInfo>,
) -> Result<(EntryInfo, Option<StoreError>), StoreError> {
    match (outcome, now) {
        (Ok(entry), _) => Ok((entry, None)),
        (Err(err), Some(entry)) if err.took_effect() => Ok((entry.clone(), Some(err))),
        (Err(err), _) => Err(err),
    }
}

/// A change without an entry (rekey, restore): in effect unless it failed
/// before it took effect.
fn keyed(outcome: Result<(), StoreError>) -> Result<Applied, StoreError> {
    let unfinished = match outcome {
        Ok(()) => None,
        Err(err) if err.took_effect() => Some(err),
        Err(err) => return Err(err),
    };
    Ok(Applied {
        entry: None,
        event: None,
        unfinished,
    })
}

fn with_event(
    entry: EntryInfo,
    unfinished: Option<StoreError>,
    event: fn(&EntryInfo) -> Event,
) -> Applied {
    Applied {
        event: Some(event(&entry)),
        entry: Some(entry),
        unfinished,
    }
}

fn secret_set(entry: &EntryInfo) -> Event {
    Event::SecretSet {
        project: entry.project.clone(),
        secret: entry.name.clone(),
        version: entry.version,
    }
}

fn secret_rotate(entry: &EntryInfo) -> Event {
    Event::SecretRotate {
        project: entry.project.clone(),
        secret: entry.name.clone(),
        version: entry.version,
    }
}

fn secret_remove(entry: &EntryInfo) -> Event {
    Event::SecretRemove {
        project: entry.project.clone(),
        secret: entry.name.clone(),
        version: entry.version,
    }
}
