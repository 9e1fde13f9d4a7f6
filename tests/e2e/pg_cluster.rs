//! A throwaway PostgreSQL cluster per test: `initdb` into a temp dir, a
//! server listening only on a unix socket in that dir (no TCP), stopped and
//! removed on drop, also when the test panics.
//!
//! `initdb` refuses to run as root, so as root the cluster belongs to the
//! `postgres` account (the Debian package creates it) and its programs run
//! through `runuser`; as anyone else they run directly. Without PostgreSQL
//! installed [`PgCluster::start`] prints a visible SKIP and returns `None`
//! (CI installs it: `.ci/run`).
//!
//! Also compiled into the library's own PostgreSQL tests (`#[path]`), which
//! use a different subset of it than the e2e tests: hence no dead-code lint.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The password every test puts in its database URL. The cluster trusts
/// local connections, so it is never checked: it is a canary that must not
/// show up in any output.
pub const URL_PASSWORD: &str = "pw-CANARY-7f3e9a";

/// One running (or stopped) throwaway cluster.
pub struct PgCluster {
    tmp: tempfile::TempDir,
    /// The data dir, `DIR/data`.
    data: String,
    bin: PathBuf,
    /// `Some("postgres")` when we are root and must run as that account.
    run_as: Option<String>,
    /// Commits wait for the disk (benchmarks); tests run without fsync.
    durable: bool,
}

impl PgCluster {
    /// A fresh cluster, started; `None` (after printing SKIP) when
    /// PostgreSQL is not installed.
    pub fn start() -> Option<PgCluster> {
        PgCluster::start_with(false)
    }

    /// A cluster whose commits are durable (fsync on), for benchmarks.
    pub fn start_durable() -> Option<PgCluster> {
        PgCluster::start_with(true)
    }

    fn start_with(durable: bool) -> Option<PgCluster> {
        let Some(bin) = bindir() else {
            eprintln!("SKIP: PostgreSQL not installed (no initdb); .ci/run installs it");
            return None;
        };
        let run_as = is_root().then(|| "postgres".to_owned());
        let tmp = tempfile::Builder::new().prefix("pg").tempdir().unwrap();
        if let Some(user) = &run_as {
            chown(tmp.path(), user);
        }
        let data = tmp.path().join("data").to_str().unwrap().to_owned();
        let cluster = PgCluster {
            tmp,
            data,
            bin,
            run_as,
            durable,
        };
        cluster
            .tool("initdb", &["-D", cluster.data_str(), "-U", "test"])
            .args(["--auth=trust", "--no-sync", "-E", "UTF8"])
            .output()
            .map(|out| assert_ok("initdb", &out))
            .unwrap();
        cluster.resume();
        Some(cluster)
    }

    /// The directory holding the socket (and the data dir).
    pub fn socket_dir(&self) -> &Path {
        self.tmp.path()
    }

    fn data_str(&self) -> &str {
        &self.data
    }

    /// The URL the runner is given (user `test`, the canary password,
    /// database `db`), in `SCOPEHOLD_DATABASE_URL` or `--database-url`.
    pub fn url(&self) -> String {
        format!(
            "postgresql://test:{URL_PASSWORD}@localhost/postgres?host={}",
            self.socket_dir().display()
        )
    }

    /// Starts the server again after [`PgCluster::stop`].
    pub fn resume(&self) {
        let opts = format!(
            "-k {} -c listen_addresses='' -c max_connections=200{}",
            self.socket_dir().display(),
            if self.durable { "" } else { " -F" }
        );
        let out = self
            .tool("pg_ctl", &["-D", self.data_str(), "-o", &opts, "-w"])
            .args(["-l", self.tmp.path().join("log").to_str().unwrap(), "start"])
            .output()
            .unwrap();
        assert_ok("pg_ctl start", &out);
    }

    /// Stops the server at once (clients see their connections die).
    pub fn stop(&self) {
        let out = self
            .tool(
                "pg_ctl",
                &["-D", self.data_str(), "-m", "immediate", "-w", "stop"],
            )
            .output()
            .unwrap();
        assert_ok("pg_ctl stop", &out);
    }

    /// Runs `sql` with psql as the superuser; returns its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let out = self
            .tool("psql", &["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", self.socket_dir().to_str().unwrap(), "-U", "test"])
            .args(["-d", "postgres", "-c", sql])
            .output()
            .unwrap();
        assert_ok(&format!("psql {sql}"), &out);
        String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
    }

    /// A command for one of the cluster's programs, as the cluster's owner.
    fn tool(&self, name: &str, args: &[&str]) -> Command {
        let program = self.bin.join(name);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.args(args).env_remove("PGDATA").env("LC_ALL", "C");
        cmd
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Immediate: nothing in a throwaway cluster needs a clean shutdown.
        // The temp dir goes with `tmp` after this.
        let _ = self
            .tool(
                "pg_ctl",
                &["-D", self.data_str(), "-m", "immediate", "-w", "stop"],
            )
            .output();
    }
}

/// Where `initdb` and `pg_ctl` live: `pg_config --bindir`, else the
/// newest `/usr/lib/postgresql/*/bin` (Debian keeps them off the PATH).
fn bindir() -> Option<PathBuf> {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .collect();
    debian.sort_by_key(|dir| version_of(dir));
    from_config
        .into_iter()
        .chain(debian.into_iter().rev())
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn version_of(bin: &Path) -> u32 {
    let name = bin.parent().and_then(Path::file_name).unwrap_or_default();
    name.to_string_lossy().parse().unwrap_or(0)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn chown(path: &Path, user: &str) {
    let status = Command::new("chown").arg(user).arg(path).status().unwrap();
    assert!(status.success(), "chown {user} {} failed", path.display());
}

fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The harness itself: a cluster starts, answers, and is gone after drop.
#[test]
fn cluster_starts_answers_and_is_removed() {
    let Some(pg) = PgCluster::start() else { return };
    assert_eq!(pg.psql("SELECT 40 + 2"), "42");
    let dir = pg.socket_dir().to_owned();
    drop(pg);
    assert!(!dir.exists(), "the cluster's dir outlived it");
}
