//! `runner audit head`: print the log's checkpoint, one line meant to be kept
//! elsewhere (a ticket, a commit, another machine) and passed back later
//! with `runner audit verify --anchor`.
//!
//! It first verifies the log against the local checkpoint and refuses to
//! vouch for a log that fails; then it refreshes the checkpoint to the log's
//! current end (under the log's lock) and prints it.

use anyhow::Context;
use clap::Args;

use crate::audit::{self, AnchorSource, AuditLog, Checkpoint, CheckpointKey, Verdict};
use crate::cli::Global;
use crate::exit_code;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct AuditHead {
    /// Print one JSON object instead of the checkpoint line
    #[arg(long)]
    pub json: bool,
}

impl AuditHead {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.open_reading()?;
        let store = Store::open(&dir).context("the checkpoint key comes from the store")?;
        let key = CheckpointKey::from_store(&store);
        let local = Checkpoint::load(&dir.checkpoint())?;
        let checkpoints = local.map(|cp| vec![(AnchorSource::Local, cp)]);
        let path = dir.audit_log();
        let result = audit::verify_anchored(&path, checkpoints.unwrap_or_default(), Some(&key))?;
        if result.verdict == Verdict::Invalid {
            eprintln!("error: the audit log failed verification; no checkpoint was written");
            eprintln!("hint: run `runner audit verify` to see why");
            return Ok(exit_code::FAILURE);
        }
        let log = AuditLog::open(&dir)?.anchored(key);
        let checkpoint = log
            .checkpoint_now()?
            .context("the log has no key to write a checkpoint with")?;
        match self.json {
            true => println!("{}", to_json(&checkpoint)),
            false => println!("{checkpoint}"),
        }
        Ok(exit_code::OK)
    }
}

fn to_json(cp: &Checkpoint) -> serde_json::Value {
    serde_json::json!({
        "log": cp.log.to_string(),
        "size": cp.size,
        "head": cp.head.to_string(),
        "time": crate::age::show(cp.ts),
        "mac": cp.mac.to_string(),
        "checkpoint": cp.to_string(),
    })
}
