//! NHS numbers: 10 digits, the last a modulus 11 check digit (NHS Data
//! Dictionary). Written as `9434765919`, `943 476 5919` or `943-476-5919`.

use crate::cell::{looks_like_scientific, ten_digits};

/// Why a cell is not a valid NHS number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NhsError {
    /// The cell is empty.
    Missing,
    /// A spreadsheet turned it into a number like `9.43E+09`.
    SpreadsheetNumber,
    /// Something other than digits, spaces and hyphens.
    Characters,
    /// Not 10 digits.
    Length,
    /// The check digit does not match (or no check digit is possible).
    CheckDigit,
}

impl NhsError {
    /// A plain-English message for the practice.
    pub fn message(self) -> &'static str {
        match self {
            NhsError::Missing => "NHS number is missing",
            NhsError::SpreadsheetNumber => {
                "NHS number was changed by a spreadsheet into a number like 9.43E+09 – format the column as text and export the file again"
            }
            NhsError::Characters => "NHS numbers can only include: 0 1 2 3 4 5 6 7 8 9 and spaces",
            NhsError::Length => "NHS number must be 10 digits",
            NhsError::CheckDigit => {
                "This is not a valid NHS number – double check the NHS number you entered"
            }
        }
    }
}

/// Parses a cleaned cell into the number's 10 digits.
pub fn parse(cell: &str) -> Result<u64, NhsError> {
    if cell.is_empty() {
        return Err(NhsError::Missing);
    }
    let mut digits = [0u8; 10];
    let mut count = 0usize;
    for c in cell.chars() {
        match c {
            '0'..='9' => {
                if count < 10 {
                    digits[count] = c as u8 - b'0';
                }
                count += 1;
            }
            ' ' | '-' => {}
            _ if looks_like_scientific(cell) => {
                return Err(NhsError::SpreadsheetNumber);
            }
            _ => return Err(NhsError::Characters),
        }
    }
    if count != 10 {
        return Err(NhsError::Length);
    }
    if check_digit(&digits[..9]) != Some(digits[9]) {
        return Err(NhsError::CheckDigit);
    }
    Ok(digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d)))
}

/// The modulus 11 check digit of the first nine digits; `None` when the
/// remainder makes it 10, which no valid number has.
pub fn check_digit(first_nine: &[u8]) -> Option<u8> {
    let sum: u32 = first_nine
        .iter()
        .zip((2..=10).rev())
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        c => Some(c as u8),
    }
}

/// The 10 digits as text, with leading zeros kept.
pub fn format(number: u64) -> String {
    ten_digits(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_numbers_from_the_data_dictionary() {
        for n in [
            "9434765919",
            "9000000009",
            "9876543210",
            "4000000632",
            "1234567881",
        ] {
            assert_eq!(parse(n).map(format).as_deref(), Ok(n), "{n}");
        }
    }

    #[test]
    fn grouped_forms_are_accepted() {
        assert_eq!(parse("943 476 5919"), Ok(9434765919));
        assert_eq!(parse("943-476-5919"), Ok(9434765919));
    }

    #[test]
    fn invalid_numbers_from_the_data_dictionary() {
        assert_eq!(parse("1234567890"), Err(NhsError::CheckDigit)); // check would be 10
        assert_eq!(parse("9990000000"), Err(NhsError::CheckDigit));
        assert_eq!(parse("9876544321"), Err(NhsError::CheckDigit));
        assert_eq!(parse("123456789"), Err(NhsError::Length));
        assert_eq!(parse("94347659190"), Err(NhsError::Length));
        assert_eq!(parse("943476591O"), Err(NhsError::Characters));
        // Outside ASCII: a fullwidth 9, an en dash.
        assert_eq!(parse("\u{FF19}434765919"), Err(NhsError::Characters));
        assert_eq!(
            parse("943\u{2013}476\u{2013}5919"),
            Err(NhsError::Characters)
        );
        assert_eq!(parse("9.43477E+09"), Err(NhsError::SpreadsheetNumber));
        assert_eq!(parse(""), Err(NhsError::Missing));
    }

    #[test]
    fn test_numbers_used_in_examples_are_valid() {
        for n in ["9990000018", "9990000026", "9990000034"] {
            assert!(parse(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn leading_zeros_survive_formatting() {
        // 012345678 + check digit: sum = 0*10+1*9+2*8+...; whatever it is, it round-trips.
        let first: [u8; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 9];
        let check = check_digit(&first).unwrap();
        let text: String = first
            .iter()
            .chain([check].iter())
            .map(|d| char::from(b'0' + d))
            .collect();
        assert_eq!(parse(&text).map(format), Ok(text));
    }
}
