//! `runner exec SCRIPT.py` / `SCRIPT.js`: agent-written scripts in the
//! interpreter components built by interpreters/build.sh, under the same
//! grants, injection, redaction and audit as any task.
//!
//! One shared lab (state dir, policy, stand-in API) serves the tests in
//! scripts_secrets.rs, scripts_errors.rs and scripts_review.rs: an
//! interpreter is a large component, and compiling it per test would cost a
//! debug build most of a minute each. The
//! lab's first runs compile both (cached from then on). Each test finds its
//! own run in the shared log by its script's digest (every script text is
//! unique). When a registry is unreachable (build.sh exits 3) the tests
//! print a SKIP line and pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use posthog_standin::Server;
use serde_json::Value;

use crate::harness::*;

/// Exit status of build.sh when a package registry is unreachable.
const REGISTRY_UNREACHABLE: i32 = 3;

/// The two script languages and how a script of each is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Js,
}

pub const LANGS: [Lang; 2] = [Lang::Python, Lang::Js];

impl Lang {
    pub fn ext(self) -> &'static str {
        match self {
            Lang::Python => "py",
            Lang::Js => "js",
        }
    }

    fn interpreter(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "javascript",
        }
    }
}

/// The shared state dir, its policy and the stand-in API.
pub struct Lab {
    pub world: World,
    pub canary: String,
    pub api: Server,
    /// blake3 hex of each interpreter component, by [`Lang`] order.
    pub interpreters: Vec<String>,
}

/// The lab, or `None` (with a SKIP line) when the interpreters cannot be built.
pub fn lab() -> Option<&'static Lab> {
    static LAB: OnceLock<Option<Lab>> = OnceLock::new();
    let lab = LAB.get_or_init(build_lab).as_ref();
    if lab.is_none() {
        println!("SKIP: the script interpreters could not be built (registry unreachable)");
    }
    lab
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// interpreters/build.sh with `args`; `false` when a registry is unreachable.
fn build_interpreters(args: &[&str]) -> bool {
    let script = workspace().join("interpreters/build.sh");
    let out = Command::new(&script)
        .args(args)
        .output()
        .expect("build.sh runs");
    if out.status.code() == Some(REGISTRY_UNREACHABLE) {
        println!("SKIP interpreters:\n{}", stderr(&out));
        return false;
    }
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        text(&out)
    );
    true
}

/// A script text's digest as tasks.toml and the log write it.
pub fn digest(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// The script `pinned` may run, in each language.
pub fn pinned_script(lang: Lang) -> String {
    match lang {
        Lang::Python => "print('pinned python script')\n".into(),
        Lang::Js => "console.log('pinned js script');\n".into(),
    }
}

fn build_lab() -> Option<Lab> {
    if !build_interpreters(&[]) {
        return None;
    }
    let built = workspace().join("target/interpreters");
    let interpreters: Vec<String> = LANGS
        .iter()
        .map(|l| std::fs::read(built.join(format!("{}.wasm", l.interpreter()))).unwrap())
        .map(|wasm| blake3::hash(&wasm).to_hex().to_string())
        .collect();
    let canary = canary();
    let api = Server::start("127.0.0.1:0", &canary).expect("the stand-in starts");
    let world = World::with_policy(&policy(&interpreters, &api.url()));
    world.set_secret("analytics", "posthog-read", &canary);
    world.set_secret("billing", "billing-admin", "billing-value");
    let install = world.home().join("interpreters");
    assert!(build_interpreters(&[
        "--install",
        install.to_str().unwrap()
    ]));
    let lab = Lab {
        world,
        canary,
        api,
        interpreters,
    };
    // Compiles each interpreter once, under an agent with grants (so the
    // cached code is authenticated for every agent after).
    for lang in LANGS {
        let out = lab.exec(lang, "warm-up", &warm_up(lang), "scripts", &[]);
        assert!(out.status.success(), "{}", text(&out));
    }
    Some(lab)
}

fn warm_up(lang: Lang) -> String {
    match lang {
        Lang::Python => "print('warm')\n".into(),
        Lang::Js => "console.log('warm');\n".into(),
    }
}

fn policy(interpreters: &[String], api: &str) -> String {
    let pins = |texts: Vec<String>| {
        let quoted: Vec<String> = texts.iter().map(|d| format!("\"blake3:{d}\"")).collect();
        format!("[{}]", quoted.join(", "))
    };
    let components = pins(interpreters.to_vec());
    let scripts = pins(LANGS.iter().map(|&l| digest(&pinned_script(l))).collect());
    let elsewhere = pins(vec!["0".repeat(64)]);
    format!(
        r#"
[projects.analytics]
[projects.billing]

[agents.scripts]
project = "analytics"
scripts = "any"
grants = [{{ secret = "posthog-read" }}]

[agents.inject]
project = "analytics"
scripts = "any"
allowed_hosts = ["{api}"]
grants = [{{ secret = "posthog-read", hosts = ["{api}"] }}]

[agents.no-scripts]
project = "analytics"
grants = [{{ secret = "posthog-read" }}]

[agents.pinned]
project = "analytics"
components = {components}
scripts = {scripts}
grants = [{{ secret = "posthog-read" }}]

[agents.pinned-any]
project = "analytics"
components = {components}
scripts = "any"

[agents.pinned-elsewhere]
project = "analytics"
components = {elsewhere}
scripts = "any"

# MCP code tools (mcp_code.rs, mcp_clients.rs): listed are run-*, inject-*
# and trusted-python; the last three may not run.
[tools.run-python]
kind = "python"
agent = "scripts"
description = "Runs Python as agent scripts"

[tools.run-js]
kind = "javascript"
agent = "scripts"
description = "Runs JavaScript as agent scripts"

[tools.inject-python]
kind = "python"
agent = "inject"
description = "Runs Python that calls the stand-in API"

[tools.inject-js]
kind = "javascript"
agent = "inject"
description = "Runs JavaScript that calls the stand-in API"

[tools.trusted-python]
kind = "python"
agent = "pinned-any"
description = "Runs Python in the pinned interpreter"

[tools.unscripted-python]
kind = "python"
agent = "no-scripts"
description = "Its agent takes no script"

[tools.pinned-python]
kind = "python"
agent = "pinned"
description = "Its agent takes pinned scripts only"

[tools.elsewhere-js]
kind = "javascript"
agent = "pinned-elsewhere"
description = "Its agent is pinned to other code"
"#
    )
}

impl Lab {
    /// Writes `text` to `NAME.EXT` in the lab and returns its path.
    pub fn script(&self, lang: Lang, name: &str, text: &str) -> PathBuf {
        let path = self.world.tmp.path().join(format!("{name}.{}", lang.ext()));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `runner exec NAME.EXT --agent AGENT -- ARGS` with `text` as the script.
    pub fn exec(&self, lang: Lang, name: &str, text: &str, agent: &str, args: &[&str]) -> Output {
        let path = self.script(lang, name, text);
        let mut all = vec!["exec", path.to_str().unwrap(), "--agent", agent, "--"];
        all.extend_from_slice(args);
        self.world.run(&all)
    }

    /// The records of the last run of the script `text`.
    pub fn run_records(&self, text: &str) -> Vec<Value> {
        let records = self.world.records();
        let want = digest(text);
        let start = records
            .iter()
            .rev()
            .find(|r| r["kind"] == "exec.start" && r["script"] == want.as_str())
            .unwrap_or_else(|| panic!("no exec.start for script {want}"));
        let run = start["run"].clone();
        records.into_iter().filter(|r| r["run"] == run).collect()
    }

    /// `text` of `out` with the canary masked, for assertion messages.
    pub fn shown(&self, out: &Output) -> String {
        text(out).replace(&self.canary, "<CANARY>")
    }

    /// Asserts that the canary is in neither output stream.
    pub fn assert_no_canary(&self, out: &Output) {
        let leaked = contains(&out.stdout, &self.canary) || contains(&out.stderr, &self.canary);
        assert!(!leaked, "the key reached the script's output");
    }
}

/// The kinds of `records`, in order.
pub fn kinds(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect()
}
