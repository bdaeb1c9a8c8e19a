//! The benchmarks' data, made with a fixed seed: patient files of any size
//! and a 1,000,000-attempt history over 200,000 numbers. Included by
//! `benches/validate.rs` and `cli/benches/cli.rs`.

use presend_host::history::{Attempt, HistoryRecord, Outcome};

pub const PATIENTS: usize = 100_000;
pub const ATTEMPTS: usize = 1_000_000;
/// Distinct numbers in the history.
pub const HISTORY_NUMBERS: usize = 200_000;
/// Patients whose number is in the history range, each a different number
/// (drawn without replacement); the other patients have numbers of their own.
pub const PATIENTS_WITH_HISTORY_NUMBERS: usize = 90_000;
pub const NOW: i64 = 1_795_770_000;

/// Numbers the bench uses: 07912 000000 upwards (a GB mobile range). They
/// exist only in memory and a temporary database; nothing is ever sent.
pub fn mobile(i: usize) -> String {
    format!("+447912{i:06}")
}

fn nhs_number(i: usize) -> String {
    // 9,000,000,000 upwards: never issued to real people. Skip numbers whose
    // check digit would be 10 by moving on to the next base.
    let mut base = 900_000_000 + i as u64 * 2;
    loop {
        let digits: Vec<u64> = base
            .to_string()
            .bytes()
            .map(|b| u64::from(b - b'0'))
            .collect();
        let sum: u64 = digits.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
        match 11 - sum % 11 {
            10 => base += 1,
            11 => return format!("{base}0"),
            c => return format!("{base}{c}"),
        }
    }
}

pub fn patient_file_of(rng: &mut fastrand::Rng, rows: usize) -> Vec<u8> {
    let mut csv =
        String::from("NHS Number,Title,First Name,Surname,Date of Birth,Telecom Number\r\n");
    // Exactly 90% of the rows get a history number, each a different one
    // (all 200,000 of them, for a file of more than 222,222 rows).
    let with_history = (rows * PATIENTS_WITH_HISTORY_NUMBERS / PATIENTS).min(HISTORY_NUMBERS);
    let mut history_numbers: Vec<usize> = (0..HISTORY_NUMBERS).collect();
    rng.shuffle(&mut history_numbers);
    history_numbers.truncate(with_history);
    let mut has_history: Vec<bool> = (0..rows).map(|i| i < with_history).collect();
    rng.shuffle(&mut has_history);
    let mut next = history_numbers.into_iter();
    for (i, has_history) in has_history.into_iter().enumerate() {
        let number = if has_history {
            next.next().expect("one per row with history")
        } else {
            // Past a million rows, numbers come round again (shared, as
            // family members' are).
            (HISTORY_NUMBERS + i) % 1_000_000
        };
        let national = format!("0{}", &mobile(number)[3..]);
        let shown = match rng.u8(..4) {
            0 => format!("{} {}", &national[..5], &national[5..]),
            1 => mobile(number),
            _ => national,
        };
        let nhs = if rng.u8(..100) < 2 {
            "123".to_string()
        } else {
            nhs_number(i)
        };
        let dob = format!(
            "{:02}/{:02}/{}",
            rng.u8(1..29),
            rng.u8(1..13),
            rng.u16(1930..2020)
        );
        csv.push_str(&format!("{nhs},Ms,Alex,Example,{dob},{shown}\r\n"));
    }
    csv.into_bytes()
}

pub fn history(rng: &mut fastrand::Rng) -> Vec<HistoryRecord> {
    (0..ATTEMPTS)
        .map(|_| {
            let outcome = match rng.u8(..100) {
                0..70 => Outcome::Delivered,
                70..78 => Outcome::TemporaryFailure,
                78..84 => Outcome::PermanentFailure,
                84..90 => Outcome::Failed,
                90..95 => Outcome::TechnicalFailure,
                _ => Outcome::Pending,
            };
            HistoryRecord {
                number: mobile(rng.usize(..HISTORY_NUMBERS)),
                attempt: Attempt {
                    sent_at: NOW - rng.i64(0..3 * 365 * 86_400),
                    outcome,
                },
                failure_reason: None,
                message_id: None,
            }
        })
        .collect()
}

pub fn write_history_csv(path: &std::path::Path, records: &[HistoryRecord]) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create CSV"));
    writeln!(out, "mobile_number,sent_at,status").expect("write");
    for r in records {
        let status = presend_host::history::outcome_str(r.attempt.outcome);
        let sent_at = presend_host::timestamp::format(r.attempt.sent_at);
        writeln!(out, "{},{sent_at},{status}", r.number).expect("write");
    }
}

/// The phone cell of each row of a file from `patient_file_of`, as
/// uploaded (the last column; the file has no quoted cells).
pub fn phone_cells(file: &[u8]) -> Vec<&str> {
    std::str::from_utf8(file)
        .expect("the bench's files are UTF-8")
        .lines()
        .skip(1)
        .map(|line| line.rsplit(',').next().unwrap_or(""))
        .collect()
}
