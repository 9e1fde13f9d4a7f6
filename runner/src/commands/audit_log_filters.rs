//! What `audit log` filters and keeps: the outcomes `--outcome` accepts,
//! and the last N records `-n` keeps while the log streams by.

use std::collections::VecDeque;

/// Every outcome a record can have: `secret.resolve`/`deny`, `http.request`
/// decisions, `exec.refused`, and the `exec.end` outcomes
/// ([`crate::sandbox::Outcome::token`]).
pub const OUTCOMES: [&str; 14] = [
    "resolved",
    "denied",
    "allowed",
    "refused",
    "exited",
    "trapped",
    "interrupted",
    "store-unusable",
    "limit-timeout",
    "limit-memory",
    "limit-instances",
    "limit-secret-calls",
    "limit-output",
    "limit-requests",
];

/// `--outcome`: one of [`OUTCOMES`]; a typo is an error listing them.
pub fn parse_outcome(text: &str) -> Result<String, String> {
    match OUTCOMES.contains(&text) {
        true => Ok(text.to_owned()),
        false => Err(format!(
            "{text:?} is not an outcome; valid outcomes: {}",
            OUTCOMES.join(", ")
        )),
    }
}

/// Appends `line`, dropping the oldest so at most `n` remain.
pub fn keep_last(tail: &mut VecDeque<String>, n: usize, line: String) {
    if n == 0 {
        return;
    }
    if tail.len() == n {
        tail.pop_front();
    }
    tail.push_back(line);
}
