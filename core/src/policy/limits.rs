//! `[agents.NAME.limits]`: how much time, memory, output and secret lookups a
//! task running as the agent may use.
//!
//! Guarantees: every limit has a safe default (a task is never unlimited), and
//! every value is checked against a hard ceiling, so a typo such as
//! `memory = "64GiB"` is an error rather than a sandbox that cannot hold. The
//! sandbox enforces the values (`crate::sandbox`).

use std::fmt;
use std::time::Duration;

/// The limits of one agent, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for the whole run, host calls included.
    pub timeout: Duration,
    /// Bytes across all linear memories and tables of the run.
    pub memory: u64,
    /// Core instances; also the most linear memories and the most tables.
    pub instances: u64,
    /// `get-secret` calls per run.
    pub secret_calls: u64,
    /// Bytes written to stdout and stderr together.
    pub output: u64,
    /// Outgoing HTTP requests per run, allowed or denied. Each is one or two
    /// audit records, so this also bounds what a run adds to the log.
    pub requests: u64,
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(30),
            memory: 256 * MIB,
            instances: 32,
            secret_calls: 1000,
            output: 16 * MIB,
            requests: 1000,
        }
    }
}

/// One limit; its name is the tasks.toml key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    Timeout,
    Memory,
    Instances,
    SecretCalls,
    Output,
    Requests,
}

impl Limit {
    pub const ALL: [Limit; 6] = [
        Limit::Timeout,
        Limit::Memory,
        Limit::Instances,
        Limit::SecretCalls,
        Limit::Output,
        Limit::Requests,
    ];

    /// The tasks.toml key.
    pub fn key(self) -> &'static str {
        match self {
            Limit::Timeout => "timeout",
            Limit::Memory => "memory",
            Limit::Instances => "instances",
            Limit::SecretCalls => "secret_calls",
            Limit::Output => "output",
            Limit::Requests => "requests",
        }
    }

    /// The largest value accepted, in the limit's unit (ms for the timeout).
    fn ceiling(self) -> u64 {
        match self {
            Limit::Timeout => 24 * 3600 * 1000,
            Limit::Memory => 4 * GIB,
            Limit::Instances => 1000,
            Limit::SecretCalls => 1_000_000,
            Limit::Output => 4 * GIB,
            Limit::Requests => 1_000_000,
        }
    }

    /// An example value, for hints.
    pub fn example(self) -> &'static str {
        match self {
            Limit::Timeout => "\"30s\"",
            Limit::Memory => "\"64MiB\"",
            Limit::Instances => "32",
            Limit::SecretCalls => "1000",
            Limit::Output => "\"10MiB\"",
            Limit::Requests => "1000",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl Limits {
    /// The value of `limit`, formatted as tasks.toml would write it.
    pub fn show(&self, limit: Limit) -> String {
        match limit {
            Limit::Timeout => format_duration(self.timeout),
            Limit::Memory => format_bytes(self.memory),
            Limit::Instances => self.instances.to_string(),
            Limit::SecretCalls => self.secret_calls.to_string(),
            Limit::Output => format_bytes(self.output),
            Limit::Requests => self.requests.to_string(),
        }
    }

    /// Sets `limit` from its tasks.toml value; the error says what is wrong.
    pub(super) fn set(&mut self, limit: Limit, value: &toml::Value) -> Result<(), String> {
        let amount = match limit {
            Limit::Timeout => parse_duration_ms(value)?,
            Limit::Memory | Limit::Output => parse_bytes(value)?,
            Limit::Instances | Limit::SecretCalls | Limit::Requests => parse_count(value)?,
        };
        if amount == 0 {
            return Err(format!("{limit} must be more than zero"));
        }
        if amount > limit.ceiling() {
            let most = Limits::ceiling_text(limit);
            return Err(format!("{limit} is larger than the most allowed, {most}"));
        }
        match limit {
            Limit::Timeout => self.timeout = Duration::from_millis(amount),
            Limit::Memory => self.memory = amount,
            Limit::Instances => self.instances = amount,
            Limit::SecretCalls => self.secret_calls = amount,
            Limit::Output => self.output = amount,
            Limit::Requests => self.requests = amount,
        }
        Ok(())
    }

    fn ceiling_text(limit: Limit) -> String {
        match limit {
            Limit::Timeout => format_duration(Duration::from_millis(limit.ceiling())),
            Limit::Memory | Limit::Output => format_bytes(limit.ceiling()),
            _ => limit.ceiling().to_string(),
        }
    }
}

fn parse_count(value: &toml::Value) -> Result<u64, String> {
    match value {
        toml::Value::Integer(n) => u64::try_from(*n).map_err(|_| "must not be negative".into()),
        other => Err(format!("expected an integer, found {}", other.type_str())),
    }
}

/// `"30s"`, `"500ms"`, `"2m"`, `"1h"`: the one duration grammar of every
/// flag and file ([`crate::age::parse_age`]); returns milliseconds.
fn parse_duration_ms(value: &toml::Value) -> Result<u64, String> {
    let toml::Value::String(text) = value else {
        return Err(format!(
            "expected a duration string such as \"30s\", found {}",
            value.type_str()
        ));
    };
    let duration = crate::age::parse_age(text)?;
    // parse_age accepts no negative durations and caps them at 100 years.
    Ok(u64::try_from(duration.whole_milliseconds()).unwrap_or(u64::MAX))
}

/// `"64MiB"`, `"512KiB"`, `"1GiB"`, `"100B"`, or an integer number of bytes.
fn parse_bytes(value: &toml::Value) -> Result<u64, String> {
    let text = match value {
        toml::Value::Integer(_) => return parse_count(value),
        toml::Value::String(text) => text,
        other => {
            return Err(format!(
                "expected a size such as \"64MiB\", found {}",
                other.type_str()
            ));
        }
    };
    let units = [("KiB", KIB), ("MiB", MIB), ("GiB", GIB), ("B", 1)];
    number_with_unit(text, &units).ok_or_else(|| {
        format!("{text:?} is not a size; write a whole number and B, KiB, MiB or GiB")
    })
}

/// Splits `"64MiB"` into 64 and its unit's multiplier; `None` on anything else.
fn number_with_unit(text: &str, units: &[(&str, u64)]) -> Option<u64> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    let (_, scale) = units.iter().find(|(name, _)| *name == unit)?;
    // Saturating: an absurd number then fails the ceiling check. An empty or
    // overlong number does not parse.
    let number: u64 = number
        .parse()
        .unwrap_or(if number.is_empty() { 0 } else { u64::MAX });
    Some(number.saturating_mul(*scale)).filter(|_| !text.starts_with(unit))
}

pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

pub fn format_bytes(n: u64) -> String {
    match n {
        n if n >= GIB && n % GIB == 0 => format!("{}GiB", n / GIB),
        n if n >= MIB && n % MIB == 0 => format!("{}MiB", n / MIB),
        n if n >= KIB && n % KIB == 0 => format!("{}KiB", n / KIB),
        n => format!("{n}B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(limit: Limit, value: toml::Value) -> Result<Limits, String> {
        let mut limits = Limits::default();
        limits.set(limit, &value).map(|()| limits)
    }

    #[test]
    fn parses_and_round_trips_values() {
        let l = set(Limit::Timeout, "1500ms".into()).unwrap();
        assert_eq!(l.timeout, Duration::from_millis(1500));
        assert_eq!(l.show(Limit::Timeout), "1500ms");
        assert_eq!(
            set(Limit::Timeout, "2m".into())
                .unwrap()
                .show(Limit::Timeout),
            "2m"
        );
        let l = set(Limit::Memory, "64MiB".into()).unwrap();
        assert_eq!(
            (l.memory, l.show(Limit::Memory)),
            (64 * MIB, "64MiB".into())
        );
        assert_eq!(
            set(Limit::Output, 1000.into()).unwrap().show(Limit::Output),
            "1000B"
        );
        let day = set(Limit::Timeout, "1d".into()).unwrap();
        assert_eq!(day.timeout, Duration::from_secs(86_400));
        assert_eq!(set(Limit::SecretCalls, 5.into()).unwrap().secret_calls, 5);
        assert_eq!(set(Limit::Requests, 7.into()).unwrap().requests, 7);
    }

    #[test]
    fn rejects_bad_values() {
        for (limit, value) in [
            (Limit::Timeout, toml::Value::from("30")),
            (Limit::Timeout, "s".into()),
            (Limit::Timeout, "0s".into()),
            (Limit::Timeout, "-1s".into()),
            (Limit::Timeout, "25h".into()),
            (Limit::Timeout, "2d".into()),
            (Limit::Timeout, "1.5s".into()),
            (Limit::Timeout, "30 s".into()),
            (Limit::Timeout, 30.into()),
            (Limit::Memory, "64MB".into()),
            (Limit::Memory, "64 MiB".into()),
            (Limit::Memory, "5GiB".into()),
            (Limit::Memory, "99999999999999999999GiB".into()),
            (Limit::Memory, (-1).into()),
            (Limit::Instances, "3".into()),
            (Limit::Instances, 0.into()),
        ] {
            assert!(
                set(limit, value.clone()).is_err(),
                "{limit} = {value} was accepted"
            );
        }
    }
}
