//! The connection to the database: a small pool driven by a runtime of its
//! own, so the synchronous callers (the broker inside a task's host call,
//! the commands) can wait for a query from any thread, also from inside
//! another tokio runtime.
//!
//! Guarantees: the URL's password is never part of an error or a log line
//! (errors are built from our own words and the server's message, with the
//! password scrubbed out as a second line of defence); every query runs
//! under a statement timeout, so a hung server fails the call instead of
//! stalling a run.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::NoTls;

use super::PgError;

/// The environment variable holding the database URL (`--database-url`
/// overrides it).
pub const DATABASE_URL_ENV: &str = "SCOPEHOLD_DATABASE_URL";

/// Connections one runner process keeps at most: a run appends one record
/// at a time, the extra ones serve a concurrent store read.
const POOL_SIZE: usize = 4;
/// How long connecting may take before the database counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one statement may run (a lock wait included).
const STATEMENT_TIMEOUT_MS: u32 = 30_000;

/// An open connection pool. Holds the URL's password (for scrubbing), so no
/// `Debug` that shows it.
pub struct Db {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    password: Option<SecretString>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db([REDACTED])")
    }
}

impl Db {
    /// Parses `url` and prepares the pool; connects lazily (the first query).
    pub fn new(url: &SecretString) -> Result<Db, PgError> {
        let mut config =
            tokio_postgres::Config::from_str(url.expose_secret()).map_err(|_| PgError::Url)?;
        let password = config
            .get_password()
            .map(|p| SecretString::from(String::from_utf8_lossy(p).into_owned()));
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("scopehold-runner")
            .options(format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}"));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| PgError::Unavailable(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("scopehold-db")
            .enable_all()
            .build()
            .map_err(|e| PgError::Unavailable(format!("cannot start its runtime: {e}")))?;
        Ok(Db {
            runtime: Some(runtime),
            pool,
            password,
        })
    }

    /// Runs `work` with the pool on the database runtime and waits for it.
    /// Errors come back scrubbed of the password.
    pub fn run<T, F, Fut>(&self, work: F) -> Result<T, PgError>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = Result<T, PgError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let future = work(self.pool.clone());
        let Some(runtime) = &self.runtime else {
            return Err(PgError::Unavailable("the connection is closed".into()));
        };
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        let result = rx
            .recv()
            .unwrap_or_else(|_| Err(PgError::Unavailable("the database task stopped".into())));
        result.map_err(|e| self.scrub(e))
    }

    /// The error with every occurrence of the password replaced.
    fn scrub(&self, error: PgError) -> PgError {
        match (&self.password, error) {
            (Some(pw), error) if !pw.expose_secret().is_empty() => {
                error.map_text(|text| text.replace(pw.expose_secret(), "[REDACTED]"))
            }
            (_, error) => error,
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Dropping a runtime blocks; callers may be inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A database error in our words: what we were doing, and the server's (or
/// the socket's) message. Never the URL.
pub(crate) fn db_err(action: &'static str) -> impl Fn(tokio_postgres::Error) -> PgError {
    move |error| {
        let detail = match error.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => error.to_string(),
        };
        match error.is_closed() || error.as_db_error().is_none() {
            true => PgError::Unavailable(format!("{action}: {detail}")),
            false => PgError::Query { action, detail },
        }
    }
}

/// A pool error (cannot connect) as unavailability.
pub(crate) fn pool_err(error: deadpool_postgres::PoolError) -> PgError {
    match error {
        deadpool_postgres::PoolError::Backend(e) => db_err("connect")(e),
        other => PgError::Unavailable(format!("connect: {other}")),
    }
}
