//! The `support-analysis` agent's task: resolves its one granted key and shows
//! that everything else is out of reach.
//!
//! It prints a summary of the key (length and whether it has the PostHog
//! project-key prefix), never the key itself, then asks for `billing-admin`,
//! which this agent is not granted, and reports the denial.

use scopehold::{Error, get_secret};

const GRANTED: &str = "posthog-read";
const NOT_GRANTED: &str = "billing-admin";

fn main() {
    let key = match get_secret(GRANTED) {
        Ok(key) => key,
        Err(error) => {
            eprintln!("{GRANTED}: {error}");
            std::process::exit(1);
        }
    };
    let prefixed = key.expose().starts_with("phc_");
    println!(
        "{GRANTED}: resolved ({} bytes, PostHog key prefix: {})",
        key.len(),
        if prefixed { "yes" } else { "no" }
    );
    println!(
        "analysis: would query PostHog events with a {}-byte key",
        key.len()
    );

    match get_secret(NOT_GRANTED) {
        Ok(_) => {
            eprintln!("{NOT_GRANTED}: unexpectedly granted");
            std::process::exit(2);
        }
        Err(Error::Denied) => {
            println!("{NOT_GRANTED}: denied, as expected (not granted to this agent)")
        }
        Err(Error::Unavailable) => println!("{NOT_GRANTED}: unavailable"),
    }
}
