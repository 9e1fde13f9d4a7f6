//! Hosts sharing one PostgreSQL database: each a state dir and a tasks.toml
//! with `[state] backend = "postgres"`, the database URL in the environment
//! and its own host name (`SCOPEHOLD_HOST`), as on separate machines.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::harness::{POLICY, RUNNER, feed, guest, text};
use crate::pg_cluster::PgCluster;

/// [`POLICY`] on the PostgreSQL backend, with one more valid grant.
pub fn pg_policy() -> String {
    let extra = POLICY.replace(
        "  { secret = \"never-stored\" },",
        "  { secret = \"never-stored\" },\n  { secret = \"second\" },",
    );
    format!("[state]\nbackend = \"postgres\"\n{extra}")
}

/// One host: a temp dir with its state dir and tasks.toml.
pub struct PgHost {
    pub tmp: tempfile::TempDir,
    pub name: String,
    url: String,
}

impl PgHost {
    /// A host that has not run `runner init` yet.
    pub fn new(pg: &PgCluster, name: &str) -> PgHost {
        let host = PgHost {
            tmp: tempfile::tempdir().unwrap(),
            name: name.to_owned(),
            url: pg.url(),
        };
        std::fs::write(host.config(), pg_policy()).unwrap();
        host
    }

    /// The first host: `runner init` creates the database's state.
    pub fn first(pg: &PgCluster, name: &str) -> PgHost {
        let host = PgHost::new(pg, name);
        host.ok(&["init"]);
        host
    }

    /// Another host: `from`'s key file copied in, then `runner init` joins.
    pub fn joining(pg: &PgCluster, name: &str, from: &PgHost) -> PgHost {
        let host = PgHost::new(pg, name);
        host.copy_key_from(from);
        host.ok(&["init"]);
        host
    }

    /// What an operator does to give a host the store's key.
    pub fn copy_key_from(&self, from: &PgHost) {
        self.write_key(&std::fs::read(from.home().join("key")).unwrap());
    }

    /// A state dir holding `bytes` as its key file.
    pub fn write_key(&self, bytes: &[u8]) {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(self.home())
            .unwrap();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.home().join("key"))
            .unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
    }

    pub fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    pub fn config(&self) -> PathBuf {
        self.tmp.path().join("tasks.toml")
    }

    /// `runner --home --config ARGS` with the URL in the environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(RUNNER);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.tmp.path())
            .env("SCOPEHOLD_DATABASE_URL", &self.url)
            .env("SCOPEHOLD_HOST", &self.name)
            .arg("--home")
            .arg(self.home())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "runner {args:?} on {} failed:\n{}",
            self.name,
            text(&out)
        );
        out
    }

    pub fn set_secret(&self, name: &str, value: &str) {
        self.with_input(&["secret", "set", name, "--project", "analytics"], value);
    }

    pub fn rotate(&self, name: &str, value: &str) {
        self.with_input(&["secret", "rotate", name, "--project", "analytics"], value);
    }

    fn with_input(&self, args: &[&str], value: &str) {
        let out = feed(self.cmd(args), format!("{value}\n").as_bytes())
            .wait_with_output()
            .unwrap();
        assert!(
            out.status.success(),
            "runner {args:?} failed:\n{}",
            text(&out)
        );
    }

    /// `runner exec GUEST.wasm --agent support-analysis -- ARGS`.
    pub fn exec_cmd(&self, guest_name: &str, args: &[&str]) -> Command {
        let wasm = guest(guest_name);
        let mut all = vec![
            "exec",
            wasm.to_str().unwrap(),
            "--agent",
            "support-analysis",
            "--",
        ];
        all.extend_from_slice(args);
        self.cmd(&all)
    }

    /// `runner audit verify --json` as a JSON value, with the exit code.
    pub fn verify(&self) -> (i32, serde_json::Value) {
        let out = self.run(&["audit", "verify", "--json"]);
        let json = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("verify printed no JSON:\n{}", text(&out)));
        (out.status.code().unwrap(), json)
    }

    /// Every file under the state dir, relative names, sorted.
    pub fn state_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.home())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// The blake3 hex of `value`, as `probe get:NAME` prints it.
pub fn digest(value: &str) -> String {
    blake3::hash(value.as_bytes()).to_hex().to_string()
}
