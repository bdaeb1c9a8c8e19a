//! The two things history needs from outside: a store to ask
//! ([`HistoryStore`]), and the validator's idea of "the same number"
//! ([`NormaliseNumbers`]), so that history sits below the sandbox and never
//! calls into it.

use super::attempt::{HistoryRecord, NumberHistory};
use super::receipt::{Receipt, Recorded};
use crate::error::{Error, Result};

/// A source of delivery history. Lookups are batched: one call per batch
/// with every distinct number, never one per patient. The write side
/// (receipts, imports, prune) is for stores opened for writing; the others
/// refuse it.
pub trait HistoryStore: Send + Sync {
    /// The attempts for each of `numbers` (E.164) that has any, in any order.
    ///
    /// # Errors
    ///
    /// [`crate::Error::History`], built with [`crate::Error::history`] or
    /// [`crate::Error::history_caused_by`]: the batch then fails closed with
    /// that error.
    fn lookup(&self, numbers: &[String]) -> Result<Vec<NumberHistory>>;

    /// Records delivery receipts, all of them or none (one transaction):
    /// idempotent and order-proof (see [`Receipt`]). The next lookup sees
    /// them.
    ///
    /// # Errors
    ///
    /// [`crate::Error::History`]; then nothing was recorded. A store that
    /// only reads (a CSV file, a database opened read-only) refuses.
    fn record(&self, receipts: &[Receipt]) -> Result<Recorded> {
        let _ = receipts;
        Err(read_only())
    }

    /// Adds imported records (`presend history import`) in one
    /// transaction. A record with a message id is recorded as a receipt
    /// (its status time its send time), so importing the same file twice
    /// adds nothing the second time; one without is always added.
    ///
    /// # Errors
    ///
    /// As [`HistoryStore::record`].
    fn import(&self, records: &[HistoryRecord]) -> Result<Recorded> {
        let _ = records;
        Err(read_only())
    }

    /// Deletes the attempts sent before `sent_before` (seconds since the
    /// Unix epoch), in one transaction, and returns how many went. Phone
    /// numbers are personal data, and attempts that old weigh almost
    /// nothing.
    ///
    /// # Errors
    ///
    /// As [`HistoryStore::record`]; then nothing was deleted.
    fn prune(&self, sent_before: i64) -> Result<usize> {
        let _ = sent_before;
        Err(read_only())
    }
}

/// What a store that only reads answers to a write.
fn read_only() -> Error {
    Error::history(
        "this history store",
        "it only reads – write to a database opened for writing (history::open_writable)",
    )
}

/// Turns raw phone numbers into the E.164 form the validator uses for
/// patients, so that history written `07700 900123` matches a patient
/// written `+44 7700 900123`. `Validator` implements it by asking the
/// component itself.
pub trait NormaliseNumbers {
    /// For each of `raw`, its E.164 form, or `None` when it is not a UK
    /// mobile.
    ///
    /// # Errors
    ///
    /// Whatever the normaliser's own failure is (for `Validator`, the
    /// validator's errors: a trap, a timeout, a limit).
    fn normalise(&self, raw: &[String]) -> Result<Vec<Option<String>>>;
}

impl<T: NormaliseNumbers + ?Sized> NormaliseNumbers for &T {
    fn normalise(&self, raw: &[String]) -> Result<Vec<Option<String>>> {
        (**self).normalise(raw)
    }
}
