//! ScopeHold runner: runs an agent's task as a WebAssembly component in a
//! wasmtime sandbox whose only way to a secret is the audited, grant-checked
//! `get-secret` host function.
//!
//! Data flows one way through `exec`: [`policy`] decides, [`store`] decrypts,
//! [`audit`] records (durably, before release), and [`sandbox`] hands the value
//! to the guest through the [`broker`].

pub mod age;
pub mod audit;
pub mod broker;
pub mod cli;
pub mod commands;
pub mod exit_code;
pub mod home;
pub mod input;
pub mod names;
pub mod operator;
pub mod policy;
pub mod policy_history;
/// The PostgreSQL state backend (docs/postgres.md). It lives where the
/// crate split puts the library (`core/src/state/postgres`); until that
/// lands it is compiled as part of this crate.
#[path = "../../core/src/state/postgres/mod.rs"]
pub mod postgres_state;
pub mod report;
pub mod sandbox;
pub mod store;
pub mod task_file;
