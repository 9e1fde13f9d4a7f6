//! One file per subcommand: parse arguments, call the library, print.

pub mod accept_restore;
pub mod agent_add;
pub mod agent_list;
pub mod agent_rm;
pub mod audit_grants;
pub mod audit_head;
pub mod audit_log;
pub mod audit_rotate;
pub mod audit_verify;
pub mod cache_clear;
pub mod completions;
pub mod digest;
pub mod exec;
mod exec_refused;
pub mod explain;
mod explain_json;
pub mod grant;
pub mod init;
pub mod project_add;
pub mod project_list;
pub mod rekey;
pub mod revoke;
mod secret_checks;
pub mod secret_list;
pub mod secret_rm;
pub mod secret_rotate;
pub mod secret_set;
