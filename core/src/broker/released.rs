//! What a run has released: secret values and placeholders, shared between
//! the broker (which adds to it), the egress gate (which checks requests
//! against it) and the output filter (which redacts it).
//!
//! Guarantees:
//! - Values stay in [`SecretString`]s; this type has no `Debug` that shows them.
//! - A placeholder is 128 random bits, unguessable by the task, and maps to
//!   one secret name; it is never the secret's value.
//! - Each lookup sees every value released so far, including values released
//!   while a request body was still being written.
//! - Once a value has been injected into a request, every destination its
//!   grant binds it to stays marked for the rest of the run
//!   ([`Released::masks`]): the egress gate masks every response from there,
//!   not only the response to the injecting request.

use std::sync::{Arc, Mutex, MutexGuard};

use secrecy::{ExposeSecret, SecretString};

use crate::names::SecretName;
use crate::policy::{Destination, HostPattern, allows};

/// Prefix of every placeholder, so operators recognise one in a log.
const PLACEHOLDER_PREFIX: &str = "scopehold-placeholder-";

/// One released value and the destinations its grant binds it to.
pub(crate) struct Entry {
    pub name: SecretName,
    pub value: SecretString,
    pub hosts: Vec<HostPattern>,
}

#[derive(Default)]
struct Inner {
    values: Vec<Entry>,
    placeholders: Vec<(String, SecretName)>,
    /// Destinations of the grants of every value injected so far.
    injected_into: Vec<HostPattern>,
}

/// A cheap, cloneable handle on the run's released values.
#[derive(Clone, Default)]
pub struct Released {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Released {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Released(..)")
    }
}

impl Released {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the lists half-written
        // (pushes are single operations), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a value handed out (to the task or into a request).
    pub fn push(&self, name: SecretName, value: SecretString, hosts: Vec<HostPattern>) {
        let mut inner = self.lock();
        if !inner
            .values
            .iter()
            .any(|e| e.value.expose_secret() == value.expose_secret())
        {
            inner.values.push(Entry { name, value, hosts });
        }
    }

    /// The name of a released secret whose value occurs anywhere in `text`.
    pub(crate) fn owner_within(&self, text: &str) -> Option<SecretName> {
        let inner = self.lock();
        inner
            .values
            .iter()
            .find(|e| contains(text.as_bytes(), e.value.expose_secret().as_bytes()))
            .map(|e| e.name.clone())
    }

    /// Marks `hosts` (a grant's destinations) as holding an injected value:
    /// responses from them are masked for the rest of the run.
    pub fn mark_injected(&self, hosts: &[HostPattern]) {
        let mut inner = self.lock();
        for host in hosts {
            if !inner.injected_into.contains(host) {
                inner.injected_into.push(host.clone());
            }
        }
    }

    /// Whether responses from `to` must be masked (and requests to it ask
    /// for no content encoding): a value was injected towards it.
    pub fn masks(&self, to: &Destination) -> bool {
        allows(&self.lock().injected_into, to)
    }

    /// Released values found anywhere in `haystack`, with their bindings.
    pub fn carried_in(&self, haystack: &[u8]) -> Vec<(SecretName, Vec<HostPattern>)> {
        let inner = self.lock();
        inner
            .values
            .iter()
            .filter(|e| contains(haystack, e.value.expose_secret().as_bytes()))
            .map(|e| (e.name.clone(), e.hosts.clone()))
            .collect()
    }

    /// `(name, value)` of every value released so far, for the output filter.
    pub fn values(&self) -> Vec<(SecretName, SecretString)> {
        let inner = self.lock();
        inner
            .values
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect()
    }

    /// A new placeholder standing for `name`.
    pub(crate) fn new_placeholder(&self, name: SecretName) -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let token = format!("{PLACEHOLDER_PREFIX}{hex}");
        self.lock().placeholders.push((token.clone(), name));
        Ok(token)
    }

    /// Placeholders (token, name) that occur in `text`.
    pub fn placeholders_in(&self, text: &str) -> Vec<(String, SecretName)> {
        if !text.contains(PLACEHOLDER_PREFIX) {
            return Vec::new();
        }
        let inner = self.lock();
        inner
            .placeholders
            .iter()
            .filter(|(token, _)| text.contains(token.as_str()))
            .cloned()
            .collect()
    }

    /// `text` with every released value and placeholder replaced by a marker,
    /// safe to print or record.
    pub fn scrub(&self, text: &str) -> String {
        let inner = self.lock();
        let mut out = text.to_owned();
        for e in &inner.values {
            out = out.replace(e.value.expose_secret(), &format!("[REDACTED:{}]", e.name));
        }
        for (token, name) in &inner.placeholders {
            out = out.replace(token.as_str(), &format!("[PLACEHOLDER:{name}]"));
        }
        out
    }
}

/// Whether `needle` (non-empty) occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> SecretName {
        SecretName::new(text).unwrap()
    }

    #[test]
    fn finds_scrubs_and_maps_placeholders() {
        let released = Released::default();
        released.push(
            name("k"),
            SecretString::from("s3cr3t-value".to_owned()),
            Vec::new(),
        );
        assert_eq!(released.carried_in(b"x=s3cr3t-value&y").len(), 1);
        assert!(released.carried_in(b"s3cr3t-valu").is_empty());
        let token = released.new_placeholder(name("k")).unwrap();
        assert!(!token.contains("s3cr3t"));
        let text = format!("Bearer {token} and s3cr3t-value");
        assert_eq!(
            released.placeholders_in(&text),
            vec![(token.clone(), name("k"))]
        );
        assert_eq!(
            released.scrub(&text),
            "Bearer [PLACEHOLDER:k] and [REDACTED:k]"
        );
        assert_ne!(released.new_placeholder(name("k")).unwrap(), token);
    }
}
