//! The two things history needs from outside: a store to ask
//! ([`HistoryStore`]), and the validator's idea of "the same number"
//! ([`NormaliseNumbers`]), so that history sits below the sandbox and never
//! calls into it.

use std::collections::HashMap;

use super::attempt::{Attempt, HistoryRecord, NumberHistory};
use super::receipt::{Receipt, Recorded};
use crate::error::{Error, Result};
use crate::numbers::MobileNumber;

/// A source of delivery history. Lookups are batched: one call a chunk of
/// the file (about a megabyte) with every distinct number of its rows,
/// never one per patient. For a validator of contract 1.3.0 or later they run on a
/// thread of the batch's own (`presend-history`), inside the batch's
/// tracing span, while the validator reads on; one at a time for each
/// batch, in the order asked. The write side (receipts, imports, prune) is
/// for stores opened for writing; the others refuse it.
pub trait HistoryStore: Send + Sync {
    /// The attempts for each of `numbers` (E.164) that has any, in any order.
    ///
    /// # Errors
    ///
    /// [`crate::Error::History`], built with [`crate::Error::history`] or
    /// [`crate::Error::history_caused_by`]: the batch then fails closed with
    /// that error.
    fn lookup(&self, numbers: &[String]) -> Result<Vec<NumberHistory>>;

    /// The same answer handed over attempt by attempt: each attempt to any
    /// of `numbers`, with the position in `numbers` of its number (the
    /// first, when a number is listed twice), in any order. This is what
    /// the validator's `history.lookup` answers with, so the host calls
    /// this one.
    ///
    /// The default calls [`HistoryStore::lookup`] and finds each number's
    /// position. The built-in stores skip that: they hand over attempts as
    /// they decode them, with no [`NumberHistory`] (a string and a vector a
    /// number) in between, nor a map from numbers back to positions
    /// (measured: 5% of a 100k-row batch's instructions).
    ///
    /// # Errors
    ///
    /// As [`HistoryStore::lookup`]. Attempts handed over before an error
    /// are not to be used.
    fn lookup_each(&self, numbers: &[String], found: &mut dyn FnMut(u32, Attempt)) -> Result<()> {
        each_of(numbers, self.lookup(numbers)?, found);
        Ok(())
    }

    /// [`HistoryStore::lookup_each`] for UK mobiles given as their national
    /// numbers without the 0 (`7700900123` for `+447700900123`), as 1.2.0
    /// validators ask; a number that is not 7 and nine more digits has no
    /// history. This is what the host calls for them.
    ///
    /// The default writes each number in E.164 and calls
    /// [`HistoryStore::lookup_each`]. The SQLite and PostgreSQL stores skip
    /// the strings: they key by the number as an integer already
    /// (measured: 3% of a 100k-row batch's instructions).
    ///
    /// # Errors
    ///
    /// As [`HistoryStore::lookup`].
    fn lookup_each_uk_mobile(
        &self,
        numbers: &[u64],
        found: &mut dyn FnMut(u32, Attempt),
    ) -> Result<()> {
        lookup_as_e164(self, numbers, found)
    }

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

/// [`HistoryStore::lookup`] for a store whose own answer is
/// [`HistoryStore::lookup_each`] and which hands over each number's
/// attempts one after another (SQLite and PostgreSQL decode one packed
/// value, or one old schema's number, at a time): the attempts grouped by
/// number, each number named as it was asked.
pub(crate) fn grouped(
    numbers: &[String],
    each: impl FnOnce(&mut dyn FnMut(u32, Attempt)) -> Result<()>,
) -> Result<Vec<NumberHistory>> {
    let mut runs: Vec<(u32, Vec<Attempt>)> = Vec::new();
    each(&mut |at, attempt| match runs.last_mut() {
        Some((last, attempts)) if *last == at => attempts.push(attempt),
        _ => runs.push((at, vec![attempt])),
    })?;
    Ok(runs
        .into_iter()
        .filter_map(|(at, attempts)| {
            let number = numbers.get(usize::try_from(at).ok()?)?.clone();
            Some(NumberHistory { number, attempts })
        })
        .collect())
}

/// [`HistoryStore::lookup_each_uk_mobile`] through
/// [`HistoryStore::lookup_each`], each number written in E.164: the
/// default, and what a store keyed by strings does.
pub(crate) fn lookup_as_e164<S: HistoryStore + ?Sized>(
    store: &S,
    numbers: &[u64],
    found: &mut dyn FnMut(u32, Attempt),
) -> Result<()> {
    let numbers: Vec<String> = numbers.iter().map(|&n| uk_mobile_e164(n)).collect();
    store.lookup_each(&numbers, found)
}

/// The E.164 form of a UK mobile given as its national number without the
/// 0 (`7700900123`): `+447700900123`. Anything but 7 and nine more digits
/// gives an empty string, which no store has history for.
fn uk_mobile_e164(digits: u64) -> String {
    MobileNumber::uk(digits).map_or_else(String::new, |m| m.as_str().to_owned())
}

/// Hands each attempt of `histories` to `found` with the position in
/// `numbers` of its number (the first, when one is listed twice); the
/// histories of numbers not asked about are dropped.
pub(crate) fn each_of(
    numbers: &[String],
    histories: Vec<NumberHistory>,
    found: &mut dyn FnMut(u32, Attempt),
) {
    let mut position: HashMap<&str, u32> = HashMap::with_capacity(numbers.len());
    for (n, at) in numbers.iter().zip(0u32..) {
        position.entry(n.as_str()).or_insert(at);
    }
    for history in histories {
        if let Some(&at) = position.get(history.number.as_str()) {
            history.attempts.into_iter().for_each(|a| found(at, a));
        }
    }
}
