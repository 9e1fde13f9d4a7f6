//! The `posthog-query` agent's task: lists recent events from a PostHog-style
//! API without ever holding the API key.
//!
//! It asks for a placeholder for `posthog-read`, sends it as a bearer token,
//! and the runner swaps in the real key on the way out, but only because the
//! grant is bound to the API's host (`hosts` in tasks.toml) and the host is in
//! the agent's `allowed_hosts`.
//!
//! Usage: `posthog-query [BASE_URL]`, default `https://us.posthog.com`.

use scopehold::http::Request;
use scopehold::placeholder;

fn main() {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "https://us.posthog.com".into());
    let key = match placeholder("posthog-read") {
        Ok(key) => key,
        Err(error) => fail(&format!("posthog-read: {error}")),
    };
    let url = format!("{base}/api/projects/1/events?limit=3");
    let response = match Request::get(&url).bearer(&key).send() {
        Ok(response) => response,
        Err(error) => fail(&format!("GET {url}: {error}")),
    };
    if response.status != 200 {
        fail(&format!("GET {url}: status {}", response.status));
    }
    println!(
        "posthog-query: {} events answered by {base}",
        count_events(&response.text())
    );
    println!("posthog-query: {}", response.text().trim());
}

/// Counts `"event":` keys; enough for the canned answer, no JSON parser needed.
fn count_events(json: &str) -> usize {
    json.matches("\"event\":").count()
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}
