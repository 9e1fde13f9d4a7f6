//! What a run did, counted for its `exec.end` record, its limits and
//! `exec --json-summary`: values released, repeats, denials, requests, and
//! the names (never the values) of the secrets resolved.

use std::collections::BTreeSet;

use super::Broker;
use crate::names::SecretName;

impl Broker {
    /// Number of values released and requests refused so far in this run.
    pub fn counts(&self) -> (u64, u64) {
        (self.resolutions, self.denials)
    }

    /// Resolutions of a version already resolved earlier in this run.
    pub fn repeats(&self) -> u64 {
        self.repeats
    }

    /// The names of the secrets resolved in this run (handed to the task or
    /// injected into its requests), sorted, each once.
    pub fn resolved_names(&self) -> Vec<SecretName> {
        let names: BTreeSet<_> = self.recorded.iter().map(|(name, _)| name.clone()).collect();
        names.into_iter().collect()
    }

    /// Counts one outgoing HTTP request; returns the count so far.
    pub fn count_request(&mut self) -> u64 {
        self.requests = self.requests.saturating_add(1);
        self.requests
    }

    /// Outgoing HTTP requests of this run so far, allowed or denied.
    pub fn requests(&self) -> u64 {
        self.requests
    }
}
