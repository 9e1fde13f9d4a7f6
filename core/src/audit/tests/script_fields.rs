//! `exec.start` of a script run: `script` and `script_bytes` after
//! `policy_path`, hashed as `docs/audit-format.md` specifies; without them
//! the record is encoded exactly as before scripts existed, so old logs
//! verify unchanged; one without the other is rejected.

use super::*;
use crate::audit::encode::HASH_CONTEXT;

fn start(script: Option<(Hash, u64)>) -> Event {
    let (script, script_bytes) = script.unzip();
    Event::ExecStart {
        run: run_id(0xaa),
        agent: agent("support-analysis"),
        project: project("analytics"),
        component: Hash::from_bytes([0x33; 32]),
        policy: Hash::from_bytes([0x44; 32]),
        policy_path: "/home/op/tasks.toml".into(),
        script,
        script_bytes,
    }
}

fn encoding(extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut fields: Vec<(&str, &[u8])> = vec![
        ("v", &[1, 0, 0, 0]),
        ("log", &[0x01; 16]),
        ("seq", &[5, 0, 0, 0, 0, 0, 0, 0]),
        ("ts", b"2026-11-26T12:00:00.123456Z"),
        ("kind", b"exec.start"),
        ("run", &[0xaa; 16]),
        ("agent", b"support-analysis"),
        ("project", b"analytics"),
        ("component", &[0x33; 32]),
        ("policy", &[0x44; 32]),
        ("policy_path", b"/home/op/tasks.toml"),
    ];
    fields.extend_from_slice(extra);
    fields.push(("prev", &[0x22; 32]));
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(&(name.len() as u64).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value);
    }
    out
}

fn seal(event: Event) -> Record {
    let ts = datetime!(2026-11-26 12:00:00.123456 UTC);
    Record::seal(
        LogId::from_bytes([0x01; 16]),
        5,
        ts,
        Hash::from_bytes([0x22; 32]),
        event,
    )
    .unwrap()
}

fn spec_hash(encoding: &[u8]) -> Hash {
    blake3::Hasher::new_derive_key(HASH_CONTEXT)
        .update(encoding)
        .finalize()
        .into()
}

#[test]
fn a_script_run_records_its_digest_and_size_after_the_policy_path() {
    let script = Hash::from_bytes([0x55; 32]);
    let record = seal(start(Some((script, 79))));
    let extra: [(&str, &[u8]); 2] = [
        ("script", &[0x55; 32]),
        ("script_bytes", &79u64.to_le_bytes()),
    ];
    assert_eq!(record.hash, spec_hash(&encoding(&extra)));
    let line = record.to_line().unwrap();
    let tail = format!(
        r#""policy_path":"/home/op/tasks.toml","script":"{script}","script_bytes":79,"prev""#
    );
    assert!(line.contains(&tail), "{line}");
    assert_eq!(Record::parse_line(line.as_bytes()).unwrap(), record);
}

#[test]
fn a_component_run_is_encoded_as_before_scripts() {
    let record = seal(start(None));
    assert_eq!(record.hash, spec_hash(&encoding(&[])));
    let line = record.to_line().unwrap();
    assert!(!line.contains("script"), "{line}");
    assert_eq!(Record::parse_line(line.as_bytes()).unwrap(), record);
}

#[test]
fn script_without_its_size_or_a_size_without_script_is_rejected() {
    let line = seal(start(Some((Hash::from_bytes([0x55; 32]), 79))))
        .to_line()
        .unwrap();
    let without_size = line.replace(r#","script_bytes":79"#, "");
    let script = format!(r#","script":"{}""#, Hash::from_bytes([0x55; 32]));
    let without_script = line.replace(&script, "");
    for bad in [without_size, without_script] {
        assert!(
            Record::parse_line(bad.as_bytes()).is_err(),
            "accepted: {bad}"
        );
    }
}
