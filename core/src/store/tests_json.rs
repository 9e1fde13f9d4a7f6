//! Test helper: writing an edited store file in the writer's exact spelling,
//! so tampering tests reach the checks behind the canonical-form check.

use std::fs;
use std::path::Path;

use serde_json::Value;

use super::STORE_FILE;

/// Writes `json` as the store file in its canonical spelling.
pub(super) fn write_json(dir: &Path, json: &Value) {
    let mut text = String::new();
    canonical(json, 0, &mut text);
    text.push('\n');
    fs::write(dir.join(STORE_FILE), text).unwrap();
}

#[test]
fn canonical_writer_matches_the_store_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = super::Store::init(dir.path()).unwrap();
    let (p, n) = (
        super::tests::project("analytics"),
        super::tests::secret("a-b"),
    );
    store.set(&p, &n, &super::tests::value(b"x\"\x7f")).unwrap();
    let before = fs::read(dir.path().join(STORE_FILE)).unwrap();
    write_json(
        dir.path(),
        &serde_json::from_slice(&fs::read(dir.path().join(STORE_FILE)).unwrap()).unwrap(),
    );
    assert_eq!(fs::read(dir.path().join(STORE_FILE)).unwrap(), before);
}

/// The writer's field order; unknown fields go last.
const FIELD_ORDER: [&str; 24] = [
    "format",
    "store_id",
    "kek",
    "source",
    "kdf",
    "memory_kib",
    "passes",
    "lanes",
    "salt",
    "kek_id",
    "wrap_nonce",
    "wrapped_key",
    "key_id",
    "subkey_nonce",
    "subkey_seed",
    "generation",
    "entries",
    "project",
    "name",
    "version",
    "created",
    "nonce",
    "ciphertext",
    "mac",
];

/// Pretty JSON as the store writer spells it (serde_json's two-space style,
/// struct field order), since `Value` sorts object keys.
fn canonical(value: &Value, depth: usize, out: &mut String) {
    let pad = |d: usize| "  ".repeat(d);
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                canonical(item, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}]", pad(depth)));
        }
        Value::Object(map) if !map.is_empty() => {
            let rank = |k: &str| FIELD_ORDER.iter().position(|f| *f == k).unwrap_or(99);
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| rank(k));
            out.push_str("{\n");
            for (i, key) in keys.iter().enumerate() {
                out.push_str(&format!(
                    "{}{}: ",
                    pad(depth + 1),
                    Value::from(key.as_str())
                ));
                canonical(&map[key.as_str()], depth + 1, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}}}", pad(depth)));
        }
        other => out.push_str(&other.to_string()),
    }
}
