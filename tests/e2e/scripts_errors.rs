//! Scripts' standard library and errors: every listed module (Python) and
//! built-in (JavaScript) is there, anything else is a clear error naming what
//! is, and an uncaught exception or a syntax error prints the script's own
//! traceback and exits 1: never a trap, never a wasm backtrace, and a syntax
//! error before any secret is resolved. The built examples catch at the task
//! boundary the same way (polyglot.rs builds them).

use std::process::Output;

use crate::harness::*;
use crate::scripts::{LANGS, Lang, kinds, lab};

/// The curated Python standard library of docs/scripts.md.
const PYTHON_MODULES: &[&str] = &[
    "argparse",
    "base64",
    "binascii",
    "bisect",
    "calendar",
    "collections",
    "collections.abc",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "fnmatch",
    "fractions",
    "functools",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "math",
    "operator",
    "os",
    "os.path",
    "pprint",
    "random",
    "re",
    "secrets",
    "shlex",
    "statistics",
    "string",
    "struct",
    "sys",
    "textwrap",
    "time",
    "traceback",
    "typing",
    "unicodedata",
    "urllib",
    "urllib.parse",
    "uuid",
    "zlib",
];

/// The JavaScript globals of docs/scripts.md.
const JS_GLOBALS: &[&str] = &[
    "JSON",
    "Math",
    "Date",
    "RegExp",
    "Map",
    "Set",
    "Promise",
    "BigInt",
    "TextEncoder",
    "TextDecoder",
    "URL",
    "URLSearchParams",
    "atob",
    "btoa",
    "crypto",
    "console",
    "structuredClone",
];

/// What a failed script must never show.
fn assert_no_trap(out: &Output, lang: Lang) {
    let err = stderr(out);
    for bad in [
        "wasm backtrace",
        "trapped",
        "panicked",
        "interpreter.py",
        "interpreter.js",
    ] {
        assert!(!err.contains(bad), "{lang:?}: {bad:?} in:\n{}", text(out));
    }
    assert_eq!(out.status.code(), Some(1), "{lang:?}: {}", text(out));
}

#[test]
fn every_listed_module_imports_and_others_are_a_clear_error() {
    let Some(lab) = lab() else { return };
    let python = "# curated imports\nimport sys\nfor name in sys.argv[1:]:\n    __import__(name)\n\
                  print('imported', len(sys.argv) - 1)\nimport json, hashlib, urllib.parse\n\
                  print(json.dumps({'h': hashlib.sha256(b'x').hexdigest()[:8]}), \
                  urllib.parse.quote('a b'))\n";
    let out = lab.exec(Lang::Python, "imports", python, "scripts", PYTHON_MODULES);
    assert!(out.status.success(), "{}", text(&out));
    let imported = format!("imported {}", PYTHON_MODULES.len());
    assert!(stdout(&out).contains(&imported), "{}", text(&out));
    assert!(
        stdout(&out).contains(r#"{"h": "2d711642"} a%20b"#),
        "{}",
        text(&out)
    );
    let js = "// curated globals\nconst missing = process.argv.slice(2)\n  \
              .filter((name) => typeof globalThis[name] === \"undefined\");\n\
              console.log(`missing [${missing}]`, new URL(\"http://h/p?q=1\").searchParams.get(\"q\"));\n";
    let out = lab.exec(Lang::Js, "imports", js, "scripts", JS_GLOBALS);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("missing [] 1"), "{}", text(&out));
    for (lang, script, module, listed) in [
        (
            Lang::Python,
            "# not listed\nimport json\nimport socket\n",
            "'socket'",
            "json",
        ),
        (
            Lang::Python,
            "# not listed 2\nfrom urllib import request\n",
            "'urllib.request'",
            "urllib.parse",
        ),
        (
            Lang::Js,
            "// not listed\nimport fs from \"node:fs\";\n",
            "\"node:fs\"",
            "scopehold",
        ),
    ] {
        let out = lab.exec(lang, "not-listed", script, "scripts", &[]);
        assert_no_trap(&out, lang);
        let message = format!("module {module} is not available to ScopeHold scripts; available: ");
        assert!(stderr(&out).contains(&message), "{lang:?}: {}", text(&out));
        assert!(stderr(&out).contains(listed), "{lang:?}: {}", text(&out));
    }
}

pub fn raising(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => {
            "# raises\ndef check(n):\n    raise ValueError(f\"bad value {n}\")\n\ncheck(7)\n"
        }
        Lang::Js => {
            "// raises\nimport {\n  getSecret,\n} from \"scopehold\";\nfunction check(n) {\n  throw new RangeError(`bad value ${n}`);\n}\ncheck(7);\n"
        }
    }
}

#[test]
fn an_uncaught_exception_prints_the_scripts_traceback_and_exits_1() {
    let Some(lab) = lab() else { return };
    for lang in LANGS {
        let out = lab.exec(lang, "raises", raising(lang), "scripts", &[]);
        assert_no_trap(&out, lang);
        let expected: &[&str] = match lang {
            Lang::Python => &[
                "Traceback (most recent call last):",
                "File \"raises.py\", line 5, in <module>",
                "File \"raises.py\", line 3, in check",
                "ValueError: bad value 7",
            ],
            Lang::Js => &[
                "RangeError: bad value 7",
                "at check (raises.js:6:",
                "(raises.js:8:",
            ],
        };
        for line in expected {
            assert!(
                stderr(&out).contains(line),
                "{lang:?}: {line:?} missing:\n{}",
                text(&out)
            );
        }
        let records = lab.run_records(raising(lang));
        assert_eq!(records.last().unwrap()["exit_code"], 1);
        assert_eq!(records.last().unwrap()["outcome"], "exited");
    }
}

pub fn broken(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => {
            "from scopehold import get_secret\nprint(len(get_secret('posthog-read')))\nif True\n    pass\n"
        }
        Lang::Js => {
            "import { getSecret } from \"scopehold\";\nconsole.log(getSecret(\"posthog-read\").length);\nlet x = ;\n"
        }
    }
}

#[test]
fn a_syntax_error_is_reported_before_anything_runs_or_resolves() {
    let Some(lab) = lab() else { return };
    for lang in LANGS {
        let out = lab.exec(lang, "broken", broken(lang), "scripts", &[]);
        assert_no_trap(&out, lang);
        let expected: &[&str] = match lang {
            Lang::Python => &["File \"broken.py\", line 3", "SyntaxError"],
            Lang::Js => &["broken.js:3:9", "SyntaxError", "let x = ;"],
        };
        for line in expected {
            assert!(
                stderr(&out).contains(line),
                "{lang:?}: {line:?} missing:\n{}",
                text(&out)
            );
        }
        assert!(
            stdout(&out).is_empty(),
            "{lang:?}: the script ran:\n{}",
            text(&out)
        );
        let records = lab.run_records(broken(lang));
        assert_eq!(kinds(&records), ["exec.start", "exec.end"], "{lang:?}");
    }
}
