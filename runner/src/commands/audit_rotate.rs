//! `runner audit rotate [--json]`: seal the active audit log segment now and
//! start a new one (rotation also happens on its own when the active
//! segment reaches its size limit, `SCOPEHOLD_AUDIT_SEGMENT_BYTES`).
//!
//! Prints which records the sealed segment holds, its file, and where the
//! new segment starts. The checkpoint advances to the new segment's first
//! record, so the store must open (its key authenticates checkpoints).

use anyhow::Context;
use clap::Args;

use crate::audit::{self, AuditLog, CheckpointKey, Rotation};
use crate::cli::Global;
use crate::exit_code;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct AuditRotate {
    /// Print one JSON object for machines
    #[arg(long)]
    pub json: bool,
}

impl AuditRotate {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.file_only("audit rotate")?;
        let store = Store::open(&dir).context("the checkpoint key comes from the store")?;
        let log = AuditLog::open(&dir)?.anchored(CheckpointKey::from_store(&store));
        let rotation = log.rotate()?;
        match self.json {
            true => println!("{}", to_json(&rotation)),
            false => print_human(&rotation),
        }
        Ok(exit_code::OK)
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn print_human(rotation: &Rotation) {
    let (segment, first, last) = rotation.sealed_range();
    println!(
        "sealed segment {segment}: records seq {first} to seq {last} ({} records) in {}",
        last - first + 1,
        file_name(&rotation.sealed)
    );
    println!(
        "started segment {} at seq {} in {}",
        segment + 1,
        rotation.open.seq,
        audit::AUDIT_FILE
    );
}

fn to_json(rotation: &Rotation) -> serde_json::Value {
    let (segment, first, last) = rotation.sealed_range();
    serde_json::json!({
        "sealed": {
            "segment": segment,
            "file": file_name(&rotation.sealed),
            "first_seq": first,
            "last_seq": last,
            "close_hash": rotation.close.hash.to_string(),
        },
        "active": {
            "segment": segment + 1,
            "file": audit::AUDIT_FILE,
            "first_seq": rotation.open.seq,
        },
    })
}
