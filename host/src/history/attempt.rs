//! What history is made of: one message sent to a number, and how it ended.

/// How one delivery attempt ended, as the platform recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The handset confirmed delivery.
    Delivered,
    /// Failed, cause unknown.
    Failed,
    /// The number does not exist, is invalid or cannot take SMS.
    PermanentFailure,
    /// Phone off, out of signal, memory full, or expired after 72 hours.
    TemporaryFailure,
    /// The provider's own fault: no evidence against the number.
    TechnicalFailure,
    /// Created, sent, sending or pending: no evidence yet.
    Pending,
}

/// One message sent to a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// When it was sent, in seconds since the Unix epoch (UTC).
    pub sent_at: i64,
    /// How it ended.
    pub outcome: Outcome,
}

/// The delivery history of one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberHistory {
    /// The number in E.164, exactly as it was asked for.
    pub number: String,
    /// Its attempts, in any order.
    pub attempts: Vec<Attempt>,
}

/// One row of a history file (or an import), its number normalised.
#[derive(Debug, Clone)]
pub struct HistoryRecord {
    /// E.164.
    pub number: String,
    /// When and how it ended.
    pub attempt: Attempt,
    /// The provider's reason, if the file has one (kept, not scored).
    pub failure_reason: Option<String>,
    /// The message's id, when the file has a `message_id` column: importing
    /// the same message again then changes nothing.
    pub message_id: Option<String>,
}

/// Reads a status as platforms write it: `delivered`, `failed`,
/// `permanent-failure`, `temporary-failure`, `technical-failure`, and
/// `created`/`sent`/`sending`/`pending` (case, `_` and spaces ignored).
pub fn parse_outcome(status: &str) -> Option<Outcome> {
    // The canonical spellings (all SQLite holds) without allocating.
    if let Some(o) = canonical_outcome(status) {
        return Some(o);
    }
    let key: String = status
        .trim()
        .chars()
        .map(|c| {
            if c == '_' || c == ' ' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    canonical_outcome(&key)
}

fn canonical_outcome(status: &str) -> Option<Outcome> {
    Some(match status {
        "delivered" => Outcome::Delivered,
        "failed" => Outcome::Failed,
        "permanent-failure" => Outcome::PermanentFailure,
        "temporary-failure" => Outcome::TemporaryFailure,
        "technical-failure" => Outcome::TechnicalFailure,
        "created" | "sent" | "sending" | "pending" => Outcome::Pending,
        _ => return None,
    })
}

/// A status read back from a store's `attempts.status`: every store holds
/// the canonical spellings, so anything else is a row written by hand.
pub(crate) fn stored_outcome(origin: &str, status: &str) -> crate::error::Result<Outcome> {
    parse_outcome(status).ok_or_else(|| {
        crate::error::Error::history(
            origin,
            format!("unknown status {status:?} in table attempts – fix the row or re-import"),
        )
    })
}

/// The canonical status string of an outcome (what SQLite stores).
pub fn outcome_str(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Delivered => "delivered",
        Outcome::Failed => "failed",
        Outcome::PermanentFailure => "permanent-failure",
        Outcome::TemporaryFailure => "temporary-failure",
        Outcome::TechnicalFailure => "technical-failure",
        Outcome::Pending => "pending",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_aliases() {
        for o in [
            Outcome::Delivered,
            Outcome::Failed,
            Outcome::PermanentFailure,
            Outcome::TemporaryFailure,
            Outcome::TechnicalFailure,
            Outcome::Pending,
        ] {
            assert_eq!(parse_outcome(outcome_str(o)), Some(o));
        }
        assert_eq!(
            parse_outcome("Permanent_Failure"),
            Some(Outcome::PermanentFailure)
        );
        assert_eq!(parse_outcome("sending"), Some(Outcome::Pending));
        assert_eq!(parse_outcome("SENT"), Some(Outcome::Pending));
        assert_eq!(parse_outcome("bounced"), None);
    }
}
