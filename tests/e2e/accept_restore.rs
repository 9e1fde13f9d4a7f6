//! `runner accept-restore`: an older store file put back on purpose is
//! accepted only when asked explicitly, only if it is a genuine store file,
//! and the acceptance is audited.

use crate::harness::*;

fn store_path(world: &World) -> std::path::PathBuf {
    world.home().join("secrets.json")
}

fn store_bytes(world: &World) -> Vec<u8> {
    std::fs::read(store_path(world)).unwrap()
}

/// A world whose store file was put back to a copy taken at generation 1,
/// after two more writes (generation 3 recorded). Returns the old value.
fn restored_world() -> (World, String) {
    let world = World::new();
    let old = canary();
    world.set_secret("analytics", "posthog-read", &old);
    let backup = store_bytes(&world);
    world.set_secret("analytics", "second", "v");
    world.ok(&["secret", "rm", "second"]);
    std::fs::write(store_path(&world), backup).unwrap();
    (world, old)
}

#[test]
fn a_rollback_hint_names_accept_restore_and_without_yes_nothing_changes() {
    let (world, _) = restored_world();
    let list = world.run(&["secret", "list"]);
    assert!(!list.status.success(), "{}", text(&list));
    assert!(
        stderr(&list).contains("runner accept-restore"),
        "{}",
        text(&list)
    );
    let before = store_bytes(&world);
    let records = world.records().len();
    let dry = world.run(&["accept-restore"]);
    assert_eq!(dry.status.code(), Some(1), "{}", text(&dry));
    let shown = stdout(&dry);
    assert!(
        shown.contains("generation 1, older than generation 3"),
        "{shown}"
    );
    assert!(shown.contains("analytics  posthog-read  1"), "{shown}");
    assert!(stderr(&dry).contains("--yes"), "{}", text(&dry));
    assert_eq!(store_bytes(&world), before, "the store file changed");
    assert_eq!(world.records().len(), records, "something was recorded");
}

#[test]
fn accepting_a_restore_restamps_it_and_records_it() {
    let (world, old) = restored_world();
    let out = world.run(&["accept-restore", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("now at generation 4"),
        "{}",
        text(&out)
    );
    let restore = &world.records_of("store.restore")[0];
    assert_eq!(restore["generation"], 1);
    assert_eq!(restore["replaces"], 3);
    let last_write = world.records_of("store.write").pop().unwrap();
    assert_eq!(last_write["generation"], 4);
    // The restored secret resolves again, the log verifies, and there is
    // nothing more to accept.
    let get = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    let hash = blake3::hash(old.as_bytes()).to_hex();
    assert!(stdout(&get).contains(hash.as_str()), "{}", text(&get));
    let verify = world.run(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    let again = world.run(&["accept-restore", "--yes"]);
    assert!(
        stdout(&again).contains("nothing to accept"),
        "{}",
        text(&again)
    );
    assert!(!contains(&std::fs::read(world.audit_path()).unwrap(), &old));
}

#[test]
fn a_tampered_older_file_is_not_accepted() {
    let (world, _) = restored_world();
    let text_of = String::from_utf8(store_bytes(&world)).unwrap();
    // Claim a newer generation without the key: the MAC no longer matches.
    let forged = text_of.replacen("\"generation\": 1", "\"generation\": 9", 1);
    assert_ne!(
        forged, text_of,
        "the store file spells its generation differently"
    );
    std::fs::write(store_path(&world), &forged).unwrap();
    let out = world.run(&["accept-restore", "--yes"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("integrity check"), "{}", text(&out));
    assert_eq!(
        store_bytes(&world),
        forged.as_bytes(),
        "the file was changed"
    );
    assert!(world.records_of("store.restore").is_empty());
}
