//! Adversarial store tests: wrong keys, tampered and moved ciphertexts,
//! deleted entries, malformed files. Every failure must leave the files as
//! they were and say nothing about the value.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use super::tests::{canary, project, secret, value};
use super::tests_json::write_json;
use super::*;

/// A change made to the parsed store file.
type Edit = fn(&mut Value);

/// A store with two secrets; returns the secret values.
fn populated(dir: &Path) -> (String, String) {
    let mut store = Store::init(dir).unwrap();
    let (a, b) = (canary(), canary());
    store
        .set(
            &project("analytics"),
            &secret("posthog-read"),
            &value(a.as_bytes()),
        )
        .unwrap();
    store
        .set(
            &project("analytics"),
            &secret("other"),
            &value(b.as_bytes()),
        )
        .unwrap();
    (a, b)
}

fn store_json(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join(STORE_FILE)).unwrap()).unwrap()
}

/// The data key of the (still intact) store in `dir`.
fn data_key(dir: &Path) -> crypto::RootKey {
    let store = Store::open(dir).unwrap();
    secrecy::SecretBox::init_with_mut(|k: &mut [u8; 32]| {
        k.copy_from_slice(secrecy::ExposeSecret::expose_secret(&store.key))
    })
}

/// Recomputes the whole-file MAC with the real data key: what an attacker
/// holding the key could do, to show the AEAD binding holds on its own.
fn remac(dir: &Path, key: &crypto::RootKey) {
    let path = dir.join(STORE_FILE);
    let mut data = format::parse(&path, &fs::read(&path).unwrap()).unwrap();
    data.mac = crypto::list_mac(key, &data.mac_input());
    fs::write(&path, format::serialize(&data)).unwrap();
}

fn flip_ciphertext_byte(dir: &Path, index: usize) {
    let mut json = store_json(dir);
    let field = &mut json["entries"][index]["ciphertext"];
    let mut text = field.as_str().unwrap().to_owned();
    let flipped = if text.starts_with('0') { "1" } else { "0" };
    text.replace_range(0..1, flipped);
    *field = Value::String(text);
    write_json(dir, &json);
}

/// The error opening the store, or else decrypting analytics/posthog-read.
fn decrypt_err(dir: &Path) -> StoreError {
    match Store::open(dir) {
        Err(err) => err,
        Ok(store) => store
            .decrypt(&project("analytics"), &secret("posthog-read"))
            .err()
            .unwrap(),
    }
}

fn assert_quiet(err: &StoreError, dir: &Path, values: &[&str]) {
    let text = format!("{err} {err:?} {}", err.hint().unwrap_or_default());
    let json = store_json(dir);
    for entry in json["entries"].as_array().unwrap() {
        let ciphertext = entry["ciphertext"].as_str().unwrap();
        assert!(
            !text.contains(&ciphertext[..32]),
            "ciphertext in error: {text}"
        );
    }
    for v in values {
        assert!(!text.contains(v), "value in error: {text}");
    }
}

#[test]
fn wrong_key_and_flipped_byte_give_the_same_error() {
    let wrong = tempfile::tempdir().unwrap();
    let (a, b) = populated(wrong.path());
    let key = wrong.path().join(KEY_FILE);
    fs::write(&key, crypto::random::<32>().unwrap()).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let wrong_key = decrypt_err(wrong.path());

    let flipped = tempfile::tempdir().unwrap();
    populated(flipped.path());
    flip_ciphertext_byte(flipped.path(), 1);
    let flipped_byte = decrypt_err(flipped.path());

    assert!(
        matches!(wrong_key, StoreError::Unauthenticated { .. }),
        "{wrong_key}"
    );
    assert!(
        matches!(flipped_byte, StoreError::Unauthenticated { .. }),
        "{flipped_byte}"
    );
    let (wrong_text, flipped_text) = (wrong_key.to_string(), flipped_byte.to_string());
    let strip = |text: &str, dir: &Path| text.replace(&dir.display().to_string(), "DIR");
    assert_eq!(
        strip(&wrong_text, wrong.path()),
        strip(&flipped_text, flipped.path())
    );
    assert!(wrong_text.ends_with("wrong key (key file or passphrase) or corrupted store"));
    assert_eq!(wrong_key.hint(), flipped_byte.hint());
    assert_quiet(&wrong_key, wrong.path(), &[&a, &b]);
}

#[test]
fn flipped_byte_fails_even_with_a_valid_list_mac() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let key = data_key(dir.path());
    flip_ciphertext_byte(dir.path(), 1);
    remac(dir.path(), &key);
    assert!(Store::open(dir.path()).unwrap().check_integrity().is_ok());
    assert!(matches!(
        decrypt_err(dir.path()),
        StoreError::Undecryptable { .. }
    ));
    let store = Store::open(dir.path()).unwrap();
    assert!(
        store
            .decrypt(&project("analytics"), &secret("other"))
            .is_ok()
    );
}

#[test]
fn ciphertext_moved_to_another_name_fails() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let key = data_key(dir.path());
    // Entries are sorted: [0] is analytics/other, [1] analytics/posthog-read.
    let mut json = store_json(dir.path());
    let donor = json["entries"][0].clone();
    for field in ["nonce", "ciphertext"] {
        json["entries"][1][field] = donor[field].clone();
    }
    write_json(dir.path(), &json);
    assert!(matches!(
        decrypt_err(dir.path()),
        StoreError::Unauthenticated { .. }
    ));
    remac(dir.path(), &key);
    assert!(matches!(
        decrypt_err(dir.path()),
        StoreError::Undecryptable { .. }
    ));
}

#[test]
fn edited_version_project_or_store_id_fails() {
    // Entries sorted: [0] analytics/other, [1] web/posthog-read.
    let edits: [(&str, Edit); 3] = [
        ("version", |j| j["entries"][1]["version"] = 2.into()),
        ("store id", |j| j["store_id"] = "00".repeat(16).into()),
        ("project", |j| j["entries"][1]["project"] = "ci".into()),
    ];
    for (what, edit) in edits {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::init(dir.path()).unwrap();
        store
            .set(&project("analytics"), &secret("other"), &value(b"o"))
            .unwrap();
        store
            .set(&project("web"), &secret("posthog-read"), &value(b"v"))
            .unwrap();
        let key = data_key(dir.path());
        let mut json = store_json(dir.path());
        edit(&mut json);
        write_json(dir.path(), &json);
        remac(dir.path(), &key);
        // A new store id also fails to unwrap the data key: refused at open.
        let err = match Store::open(dir.path()) {
            Err(err) => err,
            Ok(store) => {
                let holders = store.projects_holding(&secret("posthog-read"));
                assert_eq!(holders.len(), 1, "{what}");
                store
                    .decrypt(&holders[0], &secret("posthog-read"))
                    .err()
                    .unwrap()
            }
        };
        assert!(
            matches!(
                err,
                StoreError::Undecryptable { .. } | StoreError::Unauthenticated { .. }
            ),
            "{what}: {err}"
        );
    }
}

#[test]
fn deleted_entry_is_detected_and_blocks_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = populated(dir.path());
    let mut store = Store::open(dir.path()).unwrap();
    let mut json = store_json(dir.path());
    json["entries"].as_array_mut().unwrap().remove(0);
    write_json(dir.path(), &json);
    let before = fs::read(dir.path().join(STORE_FILE)).unwrap();
    assert!(matches!(
        store.check_integrity(),
        Err(StoreError::Unauthenticated { .. })
    ));
    assert!(matches!(
        decrypt_err(dir.path()),
        StoreError::Unauthenticated { .. }
    ));
    let err = store
        .set(&project("analytics"), &secret("new"), &value(b"n"))
        .unwrap_err();
    assert!(matches!(err, StoreError::Unauthenticated { .. }), "{err}");
    assert_quiet(&err, dir.path(), &[&a]);
    assert_eq!(fs::read(dir.path().join(STORE_FILE)).unwrap(), before);
}

#[test]
fn wrong_key_cannot_write_into_a_store() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let before = fs::read(dir.path().join(STORE_FILE)).unwrap();
    fs::write(dir.path().join(KEY_FILE), [3u8; 32]).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Unauthenticated { .. }), "{err}");
    assert_eq!(fs::read(dir.path().join(STORE_FILE)).unwrap(), before);
}

#[test]
fn truncated_or_garbage_file_is_reported_and_left_untouched() {
    let garbage: [&[u8]; 4] = [b"", b"\x00\xffnot json", b"[1, 2]", b"{\"format\": 2}"];
    for case in 0..garbage.len() + 1 {
        let dir = tempfile::tempdir().unwrap();
        populated(dir.path());
        let mut handle = Store::open(dir.path()).unwrap();
        let path = dir.path().join(STORE_FILE);
        let original = fs::read(&path).unwrap();
        let broken = match garbage.get(case) {
            Some(bytes) => bytes.to_vec(),
            None => original[..original.len() / 2].to_vec(),
        };
        fs::write(&path, &broken).unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(
            matches!(err, StoreError::Malformed { .. }),
            "case {case}: {err}"
        );
        assert!(err.to_string().contains(STORE_FILE), "{err}");
        assert!(err.hint().unwrap().contains("untouched"));
        let err = handle
            .set(&project("p"), &secret("s"), &value(b"v"))
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Malformed { .. }),
            "case {case}: {err}"
        );
        assert_eq!(
            fs::read(&path).unwrap(),
            broken,
            "case {case}: file rewritten"
        );
    }
}

#[test]
fn unknown_fields_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let clean = store_json(dir.path());
    let edits: [Edit; 2] = [
        |j| j["comment"] = "hi".into(),
        |j| j["entries"][0]["plaintext"] = "oops".into(),
    ];
    for edit in edits {
        let mut json = clean.clone();
        edit(&mut json);
        write_json(dir.path(), &json);
        let err = Store::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}

#[test]
fn strict_parsing_rejects_malformed_values() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let clean = fs::read_to_string(dir.path().join(STORE_FILE)).unwrap();
    let json: Value = serde_json::from_str(&clean).unwrap();
    let nonce = json["entries"][0]["nonce"].as_str().unwrap().to_owned();
    let mac = json["mac"].as_str().unwrap().to_owned();
    let entry = serde_json::to_string(&json["entries"][0]).unwrap();
    let cases = [
        clean.replacen(&nonce, &nonce.to_uppercase(), 1),
        clean.replacen(&nonce, &nonce[2..], 1),
        clean.replacen("\"version\": 1", "\"version\": 0", 1),
        clean.replacen(
            "\"project\": \"analytics\"",
            "\"project\": \"Analytics\"",
            1,
        ),
        clean.replacen("\"created\": \"", "\"created\": \"yesterday", 1),
        clean.replacen(
            "\"generation\"",
            &format!("\"mac\": \"{mac}\", \"generation\""),
            1,
        ),
        clean.replacen("\"entries\": [", &format!("\"entries\": [{entry},"), 1),
    ];
    for (i, case) in cases.iter().enumerate() {
        fs::write(dir.path().join(STORE_FILE), case).unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(
            matches!(err, StoreError::Malformed { .. }),
            "case {i}: {err}"
        );
    }
}

#[test]
fn newer_format_version_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let mut json = store_json(dir.path());
    json["format"] = 3.into();
    json["new_field"] = true.into();
    write_json(dir.path(), &json);
    let err = Store::open(dir.path()).err().unwrap();
    assert!(
        matches!(err, StoreError::UnsupportedFormat { found: 3, .. }),
        "{err}"
    );
}

#[test]
fn reformatted_store_is_refused_and_left_untouched() {
    // The file has one spelling, so no byte of it can change unnoticed.
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let json = store_json(dir.path());
    let compact = serde_json::to_vec(&json).unwrap();
    fs::write(dir.path().join(STORE_FILE), &compact).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("canonical"), "{err}");
    assert_eq!(fs::read(dir.path().join(STORE_FILE)).unwrap(), compact);
}
