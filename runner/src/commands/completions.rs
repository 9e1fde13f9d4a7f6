//! `runner completions SHELL` and `runner man`: shell completions and the
//! man page, generated from the one clap definition in `cli.rs`, so they
//! always name the commands and flags this binary has.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::{Cli, Global};

#[derive(Debug, Args)]
pub struct Completions {
    /// The shell: bash, zsh, fish, elvish or powershell
    pub shell: Shell,
}

impl Completions {
    pub fn execute(&self, _global: &Global) -> anyhow::Result<u8> {
        // Generated into memory first: clap_complete panics on a write error
        // (`| head`), and a closed pipe must end quietly.
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut Cli::command(), "runner", &mut script);
        // `print!` reports a closed pipe the way every command does (report.rs).
        print!("{}", String::from_utf8_lossy(&script));
        Ok(crate::exit_code::OK)
    }
}

/// Prints the man page (roff): `runner man > runner.1`.
#[derive(Debug, Args)]
pub struct Man {}

impl Man {
    pub fn execute(&self, _global: &Global) -> anyhow::Result<u8> {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page)?;
        print!("{}", String::from_utf8_lossy(&page));
        Ok(crate::exit_code::OK)
    }
}

/// `runner --version`: the runner's version, the wasmtime it embeds and the
/// on-disk formats it reads (a user comparing two binaries needs all three).
pub fn long_version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{}\nwasmtime {}\nstore format {}\naudit format {} (checkpoints {})",
            env!("CARGO_PKG_VERSION"),
            wasmtime_environ::VERSION,
            crate::store::STORE_FORMAT_VERSION,
            crate::audit::FORMAT_VERSION,
            crate::audit::CHECKPOINT_VERSION,
        )
    })
}
