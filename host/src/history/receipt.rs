//! Delivery receipts: what a provider says of one message, as it happens.
//! Recording them is how history keeps up with reality: a number whose
//! message just failed is held back from the next batch; one that just took
//! a message is good again.
//!
//! A receipt is one message's state. Recording is idempotent and
//! order-proof: the same receipt twice changes nothing; a later status for
//! the same message replaces the earlier one (`sending` then `delivered` is
//! one delivered message, not two attempts); a final status is never
//! overwritten by a pending one that arrives late.

use super::attempt::Outcome;

/// One message's state, as its provider (or the platform) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Unique per message: the provider's id, or the platform's.
    pub message_id: String,
    /// The number as sent, in E.164 as the validator normalises it
    /// (`Validator::normalise_numbers`).
    pub number: String,
    /// When the message was sent, seconds since the Unix epoch (UTC).
    pub sent_at: i64,
    /// Its status; `Pending` for created, sending or sent.
    pub outcome: Outcome,
    /// When that status was reached, seconds since the Unix epoch (UTC).
    pub status_at: i64,
}

/// What recording a batch of receipts did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Receipts that added a message or changed one's status.
    pub recorded: usize,
    /// Receipts that changed nothing: seen before, or older than what is
    /// stored (a late pending status after a final one).
    pub duplicates: usize,
}

/// What to do with `new`, for a message stored as `(outcome, status_at)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Store the new status.
    Update,
    /// Keep what is stored.
    Keep,
}

/// The order-proof rule: a final status beats a pending one whatever
/// arrives first; between two of the same kind, the later status time wins;
/// at the same time, nothing changes.
pub(crate) fn change(stored: (Outcome, i64), new: (Outcome, i64)) -> Change {
    let is_final = |o: Outcome| o != Outcome::Pending;
    match (is_final(stored.0), is_final(new.0)) {
        (true, false) => Change::Keep,
        (false, true) => Change::Update,
        _ if new.1 > stored.1 => Change::Update,
        _ => Change::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::*;

    #[test]
    fn final_beats_pending_and_later_beats_earlier() {
        assert_eq!(change((Pending, 10), (Delivered, 20)), Change::Update);
        assert_eq!(
            change((Pending, 10), (Delivered, 5)),
            Change::Update,
            "final wins"
        );
        assert_eq!(
            change((Delivered, 20), (Pending, 30)),
            Change::Keep,
            "late pending"
        );
        assert_eq!(
            change((Delivered, 20), (Delivered, 20)),
            Change::Keep,
            "the same twice"
        );
        assert_eq!(
            change((TemporaryFailure, 20), (Delivered, 30)),
            Change::Update
        );
        assert_eq!(
            change((Delivered, 30), (TemporaryFailure, 20)),
            Change::Keep
        );
        assert_eq!(change((Pending, 10), (Pending, 11)), Change::Update);
    }
}
