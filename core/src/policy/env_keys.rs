//! Keeping credentials out of `env` in tasks.toml.
//!
//! An `env` value is plain text in a file many people read, and the task
//! gets it in full: a provider key there bypasses the store, the grants and
//! the audit log. [`looks_like_key`] recognises the common key prefixes and,
//! failing those, long random-looking strings; such a value is refused with
//! a hint to store it as a secret, and the error never shows the value
//! (its source line is not printed). [`masked`] is how `explain` shows env
//! values: never in full.

/// Prefixes of well-known provider keys and tokens.
const PREFIXES: &[(&str, &str)] = &[
    ("sk-ant-", "Anthropic"),
    ("sk-", "OpenAI-style"),
    ("sk_live_", "Stripe"),
    ("sk_test_", "Stripe"),
    ("rk_live_", "Stripe"),
    ("ghp_", "GitHub"),
    ("gho_", "GitHub"),
    ("ghu_", "GitHub"),
    ("ghs_", "GitHub"),
    ("ghr_", "GitHub"),
    ("github_pat_", "GitHub"),
    ("glpat-", "GitLab"),
    ("xoxb-", "Slack"),
    ("xoxp-", "Slack"),
    ("xoxa-", "Slack"),
    ("xapp-", "Slack"),
    ("AKIA", "AWS"),
    ("ASIA", "AWS"),
    ("AIza", "Google"),
    ("phc_", "PostHog"),
    ("phx_", "PostHog"),
    ("hf_", "Hugging Face"),
    ("npm_", "npm"),
    ("pypi-", "PyPI"),
    ("SG.", "SendGrid"),
    ("shpat_", "Shopify"),
];

/// Shortest value a prefix match counts for (`sk-` alone is not a key).
const MIN_PREFIXED: usize = 16;
/// Shortest run of letters and digits judged by randomness alone.
const MIN_RANDOM: usize = 24;
/// Bits per character above which such a run looks random (random base62
/// is near 4.5 at this length; words joined by `-` or `/` are short runs).
const MIN_ENTROPY: f64 = 3.8;

/// Why `value` looks like a credential, or `None`.
pub(crate) fn looks_like_key(value: &str) -> Option<String> {
    let token_like = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+/=".contains(c));
    if !token_like {
        return None;
    }
    if value.len() >= MIN_PREFIXED
        && let Some((_, provider)) = PREFIXES.iter().find(|(p, _)| value.starts_with(p))
    {
        return Some(format!("it starts like a {provider} key"));
    }
    value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(random_run)
        .then(|| "it holds a long random-looking string".to_owned())
}

/// A long run of letters and digits, not just hex (digests, commit ids and
/// UUIDs are hex), with digits, that switches often between lowercase,
/// uppercase and digits (words glued together, even in CamelCase, rarely
/// do) and has high entropy.
fn random_run(run: &str) -> bool {
    let class = |b: u8| (b.is_ascii_lowercase(), b.is_ascii_uppercase());
    let switches = run
        .as_bytes()
        .windows(2)
        .filter(|pair| class(pair[0]) != class(pair[1]))
        .count();
    let digits = run.bytes().filter(u8::is_ascii_digit).count();
    run.len() >= MIN_RANDOM
        && digits >= 2
        && switches * 4 >= run.len()
        && !run.chars().all(|c| c.is_ascii_hexdigit())
        && entropy(run) > MIN_ENTROPY
}

/// Shannon entropy of the value's characters, in bits per character.
fn entropy(value: &str) -> f64 {
    let mut counts = [0u32; 128];
    for b in value.bytes() {
        counts[usize::from(b & 0x7f)] += 1;
    }
    let len = value.len() as f64;
    counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / len;
            -p * p.log2()
        })
        .sum()
}

/// An env value as `explain` shows it: at most a third of it (and no more
/// than 3 characters), then its length.
pub fn masked(value: &str) -> String {
    let count = value.chars().count();
    let shown: String = value.chars().take((count / 3).min(3)).collect();
    // Debug-quoted, so control characters come out escaped.
    format!("{:?} ({count} chars)", format!("{shown}…"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_keys_and_random_strings_are_caught() {
        let keys = [
            "sk-proj-aB3dE5fG7hJ9kL1mN3pQ5rS7",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "xoxb-1234567890-0987654321-AbCdEfGhIjKl",
            "AKIAIOSFODNN7EXAMPLE",
            "phc_CANARYa1b2c3d4e5f6a7b8c9d0",
            "Zx8Qp2Lr7Tn4Vb1Kc9Mw3Hy6Gd5Fs0Ja",
            "k3j9x0q2m8w7r4t1z6c5v8b2n0a9s7d3",
            "token=Qm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2Rl",
        ];
        for key in keys {
            assert!(looks_like_key(key).is_some(), "{key} passed");
        }
    }

    #[test]
    fn ordinary_values_pass() {
        let values = [
            "info",
            "https://us.posthog.com/api/projects/12345",
            "sk-short",
            "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
            "123e4567-e89b-12d3-a456-426614174000",
            "/data/reports/2026/weekly-summary-of-tickets.csv",
            "the quick brown fox jumps over the lazy dog again",
            "weeklysummaryofticketsforproduction2026",
            "production-eu-west-1-cluster-42-analytics-readonly",
            "WeeklySummaryOfTicketsForProductionTeams",
            "",
        ];
        for value in values {
            assert_eq!(looks_like_key(value), None, "{value} refused");
        }
    }

    #[test]
    fn masking_never_shows_a_value_in_full() {
        assert_eq!(masked("info"), "\"i…\" (4 chars)");
        assert_eq!(masked("ab"), "\"…\" (2 chars)");
        assert_eq!(masked("production-eu-west"), "\"pro…\" (18 chars)");
        assert_eq!(masked(""), "\"…\" (0 chars)");
    }
}
