//! ScopeHold runner: runs an agent's task as a WebAssembly component in a
//! wasmtime sandbox whose only way to a secret is the audited, grant-checked
//! `get-secret` host function.
//!
//! Data flows one way through `exec`: the policy decides, the store decrypts,
//! the audit log records (durably, before release), and [`sandbox`] hands the
//! value to the guest through the broker. Those library parts live in the
//! `scopehold-core` crate; they are imported here so `crate::audit::...`
//! paths read the same in every command.

pub mod cli;
pub mod commands;
pub mod exec;
pub mod exit_code;
pub mod mcp;
pub mod report;
pub mod sandbox;
pub mod script;
pub mod serve;

#[allow(unused_imports)]
use scopehold_core::{
    age, audit, broker, home, input, names, operator, policy, policy_history, state, state_dir,
    store, task_file,
};
