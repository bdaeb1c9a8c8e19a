//! Each number's attempts in one value: the `number_histories` table that
//! a batch's lookup reads (schema version 3).
//!
//! `attempts` keeps one row per message, which receipts and prune need; a
//! lookup reading those rows read ~360,000 of them for a 100k-row batch,
//! and each row costs SQLite (or PostgreSQL) more than its bytes. So every
//! write also repacks the numbers it touched, in the same transaction,
//! into one row per number: the key is the number's E.164 digits as an
//! integer, the value its attempts packed as below. The lookup reads one
//! row per number (measured in SQLite, 82,000 numbers, 362,000 attempts:
//! 26–41 ms, against 150–195 ms for the rows of `attempts`).
//!
//! The packed value: 9 bytes an attempt, in scoring order (by `sent_at`,
//! and at the same second by [`code`]): `sent_at` as a big-endian `i64`,
//! then the status [`code`]. Big-endian, as PostgreSQL's `int8send` writes
//! it, so an operator can read the value in SQL.

use std::collections::{BTreeMap, BTreeSet};

use super::attempt::{Attempt, HistoryRecord, Outcome};
use super::receipt::Incoming;
use crate::error::{Error, Result};

/// Bytes one attempt takes in a packed value.
pub(crate) const ATTEMPT_BYTES: usize = 9;

/// The key of a number: its E.164 digits as an integer (`+447700900123`
/// is 447700900123). `None` when `number` is not `+` and 1 to 15 digits,
/// the first not 0: such a number has no history.
pub(crate) fn key(number: &str) -> Option<i64> {
    let digits = number.strip_prefix('+')?;
    let well_formed = (1..=15).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    digits.parse().ok()
}

/// The key of a number about to be written (or repacked), or an error
/// naming the store: every writer takes numbers the validator normalised,
/// so anything else was not normalised.
pub(crate) fn key_to_write(origin: &str, number: &str) -> Result<i64> {
    key(number).ok_or_else(|| {
        Error::history(
            origin,
            "a number is not in E.164 (+ and up to 15 digits) – record numbers as Validator::normalise_numbers gives them, and fix any row of attempts written by hand",
        )
    })
}

/// The numbers a write of `incoming` receipts and `plain` attempts adds
/// to, to repack once it is written; refused, before anything is
/// written, when one is not E.164 ([`key_to_write`]).
pub(crate) fn touched_by(
    origin: &str,
    incoming: &[Incoming<'_>],
    plain: &[&HistoryRecord],
) -> Result<BTreeSet<String>> {
    let numbers = incoming
        .iter()
        .map(|i| &i.receipt.number)
        .chain(plain.iter().map(|p| &p.number));
    let mut touched = BTreeSet::new();
    for number in numbers {
        key_to_write(origin, number)?;
        touched.insert(number.clone());
    }
    Ok(touched)
}

/// A status as one byte, in the order the scorer breaks ties at the same
/// second: a delivery first, a permanent failure last.
pub(crate) fn code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Delivered => 0,
        Outcome::Pending => 1,
        Outcome::TechnicalFailure => 2,
        Outcome::Failed => 3,
        Outcome::TemporaryFailure => 4,
        Outcome::PermanentFailure => 5,
    }
}

fn outcome(code: u8) -> Option<Outcome> {
    Some(match code {
        0 => Outcome::Delivered,
        1 => Outcome::Pending,
        2 => Outcome::TechnicalFailure,
        3 => Outcome::Failed,
        4 => Outcome::TemporaryFailure,
        5 => Outcome::PermanentFailure,
        _ => return None,
    })
}

/// Packs a number's attempts, sorting them into scoring order first.
pub(crate) fn pack(attempts: &mut [Attempt]) -> Vec<u8> {
    attempts.sort_unstable_by_key(|a| (a.sent_at, code(a.outcome)));
    let mut out = Vec::with_capacity(attempts.len() * ATTEMPT_BYTES);
    for a in attempts.iter() {
        out.extend_from_slice(&a.sent_at.to_be_bytes());
        out.push(code(a.outcome));
    }
    out
}

/// Hands each attempt a packed value holds to `found`, in scoring order;
/// an error naming the store when the value is not one [`pack`] wrote (a
/// row written by hand). Attempts are decoded straight to the caller, with
/// no vector per number in between.
pub(crate) fn unpack_each(
    origin: &str,
    packed: &[u8],
    mut found: impl FnMut(Attempt),
) -> Result<()> {
    let damaged = || {
        Error::history(
            origin,
            "a row of number_histories is damaged – rebuild it with `presend history import` into a new database",
        )
    };
    if !packed.len().is_multiple_of(ATTEMPT_BYTES) {
        return Err(damaged());
    }
    for a in packed.chunks_exact(ATTEMPT_BYTES) {
        let mut sent_at = [0u8; 8];
        sent_at.copy_from_slice(&a[..8]);
        found(Attempt {
            sent_at: i64::from_be_bytes(sent_at),
            outcome: outcome(a[8]).ok_or_else(damaged)?,
        });
    }
    Ok(())
}

/// The numbers a lookup was asked about, by key: each key once, sorted (so
/// each index probe lands beside the last), with the position in the
/// question of the first number that has it. Numbers that are not E.164
/// have no key, and no history.
pub(crate) struct Wanted(Vec<(i64, u32)>);

impl Wanted {
    /// The keys of `numbers`, and where each was asked.
    pub(crate) fn new(numbers: &[String]) -> Wanted {
        let mut wanted: Vec<(i64, u32)> = numbers
            .iter()
            .zip(0u32..)
            .filter_map(|(n, at)| Some((key(n)?, at)))
            .collect();
        // By key, then position: the first position of a key stays.
        wanted.sort_unstable();
        wanted.dedup_by_key(|(key, _)| *key);
        Wanted(wanted)
    }

    /// The keys of UK mobiles given as national numbers without the 0
    /// ([`super::HistoryStore::lookup_each_uk_mobile`]), as [`Wanted::new`]
    /// gives them for the same numbers in E.164.
    pub(crate) fn of_uk_mobiles(numbers: &[u64]) -> Wanted {
        const PLUS_44: i64 = 440_000_000_000;
        let mut wanted: Vec<(i64, u32)> = numbers
            .iter()
            .zip(0u32..)
            .filter(|&(&n, _)| crate::numbers::is_uk_mobile(n))
            .map(|(&n, at)| (PLUS_44 + n as i64, at))
            .collect();
        wanted.sort_unstable();
        wanted.dedup_by_key(|(key, _)| *key);
        Wanted(wanted)
    }

    /// Every key, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.iter().map(|&(key, _)| key)
    }

    /// Where `key` was asked; `None` for a key not asked about (a store
    /// answering what it was not asked is ignored, not trusted).
    pub(crate) fn position(&self, key: i64) -> Option<u32> {
        let i = self.0.binary_search_by_key(&key, |&(k, _)| k).ok()?;
        Some(self.0[i].1)
    }
}

/// What a write does to `number_histories`: for each number it touched,
/// the packed value of every attempt it now has, or `None` when it has
/// none left (the row goes).
pub(crate) struct Repack {
    /// By key.
    pub(crate) values: BTreeMap<i64, Option<Vec<u8>>>,
}

impl Repack {
    /// Starts with every touched number empty; [`Repack::add`] then gives
    /// each the attempts `attempts` holds for it.
    pub(crate) fn of(touched: impl IntoIterator<Item = i64>) -> Repack {
        Repack {
            values: touched.into_iter().map(|k| (k, None)).collect(),
        }
    }

    /// Adds one number's attempts, read back from `attempts`.
    pub(crate) fn add(&mut self, key: i64, mut attempts: Vec<Attempt>) {
        self.values.insert(key, Some(pack(&mut attempts)));
    }

    /// The rows to write, as (key, value).
    pub(crate) fn upserts(&self) -> impl Iterator<Item = (i64, &[u8])> {
        self.values
            .iter()
            .filter_map(|(k, v)| Some((*k, v.as_deref()?)))
    }

    /// The keys whose rows go.
    pub(crate) fn deletes(&self) -> impl Iterator<Item = i64> + '_ {
        self.values
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| *k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle is `Wanted::new` on the same numbers written by `format!`.
    #[test]
    fn uk_mobiles_as_integers_are_wanted_as_their_e164_strings() {
        let numbers = [
            7_700_900_123,
            7_700_900_001,
            7_700_900_123, // again: the first position stays
            7_999_999_999,
            7_000_000_000,
            6_999_999_999, // not a mobile's
            70_000_000_000,
            0,
        ];
        let strings: Vec<String> = numbers
            .iter()
            .map(|&n| {
                if (7_000_000_000..8_000_000_000).contains(&n) {
                    format!("+44{n}")
                } else {
                    String::new()
                }
            })
            .collect();
        assert_eq!(Wanted::of_uk_mobiles(&numbers).0, Wanted::new(&strings).0);
        assert_eq!(Wanted::of_uk_mobiles(&numbers).0.len(), 4);
    }

    #[test]
    fn a_key_is_the_e164_digits() {
        assert_eq!(key("+447700900123"), Some(447_700_900_123));
        assert_eq!(key("+999999999999999"), Some(999_999_999_999_999));
        assert_eq!(key("+7"), Some(7));
        for not_e164 in [
            "",
            "+",
            "447700900123",
            "+0447700900123",
            "+44 7700 900123",
            "+4477009001234567",
            "+44770090012a",
            "++447700900123",
        ] {
            assert_eq!(key(not_e164), None, "{not_e164:?}");
        }
    }

    #[test]
    fn packing_sorts_into_scoring_order_and_unpacks_to_the_same() {
        use Outcome::*;
        let mut attempts = vec![
            Attempt {
                sent_at: 20,
                outcome: PermanentFailure,
            },
            Attempt {
                sent_at: 20,
                outcome: Delivered,
            },
            Attempt {
                sent_at: -5,
                outcome: Pending,
            },
        ];
        let packed = pack(&mut attempts);
        // By hand: -5 big-endian is ff..fb, then code 1 (pending); 20 is
        // 00..14, delivered (0) before permanent failure (5).
        assert_eq!(
            packed,
            [
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb, 1, //
                0, 0, 0, 0, 0, 0, 0, 20, 0, //
                0, 0, 0, 0, 0, 0, 0, 20, 5,
            ]
        );
        let mut back = Vec::new();
        unpack_each("db", &packed, |a| back.push(a)).unwrap();
        assert_eq!(back, attempts);
    }

    #[test]
    fn a_damaged_value_is_an_error_naming_the_table() {
        for damaged in [&[0u8; 8][..], &[0, 0, 0, 0, 0, 0, 0, 0, 6]] {
            let err = unpack_each("db", damaged, |_| {}).unwrap_err().to_string();
            assert!(err.contains("number_histories is damaged"), "{err}");
        }
    }

    #[test]
    fn wanted_numbers_are_found_by_key_at_their_first_position() {
        let asked: Vec<String> = [
            "+447700900003",
            "07700 900001",
            "+447700900001",
            "+447700900003",
            "+0447700900002",
        ]
        .map(String::from)
        .into();
        let wanted = Wanted::new(&asked);
        // Sorted, each key once; the national and the malformed number have none.
        assert_eq!(
            wanted.keys().collect::<Vec<_>>(),
            [447_700_900_001, 447_700_900_003]
        );
        assert_eq!(wanted.position(447_700_900_001), Some(2));
        assert_eq!(wanted.position(447_700_900_003), Some(0));
        assert_eq!(wanted.position(447_700_900_002), None);
    }
}
