//! End-to-end tests: the real `runner` binary, real example components built
//! for wasm32-wasip2, a fresh state dir per test.

mod harness;

mod accept_restore;
mod audit_anchor;
mod audit_anchor_file;
mod audit_binding;
mod audit_chain;
mod audit_clock_race;
mod audit_review;
mod audit_rotation;
mod cache;
mod cache_auth;
mod cli_conventions;
mod cli_errors;
mod egress;
mod egress_attacks;
mod egress_bounds;
mod env_keys;
mod exec_interrupt;
mod exec_refused;
mod exec_secrets;
mod explain;
mod faults;
mod faults_exec;
mod faults_init;
mod faults_race;
mod faults_rekey;
mod faults_rotate;
mod faults_writes;
mod first_steps_errors;
mod fuzz;
mod fuzz_targets;
mod grants_cli;
mod grants_hostile;
mod grants_race;
mod hostile;
mod hostile_input;
mod hostile_output;
mod lazy_start;
mod limits;
mod polyglot;
mod sandbox_isolation;
mod store_custody;
mod store_lifecycle;
mod terminal_input;
