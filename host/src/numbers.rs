//! The numbers a verdict carries, held inline: a patient's NHS number and
//! mobile cost no allocation of their own. As `String`s, writing them (two a
//! patient) and freeing them again was about 6% of the instructions of a
//! 100k-row batch without history (callgrind).
//!
//! Both read as `&str` ([`NhsNumber::as_str`], or through `Deref`), compare
//! with string slices, print and serialise as the string they hold, so the
//! report's JSON is the same as with `String`s.

use std::fmt;
use std::ops::Deref;

use serde::{Serialize, Serializer};

/// A valid NHS number's 10 digits, as the validator found them
/// (`9990000018`; it may start with 0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NhsNumber([u8; 10]);

impl NhsNumber {
    /// The NHS number whose 10 digits `n` is, zeros first: `None` past 10
    /// digits.
    pub fn from_digits(n: u64) -> Option<NhsNumber> {
        let mut digits = [0; 10];
        write_digits(&mut digits, n).then_some(NhsNumber(digits))
    }

    /// `s` when it is 10 ASCII digits. This checks the form only, not the
    /// check digit: judging the number is the validator's job.
    pub fn parse(s: &str) -> Option<NhsNumber> {
        let digits: [u8; 10] = s.as_bytes().try_into().ok()?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then_some(NhsNumber(digits))
    }

    /// The 10 digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A mobile number in E.164 form, as the validator normalised it
/// (`+447700900123`): `+` and 7 to 15 digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MobileNumber {
    /// `+`, the digits, then unused bytes.
    bytes: [u8; 16],
    /// How many of `bytes` are the number.
    len: u8,
}

impl MobileNumber {
    /// The UK mobile whose national number without its 0 is `national`
    /// (`7700900123` for `+447700900123`): `None` unless it is 7 and nine
    /// more digits.
    pub fn uk(national: u64) -> Option<MobileNumber> {
        if !is_uk_mobile(national) {
            return None;
        }
        let mut bytes = [0; 16];
        bytes[..3].copy_from_slice(b"+44");
        let digits: &mut [u8; 10] = (&mut bytes[3..13]).try_into().ok()?;
        write_digits(digits, national);
        Some(MobileNumber { bytes, len: 13 })
    }

    /// `s` when it is in E.164 form: `+` and 7 to 15 ASCII digits.
    pub fn parse(s: &str) -> Option<MobileNumber> {
        let digits = s.strip_prefix('+')?;
        if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut bytes = [0; 16];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Some(MobileNumber {
            bytes,
            len: s.len() as u8,
        })
    }

    /// The number in E.164 form.
    pub fn as_str(&self) -> &str {
        // Only `+` and ASCII digits are ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// Whether `national` is a UK mobile's national number without the 0: 7
/// and nine more digits.
pub(crate) fn is_uk_mobile(national: u64) -> bool {
    (7_000_000_000..8_000_000_000).contains(&national)
}

/// Writes `n` as 10 digits into `out`, zeros first: `false` when it has
/// more. Two digits at a time from a table, after one split into 32-bit
/// halves: a digit at a time it was 200 instructions a number, half the
/// cost of lifting a verdict (callgrind); `format!("{n:010}")` was 600.
fn write_digits(out: &mut [u8; 10], n: u64) -> bool {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
                                2021222324252627282930313233343536373839\
                                4041424344454647484950515253545556575859\
                                6061626364656667686970717273747576777879\
                                8081828384858687888990919293949596979899";
    if n >= 10_000_000_000 {
        return false;
    }
    // The first two digits, then eight that fit a u32.
    let (high, mut low) = ((n / 100_000_000) as usize, (n % 100_000_000) as u32);
    for at in (1..5).rev() {
        let pair = (low % 100) as usize * 2;
        low /= 100;
        out[at * 2..at * 2 + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    out[..2].copy_from_slice(&PAIRS[high * 2..high * 2 + 2]);
    true
}

/// What both number types share: a string slice, compared, printed and
/// serialised as one.
macro_rules! reads_as_str {
    ($name:ident) => {
        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                self.as_str()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// As the string it holds, as a `String`'s `Debug` would show it.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_str()
            }
        }
    };
}

reads_as_str!(NhsNumber);
reads_as_str!(MobileNumber);

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of every size below 10^10: xorshift, and the edges.
    fn samples() -> Vec<u64> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut samples = vec![0, 1, 9, 10, 18, 999_999_999, 7_000_000_000, 9_999_999_999];
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            samples.push(state % 10_000_000_000);
        }
        samples
    }

    /// The oracle is the standard library's own formatting.
    #[test]
    fn numbers_are_written_as_std_writes_them() {
        for n in samples() {
            let nhs = NhsNumber::from_digits(n).expect("10 digits");
            assert_eq!(nhs.as_str(), format!("{n:010}"));
            assert_eq!(NhsNumber::parse(&format!("{n:010}")), Some(nhs));
            let mobile = MobileNumber::uk(n);
            if (7_000_000_000..8_000_000_000).contains(&n) {
                let e164 = format!("+44{n}");
                assert_eq!(mobile.map(|m| m.to_string()), Some(e164.clone()));
                assert_eq!(MobileNumber::parse(&e164), mobile);
            } else {
                assert_eq!(mobile, None);
            }
        }
        assert_eq!(NhsNumber::from_digits(10_000_000_000), None);
        assert_eq!(NhsNumber::from_digits(u64::MAX), None);
        assert_eq!(MobileNumber::uk(70_000_000_000), None);
    }

    #[test]
    fn only_the_forms_are_read() {
        for bad in [
            "",
            "999000001",
            "99900000189",
            "999 000 001",
            "999000001x",
            "٩٩٩٠٠٠٠٠١٨",
        ] {
            assert_eq!(NhsNumber::parse(bad), None, "{bad:?}");
        }
        // `+` and 7 to 15 digits, as E.164 has them.
        assert_eq!(
            MobileNumber::parse("+1234567").map(|m| m.to_string()),
            Some("+1234567".to_string())
        );
        let longest = "+123456789012345";
        assert_eq!(
            MobileNumber::parse(longest).map(|m| m.to_string()),
            Some(longest.into())
        );
        for bad in [
            "",
            "+",
            "+123456",
            "+1234567890123456",
            "447700900123",
            "+44 7700 900123",
            "+4477009001x3",
        ] {
            assert_eq!(MobileNumber::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn they_read_print_and_serialise_as_their_strings() {
        let nhs = NhsNumber::parse("0000000019").expect("10 digits");
        let mobile = MobileNumber::uk(7_700_900_123).expect("a UK mobile");
        assert_eq!(nhs, "0000000019");
        assert_eq!("+447700900123", mobile);
        assert_eq!(&*mobile, "+447700900123");
        assert_eq!(format!("{nhs} {mobile}"), "0000000019 +447700900123");
        assert_eq!(format!("{nhs:?}"), format!("{:?}", "0000000019"));
        assert_eq!(
            serde_json::to_string(&(nhs, mobile)).expect("JSON"),
            r#"["0000000019","+447700900123"]"#
        );
    }
}
