//! UK mobile numbers: from whatever a practice typed to E.164.
//!
//! Accepts the forms GOV.UK Notify accepts (`07723 456789`, `+44 (0)7723
//! 456 789`, `0044 7723456789`, `447723456789`, ...) and Excel's lost leading
//! zero (`7723456789`). Which numbers are mobiles is `uk_mobiles`' business.

use crate::cell::{clean_cell, looks_like_scientific, push_ten_digits};
use crate::uk_mobiles;
use crate::verdict::{Reason, ReasonCode};

/// A valid UK mobile: its 10-digit national number (`7700900123`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mobile(u64);

impl Mobile {
    /// E.164: `+447700900123`.
    pub fn e164(self) -> String {
        e164(self.0)
    }

    /// The national number without its 0, as one integer: `7700900123`.
    pub fn digits(self) -> u64 {
        self.0
    }

    /// As staff write it: `07700 900123`.
    pub fn national(self) -> String {
        let digits = self.0.to_string();
        format!("0{} {}", &digits[..4], &digits[4..])
    }
}

/// E.164 of a UK mobile's national number without its 0, as
/// [`Mobile::digits`] gives it: `+447700900123` for `7700900123`.
pub fn e164(digits: u64) -> String {
    let mut out = String::with_capacity(13);
    out.push_str("+44");
    push_ten_digits(&mut out, digits);
    out
}

/// Why a cell is not a UK mobile number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MobileError {
    /// The cell is empty.
    Missing,
    /// A spreadsheet turned it into a number like `7.7009E+09`.
    SpreadsheetNumber,
    /// Characters other than digits, spaces, `(`, `)`, `+` and `-`.
    Characters,
    /// Too few digits for a UK mobile.
    TooShort,
    /// Too many digits for a UK mobile.
    TooLong,
    /// A number outside the UK.
    International,
    /// A 070 personal number.
    Personal,
    /// A 076 pager number.
    Pager,
    /// Any other UK number that is not a mobile: landline, freephone, premium...
    NotMobile,
}

impl MobileError {
    /// The stable reason code.
    pub fn code(self) -> ReasonCode {
        use ReasonCode::*;
        match self {
            MobileError::Missing => MissingMobileNumber,
            MobileError::SpreadsheetNumber
            | MobileError::Characters
            | MobileError::TooShort
            | MobileError::TooLong => InvalidMobileNumber,
            MobileError::International
            | MobileError::Personal
            | MobileError::Pager
            | MobileError::NotMobile => NotAUkMobile,
        }
    }

    /// A plain-English message for the practice, in GOV.UK Notify's words
    /// where Notify has them.
    pub fn message(self) -> &'static str {
        match self {
            MobileError::Missing => "Mobile number is missing",
            MobileError::SpreadsheetNumber => {
                "Mobile number was changed by a spreadsheet into a number like 7.7009E+09 – format the column as text and export the file again"
            }
            MobileError::Characters => {
                "Mobile numbers can only include: 0 1 2 3 4 5 6 7 8 9 ( ) + -"
            }
            MobileError::TooShort => "Mobile number is too short",
            MobileError::TooLong => "Mobile number is too long",
            MobileError::International => {
                "This is an international number – only UK mobile numbers can be messaged"
            }
            MobileError::Personal => {
                "This is a personal number (070), not a mobile – use the patient's mobile number"
            }
            MobileError::Pager => {
                "This is a pager number (076), not a mobile – use the patient's mobile number"
            }
            MobileError::NotMobile => {
                "This does not look like a UK mobile number – double check the mobile number you entered"
            }
        }
    }
}

/// Normalises a raw phone number as patients' numbers are: E.164 for a UK
/// mobile, else the reason it is not one.
pub fn normalise(raw: &str) -> Result<String, Reason> {
    parse(&clean_cell(raw))
        .map(Mobile::e164)
        .map_err(|e| Reason::new(e.code(), e.message()))
}

/// Parses a cleaned cell.
pub fn parse(cell: &str) -> Result<Mobile, MobileError> {
    if cell.is_empty() {
        return Err(MobileError::Missing);
    }
    // 20 digits is far past any valid form; more is simply "too long".
    let mut buf = [0u8; 20];
    let mut len = 0usize;
    for c in cell.chars() {
        match c {
            '0'..='9' => {
                if len == buf.len() {
                    return Err(MobileError::TooLong);
                }
                buf[len] = c as u8;
                len += 1;
            }
            ' ' | '\t' | '(' | ')' | '-' | '+' => {}
            _ if looks_like_scientific(cell) => return Err(MobileError::SpreadsheetNumber),
            _ => return Err(MobileError::Characters),
        }
    }
    let digits = &buf[..len];
    let plus = cell.starts_with('+');
    let national = if plus || digits.starts_with(b"00") {
        let after_prefix = if plus { digits } else { &digits[2..] };
        match after_prefix.strip_prefix(b"44") {
            Some(rest) => rest,
            None if after_prefix.len() < 2 => return Err(MobileError::TooShort),
            None => return Err(MobileError::International),
        }
    } else if digits.len() >= 12 && digits.starts_with(b"44") {
        &digits[2..]
    } else {
        digits
    };
    // One trunk zero: `07700...`, `+44 (0)7700...`.
    let national = national.strip_prefix(b"0").unwrap_or(national);
    match national.first() {
        None => return Err(MobileError::TooShort),
        Some(b'7') => {}
        Some(_) => return Err(MobileError::NotMobile),
    }
    if national.len() > 10 {
        return Err(MobileError::TooLong);
    }
    if national.len() < 10 {
        return Err(MobileError::TooShort);
    }
    let n = national
        .iter()
        .fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'));
    if uk_mobiles::is_mobile(n) {
        Ok(Mobile(n))
    } else if national[1] == b'0' {
        Err(MobileError::Personal)
    } else if national[1] == b'6' {
        Err(MobileError::Pager)
    } else {
        Err(MobileError::NotMobile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(cell: &str) -> Result<String, MobileError> {
        parse(&clean_cell(cell)).map(Mobile::e164)
    }

    /// GOV.UK Notify's test_phone_number.py: all of these are 447723456789.
    #[test]
    fn notify_valid_forms() {
        for raw in [
            "7723456789",
            "07723456789",
            "07723 456789",
            "07723-456-789",
            "00447723456789",
            "00 44 7723456789",
            "+447723456789",
            "+44 7723 456 789",
            "+44 (0)7723 456 789",
            "\u{200B}\t\t+44 (0)7723 \u{FEFF} 456 789 \r\n",
            "447723456789",
        ] {
            assert_eq!(e164(raw).as_deref(), Ok("+447723456789"), "{raw:?}");
        }
    }

    #[test]
    fn notify_too_long() {
        for raw in ["772345678910", "0044772345678910", "+44 (0)7723 456 789 10"] {
            assert_eq!(e164(raw), Err(MobileError::TooLong), "{raw:?}");
        }
    }

    #[test]
    fn notify_too_short() {
        for raw in ["0772345678", "004477234567"] {
            assert_eq!(e164(raw), Err(MobileError::TooShort), "{raw:?}");
        }
    }

    #[test]
    fn notify_unknown_characters() {
        for raw in [
            "07890x32109",
            "07723 456789...",
            "07\";DROP TABLE;\"",
            "ALPHANUM3R1C",
            // Characters outside ASCII, digits among them.
            "07700 90012\u{FF13}",
            "07700\u{2013}900123",
            "\u{0660}7700 900123",
        ] {
            assert_eq!(e164(raw), Err(MobileError::Characters), "{raw:?}");
        }
    }

    #[test]
    fn notify_not_uk_mobiles() {
        for raw in [
            "0117 496 0860",
            "+44 117 496 0860",
            "020 7946 0991",
            "030 1234 5678",
            "0800 11 12",
        ] {
            assert_eq!(e164(raw), Err(MobileError::NotMobile), "{raw:?}");
        }
    }

    #[test]
    fn international_personal_and_pager_numbers() {
        assert_eq!(e164("+353 87 123 4567"), Err(MobileError::International));
        assert_eq!(e164("0033 6 12 34 56 78"), Err(MobileError::International));
        assert_eq!(e164("07012 345678"), Err(MobileError::Personal));
        assert_eq!(e164("07640 123456"), Err(MobileError::Pager));
    }

    #[test]
    fn spreadsheet_damage() {
        // Excel drops the leading zero: still the same number.
        assert_eq!(e164("7700900123").as_deref(), Ok("+447700900123"));
        assert_eq!(e164("7.7009E+09"), Err(MobileError::SpreadsheetNumber));
        assert_eq!(e164("7.7009e9"), Err(MobileError::SpreadsheetNumber));
        assert!(!looks_like_scientific("07700E"));
    }

    #[test]
    fn drama_range_and_formats() {
        let m = parse("07700 900000").unwrap();
        assert_eq!(m.e164(), "+447700900000");
        assert_eq!(m.national(), "07700 900000");
        assert_eq!(e164("07700 900999").as_deref(), Ok("+447700900999"));
        assert_eq!(e164("07700 901000"), Err(MobileError::NotMobile));
        assert_eq!(e164(""), Err(MobileError::Missing));
        assert_eq!(e164("+"), Err(MobileError::TooShort));
    }
}
