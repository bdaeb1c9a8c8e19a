//! The stable codes a validator answers with: why a patient was not accepted
//! ([`ReasonCode`]) and why a file was refused as a whole
//! ([`FileErrorCode`]). The strings are a contract (README: the contract);
//! these enums let a platform match on them instead of on strings. A code
//! this host does not know, from a newer validator, is kept as `Other`.

/// Defines a code enum: its variants and their strings, `as_str`, `Display`,
/// conversion from the validator's string, and serialisation as the string.
macro_rules! codes {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A code this host does not know (a newer validator's), as given.
            Other(String),
        }

        impl $name {
            /// Every code this host knows, in the README's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),*];

            /// The stable string, e.g. `invalid-nhs-number`.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(code) => code,
                }
            }
        }

        impl From<&str> for $name {
            fn from(code: &str) -> $name {
                match code {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl From<String> for $name {
            fn from(code: String) -> $name {
                match $name::from(code.as_str()) {
                    $name::Other(_) => $name::Other(code),
                    known => known,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

codes!(
    /// Why a patient was not accepted.
    ReasonCode {
        /// The NHS number cell is empty.
        MissingNhsNumber = "missing-nhs-number",
        /// Wrong length, characters, or check digit.
        InvalidNhsNumber = "invalid-nhs-number",
        /// An earlier row has the same NHS number (the first stays).
        DuplicateNhsNumber = "duplicate-nhs-number",
        /// The mobile number cell is empty.
        MissingMobileNumber = "missing-mobile-number",
        /// Letters, too short, too long, or not a phone number at all.
        InvalidMobileNumber = "invalid-mobile-number",
        /// A landline, 070 personal, pager, premium, freephone or international number.
        NotAUkMobile = "not-a-uk-mobile",
        /// The date of birth cell is empty (only when the file has the column).
        MissingDateOfBirth = "missing-date-of-birth",
        /// Not a real date, in the future, or before 1900.
        InvalidDateOfBirth = "invalid-date-of-birth",
        /// The number's last message failed: a single message may still be
        /// sent on purpose.
        LikelyToFail = "likely-to-fail",
        /// The row is the header row again, not a patient.
        RepeatedHeader = "repeated-header",
    }
);

codes!(
    /// Why a file was refused as a whole: nothing in it was validated.
    FileErrorCode {
        /// No header row, or nothing at all.
        EmptyFile = "empty-file",
        /// The header row has no NHS number or no mobile column.
        MissingColumn = "missing-column",
        /// More patients than the rules allow.
        TooManyRows = "too-many-rows",
        /// Not CSV that can be read, e.g. a quote never closed.
        MalformedCsv = "malformed-csv",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_round_trip_and_unknown_ones_are_kept() {
        for code in ReasonCode::KNOWN {
            assert_eq!(&ReasonCode::from(code.as_str()), code);
        }
        for code in FileErrorCode::KNOWN {
            assert_eq!(&FileErrorCode::from(code.as_str().to_string()), code);
        }
        let new = ReasonCode::from("a-newer-reason");
        assert_eq!(new, ReasonCode::Other("a-newer-reason".into()));
        assert_eq!(new.as_str(), "a-newer-reason");
        assert_eq!(
            serde_json::to_string(&ReasonCode::NotAUkMobile).unwrap(),
            "\"not-a-uk-mobile\""
        );
    }
}
