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
pub mod exec;
pub mod exit_code;
pub mod home;
pub mod input;
pub mod mcp;
pub mod names;
pub mod operator;
pub mod policy;
pub mod policy_history;
pub mod report;
pub mod sandbox;
pub mod store;
pub mod task_file;
