//! The canonical record timestamp: RFC 3339 in UTC with exactly six
//! fractional digits, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (27 bytes).
//!
//! RFC 3339 allows many spellings of one instant (offsets, lowercase `t`/`z`,
//! any number of fractional digits). Records admit only this one, so the text
//! in the log is a function of the instant; that is what lets the hash cover
//! the timestamp text while verify still rejects any re-spelling. Formatting
//! and parsing are done by hand: fixed width makes them simple and fast.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Length of a canonical timestamp.
pub(crate) const TS_LEN: usize = 27;

/// `ts` truncated to whole microseconds, in UTC: the instant a record stores.
pub fn truncate(ts: OffsetDateTime) -> OffsetDateTime {
    let ts = ts.to_offset(UtcOffset::UTC);
    let micros = ts.nanosecond() / 1000 * 1000;
    ts.replace_nanosecond(micros)
        .expect("truncated nanoseconds are in range")
}

/// The canonical text of `ts`, or `None` for an instant that has none
/// (outside years 0000–9999, not UTC, or not a whole microsecond).
pub fn format(ts: OffsetDateTime) -> Option<String> {
    if ts.offset() != UtcOffset::UTC || !ts.nanosecond().is_multiple_of(1000) {
        return None;
    }
    let year = u32::try_from(ts.year()).ok().filter(|y| *y <= 9999)?;
    Some(format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        u8::from(ts.month()),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second(),
        ts.microsecond()
    ))
}

/// Parses the canonical form only; anything else is `Err` with a reason.
pub fn parse(s: &str) -> Result<OffsetDateTime, String> {
    let err = || {
        format!(
            "timestamp {:?} is not canonical: expected UTC with six fractional digits, \
             like 2026-11-26T12:00:00.123456Z",
            s.chars().take(40).collect::<String>()
        )
    };
    let b = s.as_bytes();
    if !has_layout(b) {
        return Err(err());
    }
    let num = |from: usize, to: usize| -> u32 {
        b[from..to]
            .iter()
            .fold(0, |n, c| n * 10 + u32::from(c - b'0'))
    };
    let month = Month::try_from(num(5, 7) as u8).map_err(|_| err())?;
    // Fields below hold at most 4 (year) or 6 (micros) digits, so the casts are exact.
    let date = Date::from_calendar_date(num(0, 4) as i32, month, num(8, 10) as u8);
    let (hour, minute, second) = (num(11, 13) as u8, num(14, 16) as u8, num(17, 19) as u8);
    let time = Time::from_hms_micro(hour, minute, second, num(20, 26));
    match (date, time) {
        (Ok(date), Ok(time)) => Ok(PrimitiveDateTime::new(date, time).assume_utc()),
        _ => Err(err()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` with ASCII digits (ranges checked later).
fn has_layout(b: &[u8]) -> bool {
    b.len() == TS_LEN
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            26 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trip() {
        let ts = datetime!(2026-11-26 12:00:00.123456 UTC);
        let text = format(ts).unwrap();
        assert_eq!(text, "2026-11-26T12:00:00.123456Z");
        assert_eq!(parse(&text).unwrap(), ts);
        let now = truncate(OffsetDateTime::now_utc());
        assert_eq!(parse(&format(now).unwrap()).unwrap(), now);
    }

    #[test]
    fn rejects_other_spellings() {
        for bad in [
            "2026-11-26T12:00:00Z",
            "2026-11-26T12:00:00.123Z",
            "2026-11-26T12:00:00.1234567Z",
            "2026-11-26t12:00:00.123456Z",
            "2026-11-26T12:00:00.123456z",
            "2026-11-26T12:00:00.123456+00:00",
            "2026-11-26 12:00:00.123456Z",
            "2026-13-26T12:00:00.123456Z",
            "2026-02-30T12:00:00.123456Z",
            "2026-11-26T24:00:00.123456Z",
            "2026-11-26T12:00:60.123456Z",
            "+026-11-26T12:00:00.123456Z",
            "2026-11-26T12:00:00.12345٣Z",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn format_refuses_non_canonical_instants() {
        assert!(format(datetime!(2026-01-01 0:00:00.000000001 UTC)).is_none());
        assert!(format(datetime!(2026-01-01 0:00 +1)).is_none());
        assert!(format(datetime!(-0001-01-01 0:00 UTC)).is_none());
    }
}
