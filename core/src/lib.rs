//! ScopeHold's library: what a task may resolve ([`policy`]), where the
//! values are kept encrypted ([`store`]), the hash-chained record of every
//! resolution and change ([`audit`]), and the [`broker`] that joins them for a
//! running task. The `runner` CLI crate drives these; it adds the command
//! line, the reports and the wasmtime sandbox.
//!
//! Data flows one way through a run: [`policy`] decides, [`store`] decrypts,
//! [`audit`] records (durably, before release), and the [`broker`] hands the
//! value to the sandbox.

pub mod age;
pub mod audit;
pub mod broker;
pub mod home;
pub mod input;
pub mod names;
pub mod operator;
pub mod policy;
pub mod policy_history;
pub mod state;
pub mod state_dir;
pub mod store;
pub mod task_file;
pub mod terminal;
