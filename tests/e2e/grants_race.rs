//! Two `runner grant` at once, and grants during a running `exec`: the
//! lock serialises the editors (no lost update) and the atomic replace
//! means a reader never sees a torn tasks.toml.

use serde_json::Value;

use crate::harness::{POLICY, World, stdout, text};

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[test]
fn concurrent_grants_lose_no_update_and_the_file_always_parses() {
    // `sleeper` runs a task that waits until its 3 s timeout stops it: the
    // grants below are made while it runs.
    let world = World::with_policy(&format!(
        "{POLICY}\n[agents.sleeper]\nproject = \"analytics\"\nlimits = {{ timeout = \"3s\" }}\n"
    ));
    let agents: Vec<String> = (0..6).map(|i| format!("bot{i}")).collect();
    for agent in &agents {
        world.ok(&["agent", "add", agent, "--project", "analytics"]);
    }
    world.set_secret("analytics", "mixpanel", "v");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // A reader loading the file the whole time, as a running exec does.
        let reader = s.spawn(|| check_parses_until(&world, &stop));
        let sleeping = world
            .exec_cmd("hog", "sleeper", &["sleep"])
            .spawn()
            .unwrap();
        wait_for_start(&world);
        let grants: Vec<_> = agents
            .iter()
            .map(|agent| s.spawn(|| world.run(&["grant", "mixpanel", "--agent", agent])))
            .collect();
        for grant in grants {
            let out = grant.join().unwrap();
            assert!(out.status.success(), "{}", text(&out));
        }
        let run = sleeping.wait_with_output().unwrap();
        assert_eq!(run.status.code(), Some(124), "{}", text(&run));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap();
    });
    let listed = json_lines(&world.ok(&["agent", "list", "--json"]));
    for agent in &agents {
        let row = listed.iter().find(|a| a["name"] == agent.as_str()).unwrap();
        assert_eq!(
            row["grants"],
            serde_json::json!(["mixpanel"]),
            "{agent} lost its grant"
        );
    }
    assert_eq!(world.records_of("grant.add").len(), agents.len());
    let kinds: Vec<String> = world
        .records()
        .iter()
        .map(|r| r["kind"].to_string())
        .collect();
    let start = kinds.iter().position(|k| k == "\"exec.start\"").unwrap();
    let end = kinds.iter().position(|k| k == "\"exec.end\"").unwrap();
    let granted = kinds.iter().filter(|k| *k == "\"grant.add\"").count();
    let during = kinds[start..end]
        .iter()
        .filter(|k| *k == "\"grant.add\"")
        .count();
    assert_eq!(
        during, granted,
        "the grants were made during the run: {kinds:?}"
    );
    world.ok(&["audit", "verify"]);
}

/// Waits until the sleeping run has recorded its start.
fn wait_for_start(world: &World) {
    for _ in 0..200 {
        if !world.records_of("exec.start").is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the run did not start");
}

fn check_parses_until(world: &World, stop: &std::sync::atomic::AtomicBool) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let text = std::fs::read_to_string(world.config()).unwrap();
        assert!(
            toml::from_str::<toml::Table>(&text).is_ok(),
            "torn file:\n{text}"
        );
        assert!(text.contains("[agents.support-analysis]"));
    }
}
