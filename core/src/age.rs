//! Times on the command line, in tasks.toml and in output: the one grammar
//! of durations (`500ms`, `30s`, `15m`, `2h`, `7d`, `2w`, `1y`) every flag
//! and every tasks.toml duration (`limits.timeout`) takes, points in time
//! given as an RFC 3339 date or an age before now, the one way a time is
//! shown ([`show`]), and relative times (`3 minutes ago`) beside it.
//!
//! Every number is checked: a bad input is an error, never an overflow.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// The longest age accepted: 100 years, far past any log, and small enough
/// that "now minus the age" is always a valid time.
pub(crate) const MAX_AGE_DAYS: i64 = 36_500;

/// Units of a duration and their length in milliseconds (`y` is 365 days).
const UNITS: [(&str, i64); 7] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
    ("y", 31_536_000_000),
];

/// `500ms`, `30s`, `15m`, `2h`, `7d`, `2w`, `1y`: a whole number and a unit,
/// at most [`MAX_AGE_DAYS`].
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let Some(&(_, unit_ms)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(format!(
            "{text:?}: expected a whole number and a unit (ms, s, m, h, d, w or y), \
             e.g. 30s or 7d"
        ));
    };
    let too_long = || {
        format!(
            "{text:?} is too long an age: at most {MAX_AGE_DAYS}d (100 years); \
             for an exact point in time give an RFC 3339 time"
        )
    };
    let n: i64 = match number.parse() {
        Ok(n) => n,
        Err(_) if !number.is_empty() => return Err(too_long()),
        Err(_) => {
            return Err(format!(
                "{text:?}: expected a number before the unit, e.g. 30d"
            ));
        }
    };
    let ms = n.checked_mul(unit_ms).ok_or_else(too_long)?;
    if ms > MAX_AGE_DAYS * 86_400_000 {
        return Err(too_long());
    }
    Ok(Duration::milliseconds(ms))
}

/// A time as every command shows it, readable or JSON: RFC 3339 in UTC to
/// the whole second, `2026-01-31T00:00:00Z`. (`audit log --json` prints the
/// records as stored, to the microsecond: docs/audit-format.md.)
pub fn show(ts: OffsetDateTime) -> String {
    let ts = ts.to_offset(time::UtcOffset::UTC);
    let whole = ts.replace_nanosecond(0).unwrap_or(ts);
    whole.format(&Rfc3339).unwrap_or_else(|_| whole.to_string())
}

/// [`show`], then the time relative to `now` in brackets:
/// `2026-01-31T00:00:00Z (3 minutes ago)`.
pub fn show_with_relative(ts: OffsetDateTime, now: OffsetDateTime) -> String {
    format!("{} ({})", show(ts), relative(ts, now))
}

/// An RFC 3339 time, or an age (`2d`, `12h`) before now: `--since`, `--until`.
pub fn parse_time_or_age(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(ts) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(ts);
    }
    if text.starts_with(|c: char| c.is_ascii_digit()) && text.contains(['-', ':', 'T']) {
        return Err(format!(
            "{text:?} is not an RFC 3339 time (e.g. 2026-01-31T00:00:00Z) nor an age (e.g. 2d)"
        ));
    }
    let age = parse_age(text)?;
    // parse_age bounds the age, so this cannot leave the representable range.
    OffsetDateTime::now_utc()
        .checked_sub(age)
        .ok_or_else(|| format!("{text:?} reaches before the earliest time there is"))
}

/// `ts` relative to `now` in the largest whole unit: `just now`,
/// `3 minutes ago`, `in 2 days`.
pub fn relative(ts: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - ts).whole_seconds();
    let magnitude = seconds.unsigned_abs();
    if magnitude < 60 {
        return "just now".into();
    }
    let names = [
        ("year", 31_536_000u64),
        ("day", 86_400),
        ("hour", 3_600),
        ("minute", 60),
    ];
    let (name, size) = names
        .into_iter()
        .find(|(_, size)| magnitude >= *size)
        .unwrap_or(("minute", 60));
    let n = magnitude / size;
    let plural = if n == 1 { "" } else { "s" };
    match seconds >= 0 {
        true => format!("{n} {name}{plural} ago"),
        false => format!("in {n} {name}{plural}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses_and_bad_input_is_an_error() {
        let cases = [("30s", 30), ("15m", 900), ("2h", 7_200), ("7d", 604_800)];
        for (text, seconds) in cases {
            assert_eq!(parse_age(text), Ok(Duration::seconds(seconds)), "{text}");
        }
        assert_eq!(parse_age("1500ms"), Ok(Duration::milliseconds(1500)));
        assert_eq!(parse_age("1y"), Ok(Duration::days(365)));
        assert_eq!(parse_age("100y"), Ok(Duration::days(MAX_AGE_DAYS)));
        for bad in [
            "",
            "d",
            "7",
            "7x",
            "-1d",
            "101y",
            "99999999999999999999d",
            "1.5h",
            "5 s",
            "ms",
            "30S",
        ] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_are_rfc3339_or_ages() {
        let at = parse_time_or_age("2026-01-31T00:00:00Z").unwrap();
        assert_eq!(at.unix_timestamp(), 1_769_817_600);
        assert!(parse_time_or_age("2026-01-31").is_err());
        let ago = OffsetDateTime::now_utc() - parse_time_or_age("1h").unwrap();
        assert!((ago - Duration::hours(1)).abs() < Duration::seconds(5));
    }

    #[test]
    fn times_show_in_one_format_utc_to_the_second() {
        let at = parse_time_or_age("2026-01-31T01:02:03.456789+02:00").unwrap();
        assert_eq!(show(at), "2026-01-30T23:02:03Z");
        let now = at + Duration::minutes(3);
        assert_eq!(
            show_with_relative(at, now),
            "2026-01-30T23:02:03Z (3 minutes ago)"
        );
    }

    #[test]
    fn relative_times_use_the_largest_whole_unit() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - Duration::minutes(3), now), "3 minutes ago");
        assert_eq!(relative(now - Duration::hours(1), now), "1 hour ago");
        assert_eq!(relative(now - Duration::days(800), now), "2 years ago");
        assert_eq!(relative(now + Duration::days(2), now), "in 2 days");
    }
}
