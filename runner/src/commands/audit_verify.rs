//! `runner audit verify`: prove the log intact, or name the first bad record.
//!
//! Exit codes: 0 intact, 1 not intact, 2 the log could not be read.

use clap::Args;

use crate::audit;
use crate::cli::Global;
use crate::exit_code;

#[derive(Debug, Args)]
pub struct AuditVerify {}

impl AuditVerify {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = match global.open_home() {
            Ok(dir) => dir,
            Err(error) => return Ok(io_failure(&error)),
        };
        let path = dir.join(audit::AUDIT_FILE);
        let report = match audit::verify(&path) {
            Ok(report) => report,
            Err(error) => return Ok(io_failure(&error.into())),
        };
        let head = report
            .head
            .map(|h| h.to_string())
            .unwrap_or_else(|| "none".into());
        match &report.first_problem {
            None => {
                println!("ok: {} records intact, head {head}", report.records);
                Ok(exit_code::OK)
            }
            Some(problem) => {
                println!("FAILED: {problem}");
                println!(
                    "{} records before it verified; log {}",
                    report.records,
                    path.display()
                );
                Ok(exit_code::FAILURE)
            }
        }
    }
}

fn io_failure(error: &anyhow::Error) -> u8 {
    crate::report::print_error(error);
    exit_code::USAGE
}
