//! `runner accept-restore [--yes]`: accept an older store file that was put
//! back on purpose (a restore from a backup).
//!
//! Every command refuses a `secrets.json` older than the newest generation
//! the audit log recorded: it may hold secrets since removed or replaced.
//! When the operator restored it deliberately, this command checks the key
//! and the file's MAC as always (so only a genuine store file made by a key
//! holder is accepted), shows what the file holds, and with `--yes`
//! records `store.restore` (which file replaced which), re-stamps it above
//! the recorded generation and records `store.write` (its new generation).

use clap::Args;

use crate::cli::Global;
use crate::commands::secret_list::print_table;
use crate::commands::secret_set::finish;
use crate::report::Refused;
use crate::state::State;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct AcceptRestore {
    /// Accept it (without: only show what would be accepted)
    #[arg(long)]
    pub yes: bool,
}

impl AcceptRestore {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.file_only("accept-restore")?;
        let (mut state, behind) = State::open_restored(&dir)?;
        let found = state.store().generation();
        let Some(recorded) = behind else {
            println!(
                "nothing to accept: the store file is at generation {found}, not older than \
                 the audit log's record"
            );
            return Ok(crate::exit_code::OK);
        };
        show(state.store(), recorded);
        if !self.yes {
            return Err(Refused {
                message: "the older store file was not accepted (no --yes)".into(),
                hint: Some(
                    "if this is the copy you mean to use, run `runner accept-restore --yes`; \
                     otherwise put the newest copy of secrets.json back"
                        .into(),
                ),
            }
            .into());
        }
        let written = state.accept_restore(recorded)?;
        println!(
            "accepted: the restored store file is now at generation {} \
             (recorded as store.restore and store.write)",
            written.generation
        );
        finish(written.unfinished)
    }
}

/// What the older file holds, so the operator knows what they accept.
fn show(store: &Store, recorded: u64) {
    println!(
        "the store file is at generation {}, older than generation {recorded} in the audit log; \
         it holds:",
        store.generation()
    );
    let rows: Vec<[String; 3]> = store
        .entries()
        .map(|e| {
            [
                e.project.to_string(),
                e.name.to_string(),
                e.version.to_string(),
            ]
        })
        .collect();
    print_table(&["PROJECT", "NAME", "VERSION"], &rows);
}
