//! Process hygiene while the store is open: no core dumps.
//!
//! Decrypted values and keys are zeroized when dropped, but while they live a
//! crash could write them to a core file, and a same-user process could read
//! them through `ptrace` or `/proc/PID/mem`. Before any key material is read
//! the runner marks itself non-dumpable (`PR_SET_DUMPABLE` 0, which also
//! blocks same-user ptrace attach) and sets its soft core size limit to 0.
//! Both stay in force until the process exits: a runner process opens the
//! store once and then only uses it.

use rustix::process::{
    DumpableBehavior, Resource, Rlimit, getrlimit, set_dumpable_behavior, setrlimit,
};

use super::StoreError;

/// Disables core dumps for this process (idempotent).
pub(crate) fn disable_core_dumps() -> Result<(), StoreError> {
    let to_io = |err: rustix::io::Errno| StoreError::CoreDumps(err.into());
    set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(to_io)?;
    let maximum = getrlimit(Resource::Core).maximum;
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum,
        },
    )
    .map_err(to_io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_is_not_dumpable_and_core_limit_is_zero() {
        disable_core_dumps().unwrap();
        let dumpable = rustix::process::dumpable_behavior().unwrap();
        assert_eq!(dumpable, DumpableBehavior::NotDumpable);
        assert_eq!(getrlimit(Resource::Core).current, Some(0));
    }
}
