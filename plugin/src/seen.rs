//! The valid NHS numbers a batch has seen, each with the first row that has
//! it: how a later row is found to be a duplicate.
//!
//! Written by hand because no map in a crate is both fast and safe here. A
//! hash map is fast (an ordered `BTreeMap` made one warm 100k-row batch 6%
//! slower with history, 10% without: ~1,300 more wasm instructions a row),
//! but its worst case needs keys a file's author cannot predict, and the
//! component has no randomness: with a fixed hash, a crafted file could put
//! every number in one cluster. So this is a hash table with linear probing
//! that gives up when any probe runs longer than [`MAX_PROBE`] slots, and
//! moves everything into a `BTreeMap`: a crafted file costs about what
//! every file cost with the ordered map alone.

use std::collections::BTreeMap;

/// The longest probe a hashed table takes before it becomes ordered.
/// Numbers that are not crafted come nowhere near it at the table's load
/// (at most a half): the longest probe for a million random numbers was
/// 37 slots, for a million consecutive ones 1. And 256 probes cost about
/// what one search of the ordered map does.
pub const MAX_PROBE: usize = 256;

/// An empty slot: its number part is 2^30 - 1, which no NHS number has.
const EMPTY: u64 = u64::MAX;

/// The bits of a slot below its number: the row.
const ROW_BITS: u32 = 34;

/// A number's key: an NHS number without its check digit (the first nine
/// digits, below 10^9 < 2^30, decide the tenth). Taken once a row, not
/// again at each probe and for the home slot: 0.4% fewer instructions a
/// 100k-row batch (callgrind).
fn key(number: u64) -> u64 {
    number / 10
}

/// A slot: a number's key over its first row, in 8 bytes.
fn slot(key: u64, row: u32) -> u64 {
    key << ROW_BITS | u64::from(row)
}

/// Whether `slot` holds the number whose key is `key`.
fn holds(slot: u64, key: u64) -> bool {
    slot >> ROW_BITS == key
}

/// The row in a slot.
fn row_of(slot: u64) -> u32 {
    slot as u32
}

/// The NHS numbers seen so far, with the first row of each.
#[derive(Debug)]
pub struct Seen {
    table: Table,
}

#[derive(Debug)]
enum Table {
    /// Open addressing: each slot is [`EMPTY`] or a number and its first
    /// row ([`slot`]); the capacity is a power of two, at most half full.
    Hashed { slots: Vec<u64>, len: usize },
    /// After a probe ran too long: each number's first nine digits, and
    /// its first row.
    Ordered(BTreeMap<u64, u32>),
}

impl Default for Seen {
    fn default() -> Seen {
        Seen::new()
    }
}

impl Seen {
    /// No number seen yet.
    pub fn new() -> Seen {
        Seen {
            table: Table::Hashed {
                slots: vec![EMPTY; 64],
                len: 0,
            },
        }
    }

    /// The first row that has `number`: `row` itself, now recorded, when
    /// no earlier row had it. `number` must be a valid NHS number (its
    /// check digit is not compared).
    pub fn first_row(&mut self, number: u64, row: u32) -> u32 {
        debug_assert!(number < 10_000_000_000, "not an NHS number");
        let key = key(number);
        if let Table::Hashed { slots, len } = &mut self.table
            && (*len + 1) * 2 > slots.len()
        {
            match grown(slots) {
                Some(bigger) => *slots = bigger,
                None => self.order(),
            }
        }
        match &mut self.table {
            Table::Hashed { slots, len } => match probe(slots, key) {
                Some(i) if slots[i] != EMPTY => row_of(slots[i]),
                Some(i) => {
                    slots[i] = slot(key, row);
                    *len += 1;
                    row
                }
                None => {
                    self.order();
                    self.first_row(number, row)
                }
            },
            Table::Ordered(map) => *map.entry(key).or_insert(row),
        }
    }

    /// Whether a probe ran too long, and the numbers are now ordered.
    pub fn is_ordered(&self) -> bool {
        matches!(self.table, Table::Ordered(_))
    }

    /// Moves every number into the ordered map.
    fn order(&mut self) {
        if let Table::Hashed { slots, .. } = &self.table {
            let map = slots
                .iter()
                .filter(|&&s| s != EMPTY)
                .map(|&s| (s >> ROW_BITS, row_of(s)))
                .collect();
            self.table = Table::Ordered(map);
        }
    }
}

/// The home slot of the number whose key is `key` in a table of `slots` (a
/// power of two): Fibonacci hashing of its first nine digits, which spreads
/// runs of consecutive numbers (as NHS numbers are issued) evenly.
fn home(key: u64, slots: usize) -> usize {
    let bits = slots.trailing_zeros();
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

/// The slot that holds the number whose key is `key`, or the empty one
/// where it would go; `None` when that is more than [`MAX_PROBE`] slots
/// from its home.
fn probe(slots: &[u64], key: u64) -> Option<usize> {
    let mask = slots.len() - 1;
    let mut i = home(key, slots.len());
    for _ in 0..=MAX_PROBE {
        if slots[i] == EMPTY || holds(slots[i], key) {
            return Some(i);
        }
        i = (i + 1) & mask;
    }
    None
}

/// The table at twice the size; `None` if a probe ran too long on the way.
fn grown(slots: &[u64]) -> Option<Vec<u64>> {
    let mut bigger = vec![EMPTY; slots.len() * 2];
    for &s in slots.iter().filter(|&&s| s != EMPTY) {
        let i = probe(&bigger, s >> ROW_BITS)?;
        bigger[i] = s;
    }
    Some(bigger)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The valid NHS number whose first nine digits are `nine`, if its
    /// check digit is not 10 (as `nhs::parse` checks them).
    fn valid(nine: u64) -> Option<u64> {
        let digits: Vec<u8> = format!("{nine:09}").bytes().map(|b| b - b'0').collect();
        let check = crate::nhs::check_digit(&digits)?;
        Some(nine * 10 + u64::from(check))
    }

    /// The oracle: the first row of each number, by scanning every earlier
    /// row (no map at all).
    fn first_rows_by_scanning(numbers: &[u64]) -> Vec<u32> {
        (0..numbers.len())
            .map(|i| {
                let first = numbers[..i].iter().position(|&n| n == numbers[i]);
                first.unwrap_or(i) as u32 + 2
            })
            .collect()
    }

    fn first_rows(seen: &mut Seen, numbers: &[u64]) -> Vec<u32> {
        numbers
            .iter()
            .enumerate()
            .map(|(i, &n)| seen.first_row(n, i as u32 + 2))
            .collect()
    }

    #[test]
    fn first_rows_match_a_scan_of_earlier_rows() {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // Numbers from a small range, so that about a third repeat, in a
        // file long enough for the table to grow six times.
        let numbers: Vec<u64> = std::iter::repeat_with(|| valid(900_000_000 + next() % 2_000))
            .flatten()
            .take(3_000)
            .collect();
        let mut seen = Seen::new();
        assert_eq!(
            first_rows(&mut seen, &numbers),
            first_rows_by_scanning(&numbers)
        );
        assert!(!seen.is_ordered(), "random numbers probe far");
    }

    #[test]
    fn consecutive_numbers_stay_hashed_and_keep_every_row() {
        // As a practice's numbers may be: issued one after another, the
        // rows up to the largest a slot holds.
        let numbers: Vec<u64> = (400_000_000..).filter_map(valid).take(200_000).collect();
        let mut seen = Seen::new();
        for (i, &n) in numbers.iter().enumerate() {
            assert_eq!(seen.first_row(n, u32::MAX - i as u32), u32::MAX - i as u32);
        }
        for (i, &n) in numbers.iter().enumerate() {
            assert_eq!(seen.first_row(n, 7), u32::MAX - i as u32);
        }
        assert!(!seen.is_ordered());
    }

    #[test]
    fn the_smallest_and_largest_numbers_are_told_apart() {
        let (smallest, largest) = (valid(0).unwrap(), valid(999_999_999).unwrap());
        let mut seen = Seen::new();
        assert_eq!(seen.first_row(smallest, 2), 2);
        assert_eq!(seen.first_row(largest, 3), 3);
        assert_eq!(seen.first_row(largest, 4), 3);
        assert_eq!(seen.first_row(smallest, 5), 2);
    }

    #[test]
    fn a_crafted_cluster_falls_back_to_the_ordered_map_and_loses_nothing() {
        // Numbers that all share the home slot of a table of up to 2^16
        // slots: what a file made to collide would hold. Found by search,
        // as an attacker would.
        let target = home(key(valid(900_000_000).unwrap()), 1 << 16);
        let colliding: Vec<u64> = (900_000_000..)
            .filter(|&nine| home(nine, 1 << 16) == target)
            .filter_map(valid)
            .take(MAX_PROBE + 10)
            .collect();
        // Each twice, and ordinary numbers before and after.
        let ordinary: Vec<u64> = (400_000_000..).filter_map(valid).take(50).collect();
        let mut numbers = ordinary.clone();
        numbers.extend(&colliding);
        numbers.extend(&colliding);
        numbers.extend(&ordinary);
        let mut seen = Seen::new();
        assert_eq!(
            first_rows(&mut seen, &numbers),
            first_rows_by_scanning(&numbers)
        );
        assert!(seen.is_ordered(), "the cluster should have been refused");
    }
}
