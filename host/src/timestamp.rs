//! Reading times: RFC 3339 (`2026-11-27T09:30:00Z`, any offset) or
//! `YYYY-MM-DD HH:MM:SS` in UTC, as platforms' exports write them.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Seconds since the Unix epoch, or `None` when `text` is neither form.
pub fn parse(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let plain = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(text, plain)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// The current time, in seconds since the Unix epoch.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// `seconds` as RFC 3339 in UTC, for people.
pub fn format(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_and_offsets() {
        assert_eq!(parse("2026-11-27T00:00:00Z"), Some(1_795_737_600));
        assert_eq!(parse("2026-11-27 00:00:00"), Some(1_795_737_600));
        assert_eq!(parse("2026-11-27T01:00:00+01:00"), Some(1_795_737_600));
        assert_eq!(parse(" 2026-11-27T00:00:00.5Z "), Some(1_795_737_600));
        assert_eq!(parse("27/11/2026"), None);
        assert_eq!(parse("2026-11-27"), None);
        assert_eq!(format(1_795_737_600), "2026-11-27T00:00:00Z");
    }
}
