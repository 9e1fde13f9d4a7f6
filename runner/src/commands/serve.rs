//! `runner serve [--idle 15m] [--max 8h]`, `runner serve --stop`: unlock the
//! store once and run tasks for `runner exec` (docs/serve.md); the daemon
//! itself is [`crate::serve`].

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::cli::Global;
use crate::serve::daemon::{Daemon, Timeouts};

#[derive(Debug, Args)]
pub struct Serve {
    /// Lock the store after this long without a run (30s, 15m, 2h)
    #[arg(long, default_value = "15m", value_name = "AGE", value_parser = age)]
    pub idle: Duration,
    /// Lock the store this long after unlocking it, however busy (12h, 1d)
    #[arg(long, default_value = "8h", value_name = "AGE", value_parser = age)]
    pub max: Duration,
    /// Stop the daemon serving this state dir (its socket is removed)
    #[arg(long, conflicts_with_all = ["idle", "max"])]
    pub stop: bool,
}

impl Serve {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        if self.stop {
            return stop(global);
        }
        let dir = global.open_home()?;
        // The daemon holds the store of a state dir on the file backend.
        let backend = crate::policy::Policy::backend_of(&global.config())?;
        if backend != crate::policy::StateBackend::File {
            anyhow::bail!(crate::report::Refused {
                message: "runner serve runs tasks of a state dir on the file backend only; \
                          tasks.toml selects another ([state] backend)"
                    .into(),
                hint: Some("runner exec runs in its own process with this backend".into()),
            });
        }
        let home = std::fs::canonicalize(&dir)
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        // Unlocked once: the passphrase is asked here, at this terminal.
        let store = crate::store::Store::open(&home)?;
        let engine = crate::sandbox::pooled_engine()?;
        let hot = crate::serve::Hot::new(&home, store, engine);
        let timeouts = Timeouts {
            idle: self.idle,
            cap: self.max,
        };
        let daemon = Daemon::bind(hot, timeouts)?;
        eprintln!(
            "scopehold: serving {} on {}; locks after {} s without a run and {} s after \
             unlocking; stop with `runner serve --stop`",
            home.display(),
            daemon.socket().display(),
            self.idle.as_secs(),
            self.max.as_secs()
        );
        daemon.serve()?;
        Ok(crate::exit_code::OK)
    }
}

fn stop(global: &Global) -> anyhow::Result<u8> {
    let home = global.home()?;
    let Some(daemon) = crate::serve::client::for_home(global.home.as_deref()) else {
        anyhow::bail!(crate::report::Refused {
            message: format!("no runner serve is running for {}", home.display()),
            hint: Some("start one with `runner serve`".into()),
        });
    };
    daemon.stop()?;
    // The daemon removes its socket before it says goodbye to runs.
    let socket = crate::serve::socket_path(&home);
    for _ in 0..100 {
        if !socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("runner serve for {} stopped", home.display());
    Ok(crate::exit_code::OK)
}

/// An age flag (`30s`, `15m`, `8h`), at least one second.
fn age(text: &str) -> Result<Duration, String> {
    let age = crate::age::parse_age(text)?;
    let seconds = u64::try_from(age.whole_seconds()).unwrap_or(0);
    match seconds {
        0 => Err("must be at least 1s".into()),
        s => Ok(Duration::from_secs(s)),
    }
}
