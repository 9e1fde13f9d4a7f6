//! The `runner` binary: parses the command line, sets up logging, runs one
//! command and turns its result into a documented exit code.

use std::process::ExitCode;

use clap::Parser;
use runner::cli::Cli;
use runner::{exit_code, report};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                exit_code::USAGE
            } else {
                exit_code::OK
            });
        }
    };
    report::init_tracing();
    let is_exec = cli.is_exec();
    match report::guard_stdout(|| {
        let code = cli.run()?;
        // exec's output is the task's, written (or lost) as it ran.
        if !is_exec {
            report::flush_stdout()?;
        }
        Ok(code)
    }) {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`| head -1`): nothing more to say.
        Err(error) if report::is_closed_pipe(&error) => ExitCode::from(exit_code::OK),
        Err(error) => {
            report::print_error(&error);
            ExitCode::from(if is_exec {
                report::exec_exit_code(&error)
            } else {
                exit_code::FAILURE
            })
        }
    }
}
