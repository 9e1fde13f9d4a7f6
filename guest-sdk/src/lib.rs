//! Write ScopeHold agent tasks.
//!
//! A task is an ordinary Rust program (`fn main`) built for `wasm32-wasip2`. The
//! runner executes it as a WebAssembly component with no ambient authority: no
//! environment variables, no files, no sockets. Its one way to a credential is
//! [`get_secret`], which the host answers only for secrets granted to the agent
//! the task runs as (see `tasks.toml`), and only after the access is durably
//! recorded in the audit log.
//!
//! ```no_run
//! use scopehold::{get_secret, Error};
//!
//! fn main() {
//!     match get_secret("posthog-read") {
//!         Ok(key) => {
//!             // Use the key; never print it. `Debug` shows only name and length.
//!             println!("got {:?}", key);
//!             let _authorization = format!("Bearer {}", key.expose());
//!         }
//!         Err(Error::Denied) => eprintln!("posthog-read is not granted to this agent"),
//!         Err(Error::Unavailable) => std::process::exit(1),
//!     }
//! }
//! ```
//!
//! Better still, let the task use the key without holding it: [`placeholder`]
//! returns an opaque token, and [`http::Request`] sends it; the host swaps in
//! the value only for a destination the grant is bound to.
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and run it with
//! `runner exec target/wasm32-wasip2/release/TASK.wasm --agent NAME`.
//!
//! The WIT contract lives in this crate's `wit/` directory (package
//! `scopehold:task@0.1.0`); tasks in other languages generate bindings from it.

mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "task",
        // deps/ carries WASI 0.2.12, whose cli package gates one import
        // behind this feature; enabling it only lets the files parse.
        features: ["clocks-timezone"],
    });
}

pub mod http;
mod secret;

pub use secret::Secret;

use bindings::scopehold::task::secrets as wit;

/// Why a secret was not handed over.
///
/// The task learns no more than this on purpose: whether the secret exists,
/// was never granted, or has expired is written to the operator's audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not granted to this agent, expired, revoked or unknown.
    Denied,
    /// The host could not record the access or read the store (it fails closed).
    Unavailable,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::Denied => "secret denied: not granted to this agent",
            Error::Unavailable => "secret unavailable: the host could not record or read it",
        })
    }
}

impl std::error::Error for Error {}

/// A placeholder for the secret `name` (injection mode): put it in an
/// outgoing request's URL or headers (see [`http::Request::bearer`]) and the
/// host substitutes the value, only on the way to a destination the grant is
/// bound to (`hosts` in tasks.toml). The task never holds the value.
///
/// `Err(Error::Denied)` when the agent holds no valid grant for `name`.
pub fn placeholder(name: &str) -> Result<String, Error> {
    wit::placeholder(name).map_err(|error| match error {
        wit::SecretError::Denied => Error::Denied,
        wit::SecretError::Unavailable => Error::Unavailable,
    })
}

/// Resolves the secret `name` granted to the agent this task runs as.
///
/// Each call is checked against the agent's grants and recorded in the audit
/// log before the value is returned.
pub fn get_secret(name: &str) -> Result<Secret, Error> {
    match wit::get_secret(name) {
        Ok(value) => Ok(Secret::new(name, value)),
        Err(wit::SecretError::Denied) => Err(Error::Denied),
        Err(wit::SecretError::Unavailable) => Err(Error::Unavailable),
    }
}
