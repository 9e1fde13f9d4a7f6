//! Runs every test vector in `core/tests/audit-vectors/` through
//! [`verify_anchored`] and compares the result with its `expected` file.

use std::fs;

use super::vectors_gen::vector_key;
use super::*;

fn load(dir: &Path, name: &str) -> Option<Checkpoint> {
    let text = fs::read_to_string(dir.join(name)).ok()?;
    Some(Checkpoint::parse(&text).unwrap())
}

/// The verdict in the `expected` file's format.
fn describe(result: &Anchored) -> String {
    let mut out = format!("verdict: {}\n", result.verdict.code());
    if result.missing {
        out.push_str("missing: true\n");
    }
    match &result.report.first_problem {
        None => out.push_str("problem: none\n"),
        Some(p) => {
            let seq = p.seq.map_or("-".to_owned(), |s| s.to_string());
            out += &format!("problem: {} seq={seq} line={}", p.kind.code(), p.line);
            if p.file != AUDIT_FILE {
                out += &format!(" file={}", p.file);
            }
            out.push('\n');
        }
    }
    for check in &result.checks {
        let source = match check.source {
            AnchorSource::Local => "local",
            AnchorSource::Exported => "anchor",
        };
        out += &format!("{source}: {}\n", check.outcome.code());
    }
    out
}

fn check_vector(dir: &Path) -> Result<(), String> {
    let mut checkpoints = Vec::new();
    if let Some(cp) = load(dir, "checkpoint") {
        checkpoints.push((AnchorSource::Local, cp));
    }
    if let Some(cp) = load(dir, "anchor") {
        checkpoints.push((AnchorSource::Exported, cp));
    }
    let key = vector_key();
    let result = verify_anchored(&dir.join("audit.jsonl"), checkpoints, Some(&key))
        .map_err(|e| e.to_string())?;
    let expected = fs::read_to_string(dir.join("expected")).map_err(|e| e.to_string())?;
    let actual = describe(&result);
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let prefix_ok = match name.starts_with("ok_") {
        true => result.verdict != Verdict::Invalid,
        false => result.verdict == Verdict::Invalid,
    };
    match actual == expected && prefix_ok {
        true => Ok(()),
        false => Err(format!("{name}:\nexpected\n{expected}actual\n{actual}")),
    }
}

#[test]
fn every_vector_gets_its_expected_verdict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/audit-vectors");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 30,
        "only {} vectors in {}",
        dirs.len(),
        root.display()
    );
    let failures: Vec<String> = dirs.iter().filter_map(|d| check_vector(d).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn committed_vectors_are_what_the_generator_writes() {
    // Guards against a vector edited by hand into agreement with a bug.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/audit-vectors");
    let generated = super::vectors_gen::vectors();
    for v in &generated {
        let dir = root.join(v.name);
        let expected = fs::read_to_string(dir.join("expected")).unwrap();
        assert_eq!(expected, v.expected.trim_start(), "{}", v.name);
        let mut files = vec![("expected".to_owned(), expected.into_bytes())];
        files.extend(v.log.clone().map(|log| (AUDIT_FILE.to_owned(), log)));
        for (first_seq, bytes) in &v.sealed {
            let name = sealed_path(Path::new(AUDIT_FILE), *first_seq);
            files.push((name.to_string_lossy().into_owned(), bytes.clone()));
        }
        for (name, cp) in [("checkpoint", &v.local), ("anchor", &v.anchor)] {
            files.extend(
                cp.as_ref()
                    .map(|cp| (name.to_owned(), format!("{cp}\n").into_bytes())),
            );
        }
        let mut on_disk: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        assert_eq!(on_disk, names, "{}", v.name);
        for (name, bytes) in files {
            assert!(
                fs::read(dir.join(&name)).unwrap() == bytes,
                "{}/{name} differs",
                v.name
            );
        }
    }
}
