//! Scripts and secrets: a script resolves exactly its granted key and is
//! denied others, and injects a key it never holds (the bound host gets it,
//! an echo of it never reaches the output, an unlisted host is refused),
//! each recorded under the script's run.

use crate::harness::*;
use crate::scripts::{LANGS, Lang, kinds, lab};

/// FNV-1a, 64-bit: the checksum the scripts print of the value.
pub fn fnv1a64(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

pub fn resolve_script(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => {
            r#"# resolve and deny
import sys
from scopehold import SecretDenied, get_secret

def fnv1a64(data):
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"

key = get_secret("posthog-read")
print(f"granted {len(key)} bytes fnv1a64={fnv1a64(key.encode())} args={sys.argv[1:]}")
try:
    get_secret("billing-admin")
    print("billing-admin: granted")
except SecretDenied as error:
    print(f"billing-admin: {error.reason}")
"#
        }
        Lang::Js => {
            r#"// resolve and deny
import{getSecret}from"scopehold";

function fnv1a64(text) {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

const key = getSecret("posthog-read");
console.log(`granted ${key.length} bytes fnv1a64=${fnv1a64(key)} args=${JSON.stringify(process.argv.slice(2))}`);
try {
  getSecret("billing-admin");
  console.log("billing-admin: granted");
} catch (error) {
  console.log(`billing-admin: ${error.reason}`);
}
"#
        }
    }
}

#[test]
fn a_script_resolves_its_granted_key_exactly_and_is_denied_others() {
    let Some(lab) = lab() else { return };
    for (lang, interpreter) in LANGS.into_iter().zip(&lab.interpreters) {
        let script = resolve_script(lang);
        let out = lab.exec(lang, "resolve", script, "scripts", &["one", "two"]);
        let shown = lab.shown(&out);
        assert!(out.status.success(), "{lang:?}: {shown}");
        let fnv = fnv1a64(lab.canary.as_bytes());
        let line = format!("granted {} bytes fnv1a64={fnv}", lab.canary.len());
        assert!(stdout(&out).contains(&line), "{lang:?}: {shown}");
        let args = match lang {
            Lang::Python => "args=['one', 'two']",
            Lang::Js => r#"args=["one","two"]"#,
        };
        assert!(stdout(&out).contains(args), "{lang:?}: {shown}");
        assert!(
            stdout(&out).contains("billing-admin: denied"),
            "{lang:?}: {shown}"
        );
        lab.assert_no_canary(&out);
        let records = lab.run_records(script);
        let kinds = kinds(&records);
        assert_eq!(
            kinds,
            ["exec.start", "secret.resolve", "secret.deny", "exec.end"]
        );
        // exec.start names the interpreter as the component, and the script.
        assert_eq!(records[0]["component"], interpreter.as_str(), "{lang:?}");
        assert_eq!(records[0]["script_bytes"], script.len(), "{lang:?}");
        assert_eq!(records[1]["secret"], "posthog-read");
        assert_eq!(records[2]["reason"], "other-project");
    }
}

pub fn inject_script(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => {
            r#"# inject
import sys
from scopehold import HttpError, fetch, placeholder

token = placeholder("posthog-read")
auth = {"Authorization": f"Bearer {token}"}
events = fetch(sys.argv[1] + "/api/projects/1/events", headers=auth)
print("events", events.status, len(events.json()["results"]))
echo = fetch(sys.argv[1] + "/echo", headers=auth)
print("echo", echo.status, echo.text())
try:
    fetch("http://127.0.0.2:9/api/projects/1/events", headers=auth)
    print("unlisted: sent")
except HttpError as error:
    print("unlisted: refused")
"#
        }
        Lang::Js => {
            r#"// inject
import { fetch, placeholder, HttpError } from "scopehold";

const token = placeholder("posthog-read");
const headers = { Authorization: `Bearer ${token}` };
const events = await fetch(`${process.argv[2]}/api/projects/1/events`, { headers });
console.log("events", events.status, (await events.json()).results.length);
const echo = await fetch(`${process.argv[2]}/echo`, { headers });
console.log("echo", echo.status, await echo.text());
try {
  await fetch("http://127.0.0.2:9/api/projects/1/events", { headers });
  console.log("unlisted: sent");
} catch (error) {
  console.log(`unlisted: refused ${error instanceof HttpError}`);
}
"#
        }
    }
}

/// Injection: the bound host receives the key, the script never holds it
/// (even when the API echoes it back), an unlisted host is refused.
#[test]
fn a_script_injects_a_key_it_never_holds() {
    let Some(lab) = lab() else { return };
    for lang in LANGS {
        let before = lab.api.received().len();
        let out = lab.exec(
            lang,
            "inject",
            inject_script(lang),
            "inject",
            &[&lab.api.url()],
        );
        let shown = lab.shown(&out);
        assert!(out.status.success(), "{lang:?}: {shown}");
        assert!(stdout(&out).contains("events 200 3"), "{lang:?}: {shown}");
        assert!(
            stdout(&out).contains("unlisted: refused"),
            "{lang:?}: {shown}"
        );
        lab.assert_no_canary(&out);
        let received = lab.api.received();
        let bearer = format!("Bearer {}", lab.canary);
        let sent: Vec<_> = received[before..]
            .iter()
            // Requests marked with an origin are the MCP tests' (mcp_code.rs).
            .filter(|r| r.target.ends_with("/events"))
            .collect();
        assert_eq!(sent.len(), 1, "{lang:?}: only the bound request is sent");
        assert_eq!(sent[0].header("authorization"), Some(bearer.as_str()));
        let records = lab.run_records(inject_script(lang));
        let injected = records
            .iter()
            .filter(|r| r["kind"] == "http.request" && r["injected"] == "posthog-read");
        let statuses: Vec<_> = injected.map(|r| r["status"].clone()).collect();
        assert!(statuses.contains(&200.into()), "{lang:?}: {statuses:?}");
    }
}
