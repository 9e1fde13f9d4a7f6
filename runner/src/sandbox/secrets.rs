//! Host side of the `scopehold:task/secrets` interface.
//!
//! The generated bindings come from the same WIT files the guest SDK uses
//! (`guest-sdk/wit`), so host and guest cannot drift apart. Every call goes to
//! the run's [`Broker`]; this module only translates between the broker's
//! answer and the WIT types.

use secrecy::ExposeSecret;
use wasmtime::component::{HasData, Linker};

use crate::broker::{Broker, Refusal};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../guest-sdk/wit",
        world: "task",
        imports: { default: trappable },
    });
}

use bindings::scopehold::task::secrets::{self, SecretError};

/// Longest secret name a guest may send. Longer requests are refused without
/// being copied anywhere; the limit keeps a hostile guest from making the host
/// allocate or log without bound.
const MAX_REQUEST_BYTES: usize = 1024;

impl secrets::Host for Broker {
    fn get_secret(&mut self, name: String) -> wasmtime::Result<Result<String, SecretError>> {
        within_call_limit(self)?;
        let requested = if name.len() > MAX_REQUEST_BYTES {
            ""
        } else {
            name.as_str()
        };
        match self.resolve(requested) {
            Ok(value) => Ok(Ok(value.expose_secret().to_owned())),
            Err(refusal) => answer_refusal(self, refusal).map(Err),
        }
    }

    fn placeholder(&mut self, name: String) -> wasmtime::Result<Result<String, SecretError>> {
        within_call_limit(self)?;
        let requested = if name.len() > MAX_REQUEST_BYTES {
            ""
        } else {
            name.as_str()
        };
        match Broker::placeholder(self, requested) {
            Ok(token) => Ok(Ok(token)),
            Err(refusal) => answer_refusal(self, refusal).map(Err),
        }
    }
}

/// What the guest is told; a store that cannot be opened stops the task
/// instead (a trap carrying [`crate::broker::StoreUnusable`]).
fn answer_refusal(broker: &Broker, refusal: Refusal) -> wasmtime::Result<SecretError> {
    match refusal {
        Refusal::Denied => Ok(SecretError::Denied),
        Refusal::Unavailable => Ok(SecretError::Unavailable),
        Refusal::StoreUnusable => match broker.store_failure() {
            Some(failure) => Err(wasmtime::Error::new(failure.clone())),
            None => Ok(SecretError::Unavailable),
        },
    }
}

/// Traps the task once it passes its `secret_calls` limit.
fn within_call_limit(broker: &mut Broker) -> wasmtime::Result<()> {
    if broker.count_call() {
        Ok(())
    } else {
        Err(wasmtime::Error::new(super::LimitExceeded(
            crate::policy::Limit::SecretCalls,
        )))
    }
}

struct SecretsData;

impl HasData for SecretsData {
    type Data<'a> = &'a mut Broker;
}

/// Adds `scopehold:task/secrets` to `linker`, served by the broker `get` returns.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut Broker,
) -> wasmtime::Result<()> {
    secrets::add_to_linker::<T, SecretsData>(linker, get)
}
