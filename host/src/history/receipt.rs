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

use std::collections::HashMap;

use super::attempt::{HistoryRecord, Outcome};

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

/// One receipt to record, with the provider's words for a failure (an
/// import carries them; a callback does not).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming<'a> {
    pub(crate) receipt: &'a Receipt,
    pub(crate) failure_reason: Option<&'a str>,
}

/// What a batch of receipts does to a store, decided before anything is
/// written, so that every store applies the same rule the same way.
#[derive(Debug, Default)]
pub(crate) struct Plan<'a> {
    /// Messages the store does not have, each in its final state.
    pub(crate) inserts: Vec<Incoming<'a>>,
    /// Stored messages whose status changes, each in its final state.
    pub(crate) updates: Vec<Incoming<'a>>,
    /// What the batch did, receipt by receipt, as if recorded one at a time.
    pub(crate) counts: Recorded,
}

/// Imported records split as stores write them: those with a message id
/// become receipts (their status time their send time), so importing the
/// same file twice adds nothing; the rest are plain attempts, always added.
pub(crate) fn split_import(
    records: &[HistoryRecord],
) -> (Vec<(Receipt, Option<&str>)>, Vec<&HistoryRecord>) {
    let (with_id, plain): (Vec<&HistoryRecord>, Vec<&HistoryRecord>) =
        records.iter().partition(|r| r.message_id.is_some());
    let receipts = with_id
        .into_iter()
        .map(|r| {
            let receipt = Receipt {
                message_id: r.message_id.clone().unwrap_or_default(),
                number: r.number.clone(),
                sent_at: r.attempt.sent_at,
                outcome: r.attempt.outcome,
                status_at: r.attempt.sent_at,
            };
            (receipt, r.failure_reason.as_deref())
        })
        .collect();
    (receipts, plain)
}

/// Receipts as callbacks bring them: no words for a failure.
pub(crate) fn from_receipts(receipts: &[Receipt]) -> Vec<Incoming<'_>> {
    receipts
        .iter()
        .map(|receipt| Incoming {
            receipt,
            failure_reason: None,
        })
        .collect()
}

/// The receipts of [`split_import`], with the words each record had.
pub(crate) fn from_imported<'a>(receipts: &'a [(Receipt, Option<&'a str>)]) -> Vec<Incoming<'a>> {
    receipts
        .iter()
        .map(|(receipt, failure_reason)| Incoming {
            receipt,
            failure_reason: *failure_reason,
        })
        .collect()
}

/// Folds `incoming`, in order, over the states the store holds for their
/// message ids (`stored`: status and status time, `i64::MIN` when none).
/// The same message twice in one batch is folded here, so each message is
/// written once; the counts are those of recording the receipts one by one.
pub(crate) fn plan<'a>(
    incoming: impl IntoIterator<Item = Incoming<'a>>,
    stored: &HashMap<String, (Outcome, i64)>,
) -> Plan<'a> {
    struct Entry<'a> {
        latest: Incoming<'a>,
        state: (Outcome, i64),
        in_store: bool,
        changed: bool,
    }
    let mut entries: Vec<Entry<'a>> = Vec::new();
    let mut slot: HashMap<&'a str, usize> = HashMap::new();
    let mut counts = Recorded::default();
    for item in incoming {
        let id = item.receipt.message_id.as_str();
        let new = (item.receipt.outcome, item.receipt.status_at);
        let entry = match slot.get(id) {
            Some(&i) => &mut entries[i],
            None => {
                slot.insert(id, entries.len());
                let known = stored.get(id).copied();
                entries.push(Entry {
                    latest: item,
                    state: known.unwrap_or(new),
                    in_store: known.is_some(),
                    changed: known.is_none(),
                });
                if known.is_none() {
                    counts.recorded += 1;
                    continue;
                }
                entries.last_mut().expect("just pushed")
            }
        };
        match change(entry.state, new) {
            Change::Update => {
                entry.latest = item;
                entry.state = new;
                entry.changed = true;
                counts.recorded += 1;
            }
            Change::Keep => counts.duplicates += 1,
        }
    }
    let mut out = Plan {
        counts,
        ..Plan::default()
    };
    for e in entries.into_iter().filter(|e| e.changed) {
        if e.in_store {
            out.updates.push(e.latest);
        } else {
            out.inserts.push(e.latest);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::*;

    fn r(id: &str, outcome: Outcome, status_at: i64) -> Receipt {
        Receipt {
            message_id: id.into(),
            number: "+447700900001".into(),
            sent_at: 0,
            outcome,
            status_at,
        }
    }

    fn incoming(receipts: &[Receipt]) -> impl Iterator<Item = Incoming<'_>> {
        receipts.iter().map(|receipt| Incoming {
            receipt,
            failure_reason: None,
        })
    }

    #[test]
    fn a_batch_is_folded_to_one_write_per_message_with_one_by_one_counts() {
        let batch = [
            r("new", Pending, 10),
            r("new", Delivered, 20),
            r("new", Pending, 30),
            r("old", TemporaryFailure, 5),
            r("same", Delivered, 7),
        ];
        let stored = HashMap::from([
            ("old".to_string(), (Pending, 1)),
            ("same".to_string(), (Delivered, 7)),
        ]);
        let plan = plan(incoming(&batch), &stored);
        // new: insert, update, keep; old: update; same: keep.
        assert_eq!(
            plan.counts,
            Recorded {
                recorded: 3,
                duplicates: 2
            }
        );
        let states = |v: &[Incoming<'_>]| -> Vec<(String, Outcome, i64)> {
            v.iter()
                .map(|i| {
                    (
                        i.receipt.message_id.clone(),
                        i.receipt.outcome,
                        i.receipt.status_at,
                    )
                })
                .collect()
        };
        assert_eq!(states(&plan.inserts), [("new".into(), Delivered, 20)]);
        assert_eq!(states(&plan.updates), [("old".into(), TemporaryFailure, 5)]);
    }

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
