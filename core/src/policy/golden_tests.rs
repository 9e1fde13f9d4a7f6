//! Golden tests over `core/tests/policy/`: every `fail_<case>.toml` must be
//! rejected with exactly the text of `fail_<case>.err` (the error as `main`
//! prints it: `error: ...` then `hint: ...`), and every `ok_<case>.toml` must
//! load. Run with `UPDATE_GOLDEN=1` to rewrite the `.err` files, then review
//! the diff.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Policy, PolicyError};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policy")
}

/// The error as the binary prints it.
fn render(err: &PolicyError) -> String {
    format!("error: {err}\nhint: {}\n", err.hint().unwrap_or_default())
}

/// Loads `file` under its bare name, so expected text does not depend on
/// where the repository is checked out.
fn load(file: &Path) -> Result<Policy, PolicyError> {
    let name = file.file_name().expect("file name");
    Policy::from_bytes(&fs::read(file).expect("read golden case"), Path::new(name))
}

fn check_fail(case: &Path, update: bool) -> Result<(), String> {
    let actual = match load(case) {
        Ok(_) => return Err(format!("{} was accepted", case.display())),
        Err(err) => render(&err),
    };
    let expected_path = case.with_extension("err");
    if update {
        fs::write(&expected_path, &actual).expect("write golden file");
        return Ok(());
    }
    match fs::read_to_string(&expected_path) {
        Ok(expected) if expected == actual => Ok(()),
        Ok(expected) => Err(format!(
            "{}:\n--- expected\n{expected}--- actual\n{actual}",
            case.display()
        )),
        Err(e) => Err(format!(
            "{}: {e} (run with UPDATE_GOLDEN=1)",
            expected_path.display()
        )),
    }
}

#[test]
fn golden_cases() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = fs::read_dir(golden_dir())
        .expect("core/tests/policy exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    cases.sort();
    let (mut failed, mut fail_cases, mut ok_cases) = (Vec::new(), 0, 0);
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy();
        if name.starts_with("fail_") {
            fail_cases += 1;
            failed.extend(check_fail(case, update).err());
        } else if name.starts_with("ok_") {
            ok_cases += 1;
            if let Err(err) = load(case) {
                failed.push(format!("{name} was rejected:\n{}", render(&err)));
            }
        }
    }
    assert!(fail_cases >= 10 && ok_cases >= 1, "golden cases missing");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
