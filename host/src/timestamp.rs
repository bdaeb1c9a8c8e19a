//! Reading times: RFC 3339 (`2026-11-27T09:30:00Z`, any offset) or
//! `YYYY-MM-DD HH:MM:SS` in UTC, as platforms' exports write them.

use std::time::SystemTime;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Text that is not a time in either form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a time – use RFC 3339 (2026-11-27T09:30:00Z) or YYYY-MM-DD HH:MM:SS in UTC"
)]
pub struct TimeError {
    /// The text, cut to 40 characters.
    pub value: String,
}

/// Seconds since the Unix epoch.
///
/// # Errors
///
/// [`TimeError`] when `text` is neither form.
pub fn parse(text: &str) -> Result<i64, TimeError> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let plain = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(text, plain)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| TimeError {
            value: text.chars().take(40).collect(),
        })
}

/// Seconds since the Unix epoch of a `SystemTime` (negative before 1970).
pub fn from_system_time(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs())
            .map(|s| -s)
            .unwrap_or(i64::MIN),
    }
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
        assert_eq!(parse("2026-11-27T00:00:00Z"), Ok(1_795_737_600));
        assert_eq!(parse("2026-11-27 00:00:00"), Ok(1_795_737_600));
        assert_eq!(parse("2026-11-27T01:00:00+01:00"), Ok(1_795_737_600));
        assert_eq!(parse(" 2026-11-27T00:00:00.5Z "), Ok(1_795_737_600));
        let err = parse("27/11/2026").unwrap_err();
        assert_eq!(err.value, "27/11/2026");
        assert!(err.to_string().contains("RFC 3339"), "{err}");
        assert!(parse("2026-11-27").is_err());
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(from_system_time(SystemTime::UNIX_EPOCH + day), 86_400);
        assert_eq!(from_system_time(SystemTime::UNIX_EPOCH - day), -86_400);
        assert_eq!(format(1_795_737_600), "2026-11-27T00:00:00Z");
    }
}
