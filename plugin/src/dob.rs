//! Dates of birth, day first (this is the UK).
//!
//! Accepted: `DD/MM/YYYY`, `D/M/YYYY`, `DD-MM-YYYY`, `DD.MM.YYYY`,
//! `YYYY-MM-DD`, `DD-Mon-YYYY` (`05-Mar-1980`, any case, month names too), and
//! any of these followed by a time, as Excel writes `DD/MM/YYYY HH:MM`.
//!
//! The calendar arithmetic is two textbook formulas (leap years, and days
//! since 1970 to a date); they are written here rather than pulling a date
//! crate into the component for them.

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year, e.g. 1980.
    pub year: i32,
    /// Month, 1-12.
    pub month: u8,
    /// Day of the month, 1-31.
    pub day: u8,
}

/// Why a cell is not a usable date of birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DobError {
    /// The cell is empty.
    Missing,
    /// Not in a format we read.
    Format,
    /// A day or month that does not exist (31/02/1980, 01/13/1980).
    NotADate,
    /// After today.
    Future,
    /// Before 1900.
    TooOld,
}

impl DobError {
    /// A plain-English message for the practice.
    pub fn message(self) -> &'static str {
        match self {
            DobError::Missing => "Date of birth is missing",
            DobError::Format => "Date of birth must be a date like 31/12/1980",
            DobError::NotADate => "Date of birth is not a real date – check the day and month",
            DobError::Future => "Date of birth is in the future",
            DobError::TooOld => "Date of birth is before 1900 – check the year",
        }
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Parses a cleaned cell and checks it against `today`.
pub fn parse(cell: &str, today: Date) -> Result<Date, DobError> {
    if cell.is_empty() {
        return Err(DobError::Missing);
    }
    let (year, month, day) = match slashed(cell.as_bytes()) {
        Some(fields) => fields,
        None => fields(cell)?,
    };
    check(year, month, day, today)
}

/// `DD/MM/YYYY`, what practice systems and Excel write, read straight from
/// its bytes: the general reading ([`fields`]) splits, trims and parses
/// each part, and was 5% of a batch in the component. The two agree on
/// every cell of this shape (a test runs both).
fn slashed(cell: &[u8]) -> Option<(i32, u32, u32)> {
    let &[d1, d2, b'/', m1, m2, b'/', y1, y2, y3, y4] = cell else {
        return None;
    };
    let digits = [d1, d2, m1, m2, y1, y2, y3, y4];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |ds: &[u8]| ds.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    let year = i32::try_from(n(&digits[4..])).ok()?;
    Some((year, n(&digits[2..4]), n(&digits[..2])))
}

/// The year, month and day a non-empty cell writes, in any accepted format.
fn fields(cell: &str) -> Result<(i32, u32, u32), DobError> {
    let date_part = strip_time(cell).ok_or(DobError::Format)?;
    let sep = ['/', '-', '.']
        .into_iter()
        .find(|&s| date_part.contains(s))
        .ok_or(DobError::Format)?;
    let mut parts = date_part.split(sep).map(str::trim);
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DobError::Format);
    };
    let (year, month, day) = if a.len() == 4 { (a, b, c) } else { (c, b, a) };
    if year.len() != 4 {
        return Err(DobError::Format);
    }
    let year: i32 = digits(year).ok_or(DobError::Format)?;
    let day: u32 = digits(day)
        .filter(|_| (1..=2).contains(&day.len()))
        .ok_or(DobError::Format)?;
    let month: u32 = match digits::<u32>(month) {
        Some(m) if (1..=2).contains(&month.len()) => m,
        Some(_) => return Err(DobError::Format),
        None => month_by_name(month).ok_or(DobError::Format)?,
    };
    Ok((year, month, day))
}

/// A date from its fields, if it exists, is not after `today` and is not
/// before 1900.
fn check(year: i32, month: u32, day: u32, today: Date) -> Result<Date, DobError> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month as u8).into() {
        return Err(DobError::NotADate);
    }
    let date = Date {
        year,
        month: month as u8,
        day: day as u8,
    };
    if year < 1900 {
        Err(DobError::TooOld)
    } else if date > today {
        Err(DobError::Future)
    } else {
        Ok(date)
    }
}

/// The date part of `date[ time]` or `dateTtime`; `None` when what follows the
/// date is not a time.
fn strip_time(cell: &str) -> Option<&str> {
    let Some(at) = cell.find([' ', 'T']) else {
        return Some(cell);
    };
    // `05 Mar 1980`-style dates are not ours; only a trailing time is.
    let time = cell[at + 1..].trim();
    let is_time = time.contains(':')
        && time
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'.');
    is_time.then(|| cell[..at].trim_end())
}

fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month_by_name(name: &str) -> Option<u32> {
    if name.len() < 3 {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| {
            *m == lower
                || (lower.len() == 3 && m.starts_with(&lower))
                || (lower == "sept" && *m == "september")
        })
        .map(|i| i as u32 + 1)
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// The UTC date of a Unix time in seconds (Howard Hinnant's
    /// `civil_from_days`).
    pub fn from_unix(seconds: i64) -> Date {
        let z = seconds.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = Date {
        year: 2026,
        month: 11,
        day: 27,
    };

    fn d(year: i32, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    #[test]
    fn accepted_formats() {
        for cell in [
            "05/03/1980",
            "5/3/1980",
            "05-03-1980",
            "05.03.1980",
            "1980-03-05",
            "05-Mar-1980",
            "05-MAR-1980",
            "5-march-1980",
            "05/03/1980 00:00",
            "05/03/1980 13:45:00",
            "1980-03-05T00:00:00",
        ] {
            assert_eq!(parse(cell, TODAY), Ok(d(1980, 3, 5)), "{cell}");
        }
    }

    #[test]
    fn day_comes_first() {
        assert_eq!(parse("12/01/1990", TODAY), Ok(d(1990, 1, 12)));
        assert_eq!(parse("01/13/1990", TODAY), Err(DobError::NotADate));
    }

    #[test]
    fn impossible_dates() {
        assert_eq!(parse("31/02/1980", TODAY), Err(DobError::NotADate));
        assert_eq!(parse("29/02/1981", TODAY), Err(DobError::NotADate));
        assert_eq!(parse("29/02/1980", TODAY), Ok(d(1980, 2, 29)));
        assert_eq!(parse("29/02/2000", TODAY), Ok(d(2000, 2, 29)));
        assert_eq!(parse("29/02/1900", TODAY), Err(DobError::NotADate));
        assert_eq!(parse("00/01/1980", TODAY), Err(DobError::NotADate));
    }

    #[test]
    fn future_and_too_old() {
        assert_eq!(parse("27/11/2026", TODAY), Ok(TODAY));
        assert_eq!(parse("28/11/2026", TODAY), Err(DobError::Future));
        assert_eq!(parse("31/12/1899", TODAY), Err(DobError::TooOld));
        assert_eq!(parse("01/01/1900", TODAY), Ok(d(1900, 1, 1)));
    }

    #[test]
    fn unreadable() {
        for cell in [
            "yesterday",
            "05/03/80",
            "1980",
            "05/03/1980/1",
            "05 Mar 1980",
            "5/3/1980 noon",
            "123/1/1980",
        ] {
            assert_eq!(parse(cell, TODAY), Err(DobError::Format), "{cell}");
        }
        assert_eq!(parse("", TODAY), Err(DobError::Missing));
    }

    /// Guards the `DD/MM/YYYY` shortcut: on every cell of that shape (days
    /// and months 00-39, years around each boundary), it and the general
    /// reading give the same answer.
    #[test]
    fn the_slashed_shortcut_reads_as_the_general_reading_does() {
        let general = |cell: &str| fields(cell).and_then(|(y, m, d)| check(y, m, d, TODAY));
        for year in [0, 1899, 1900, 1980, 2000, 2024, 2025, 2026, 2027, 9999] {
            for month in 0..40 {
                for day in 0..40 {
                    let cell = format!("{day:02}/{month:02}/{year:04}");
                    assert_eq!(parse(&cell, TODAY), general(&cell), "{cell}");
                }
            }
        }
        // Not of the shape: the general reading decides.
        assert_eq!(slashed(b"5/03/1980"), None);
        assert_eq!(slashed(b"05/03/198a"), None);
        assert_eq!(slashed(b"05-03-1980"), None);
    }

    #[test]
    fn unix_time_to_date() {
        assert_eq!(Date::from_unix(0), d(1970, 1, 1));
        assert_eq!(Date::from_unix(1_795_737_600), d(2026, 11, 27)); // 2026-11-27T00:00:00Z
        assert_eq!(Date::from_unix(1_795_823_999), d(2026, 11, 27));
        assert_eq!(Date::from_unix(951_782_400), d(2000, 2, 29));
        assert_eq!(Date::from_unix(-1), d(1969, 12, 31));
    }
}
