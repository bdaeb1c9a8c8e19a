//! The rules: a TOML document with a name and a version, checked before use.
//!
//! Every value is checked while it is read, so an error points at the value's
//! own line and column. Unknown keys are refused.

use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer, de};

/// The rules the validator ships with (also `examples/rules/default.toml`,
/// which is this very file).
pub const DEFAULT_RULES: &str = include_str!("../../examples/rules/default.toml");

/// A parsed, checked rules document.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// The rules' name, e.g. `presend-default`.
    pub name: Name,
    /// The rules' semver version, e.g. `1.0.0`.
    pub version: Version,
    /// How the CSV is read.
    #[serde(default)]
    pub csv: CsvRules,
    /// Extra column headings.
    #[serde(default)]
    pub headers: HeaderRules,
    /// What a likely-to-fail number does to a patient.
    #[serde(default)]
    pub likely_to_fail: LikelyToFailRules,
    /// How history becomes a chance of success.
    #[serde(default)]
    pub scoring: ScoringRules,
}

/// `[csv]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvRules {
    /// More patients than this and the file is refused.
    pub max_rows: NonZeroU32,
}

impl Default for CsvRules {
    fn default() -> Self {
        CsvRules {
            max_rows: NonZeroU32::new(100_000).expect("non-zero"),
        }
    }
}

/// `[headers]`: column headings on top of the built-in ones.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderRules {
    /// Extra headings for the NHS number column.
    pub nhs_number: Vec<String>,
    /// Extra headings for the mobile number column.
    pub mobile_number: Vec<String>,
    /// Extra headings for the date of birth column.
    pub date_of_birth: Vec<String>,
}

/// `[likely_to_fail]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LikelyToFailRules {
    /// Whether a likely-to-fail number holds the patient back from the batch.
    pub blocks_batch: bool,
}

impl Default for LikelyToFailRules {
    fn default() -> Self {
        LikelyToFailRules { blocks_batch: true }
    }
}

/// `[scoring]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringRules {
    /// Chance of delivery for a number never messaged.
    pub prior: Prior,
    /// How many attempts' worth of evidence the prior counts as.
    pub prior_weight: Positive,
    /// Evidence one failed or temporarily failed message counts as.
    pub failure_weight: Positive,
    /// How many ordinary failures one permanent failure counts as.
    pub permanent_failure_factor: AtLeastOne,
    /// Evidence halves in weight every this many days; 0: it never fades.
    pub half_life_days: NonNegative,
    /// How far after "now" an attempt may be dated and still count, for
    /// clocks that disagree a little. Anything later has not happened yet as
    /// of "now": it is no evidence.
    pub clock_skew_seconds: ClockSkew,
}

impl Default for ScoringRules {
    fn default() -> Self {
        ScoringRules {
            prior: Prior(0.95),
            prior_weight: Positive(2.0),
            failure_weight: Positive(1.0),
            permanent_failure_factor: AtLeastOne(3.0),
            half_life_days: NonNegative(365.0),
            clock_skew_seconds: ClockSkew(300),
        }
    }
}

/// Why a rules document was refused, and where (1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    /// What is wrong and what to do.
    pub message: String,
    /// 1-based line, 0 when the problem has no single place.
    pub line: u32,
    /// 1-based column (in characters), 0 when the problem has no single place.
    pub column: u32,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

impl Rules {
    /// Parses and checks a rules document.
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = match e.span() {
                Some(span) => line_column(text, span.start),
                None => (0, 0),
            };
            RulesError {
                message: e.message().trim_end().to_string(),
                line,
                column,
            }
        })
    }

    /// The default rules.
    pub fn default_rules() -> Rules {
        Rules::parse(DEFAULT_RULES).expect("the default rules are valid")
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (u32, u32) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Defines a checked number: read as a float, refused with `$what` unless `$ok`.
macro_rules! checked_number {
    ($(#[$doc:meta])* $name:ident, $what:literal, |$v:ident| $ok:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name(pub f64);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let $v = f64::deserialize(d)?;
                if $v.is_finite() && $ok {
                    Ok($name($v))
                } else {
                    Err(de::Error::custom(format!("{} must be {}, not {}", stringify!($name).to_lowercase(), $what, $v)))
                }
            }
        }
    };
}

checked_number!(
    /// The chance of a number never messaged: from 0.10 up to (not
    /// including) 1. Below 0.10 a number with no history would score below
    /// every number whose last message failed (those score at most
    /// [`MIN_PRIOR`]), against the seed's ordering.
    Prior,
    "from 0.10 up to (not including) 1: below 0.10 a number never messaged would score below one whose last message failed",
    |v| (MIN_PRIOR..1.0).contains(&v)
);

/// The lowest prior allowed: the most a number whose last message failed
/// can score (`history::AFTER_FAILURE_MAX` is this), so that a number never
/// messaged never ranks below one that failed.
pub const MIN_PRIOR: f64 = 0.10;
checked_number!(
    /// A number above 0.
    Positive, "above 0", |v| v > 0.0
);
checked_number!(
    /// A number of at least 1.
    AtLeastOne, "at least 1", |v| v >= 1.0
);
checked_number!(
    /// A number of at least 0.
    NonNegative, "0 or more", |v| v >= 0.0
);

/// Seconds of clock skew allowed: a whole number from 0 to 86,400 (a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSkew(pub i64);

impl<'de> Deserialize<'de> for ClockSkew {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if (0..=86_400).contains(&v) {
            Ok(ClockSkew(v))
        } else {
            Err(de::Error::custom(format!(
                "clock_skew_seconds must be a whole number of seconds from 0 to 86400 (a day), not {v}"
            )))
        }
    }
}

/// A rules name: letters, digits, `-`, `_` and `.`, 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(pub String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = (1..=64).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if ok {
            Ok(Name(s))
        } else {
            Err(de::Error::custom(
                "name must be 1 to 64 letters, digits, `-`, `_` or `.`",
            ))
        }
    }
}

/// A semver version, `MAJOR.MINOR.PATCH` with an optional `-pre` or `+build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub String);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if is_semver(&s) {
            Ok(Version(s))
        } else {
            Err(de::Error::custom(format!(
                "version must be a semver version like \"1.2.0\", not {s:?}"
            )))
        }
    }
}

fn is_semver(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or("");
    let rest = &s[core.len()..];
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
        && rest.len() != 1
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-+.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_parse_and_match_the_code_defaults() {
        let rules = Rules::default_rules();
        assert_eq!(rules.name.0, "presend-default");
        assert_eq!(rules.version.0, "1.0.0");
        // The file documents the defaults a minimal rules file gets: keep them equal.
        let minimal = Rules::parse("name = \"presend-default\"\nversion = \"1.0.0\"\n").unwrap();
        assert_eq!(minimal, rules);
    }

    #[test]
    fn unknown_key_is_refused_with_its_place() {
        let text = "name = \"x\"\nversion = \"1.0.0\"\n[scoring]\npriro = 0.9\n";
        let err = Rules::parse(text).unwrap_err();
        assert_eq!((err.line, err.column), (4, 1), "{err}");
        assert!(err.message.contains("priro"), "{err}");
    }

    #[test]
    fn out_of_range_value_points_at_the_value() {
        let text = "name = \"x\"\nversion = \"1.0.0\"\n[scoring]\nprior = 1.5\n";
        let err = Rules::parse(text).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(err.message.contains("up to (not including) 1"), "{err}");
        let text = "name = \"x\"\nversion = \"1.0.0\"\n[scoring]\npermanent_failure_factor = 0.5\n";
        let err = Rules::parse(text).unwrap_err();
        assert!(err.message.contains("at least 1"), "{err}");
    }

    #[test]
    fn name_and_version_are_required_and_checked() {
        assert!(
            Rules::parse("version = \"1.0.0\"")
                .unwrap_err()
                .message
                .contains("name")
        );
        assert!(
            Rules::parse("name = \"x\"")
                .unwrap_err()
                .message
                .contains("version")
        );
        let err = Rules::parse("name = \"x\"\nversion = \"1.0\"").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("semver"), "{err}");
        assert!(Rules::parse("name = \"x\"\nversion = \"2.1.0-beta.1\"").is_ok());
        assert!(Rules::parse("name = \"has space\"\nversion = \"1.0.0\"").is_err());
    }

    /// `prior = 0.05` made a number never messaged score below 0.10, under
    /// every number whose last message failed, without flagging it.
    #[test]
    fn a_prior_that_ranks_new_numbers_below_failed_ones_is_refused() {
        let text = "name = \"x\"\nversion = \"1.0.0\"\n[scoring]\nprior = 0.05\n";
        let err = Rules::parse(text).unwrap_err();
        assert_eq!((err.line, err.column), (4, 9), "{err}");
        assert!(err.message.contains("whose last message failed"), "{err}");
        let at_the_edge = "name = \"x\"\nversion = \"1.0.0\"\n[scoring]\nprior = 0.10\n";
        assert_eq!(Rules::parse(at_the_edge).unwrap().scoring.prior.0, 0.10);
    }

    #[test]
    fn clock_skew_is_whole_seconds_up_to_a_day() {
        let with = |v: &str| {
            Rules::parse(&format!(
                "name = \"x\"\nversion = \"1.0.0\"\n[scoring]\nclock_skew_seconds = {v}\n"
            ))
        };
        assert_eq!(with("0").unwrap().scoring.clock_skew_seconds.0, 0);
        assert_eq!(with("86400").unwrap().scoring.clock_skew_seconds.0, 86_400);
        let err = with("86401").unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(err.message.contains("a day"), "{err}");
        assert!(with("-1").is_err());
        assert!(with("1.5").is_err());
    }

    #[test]
    fn zero_rows_is_refused() {
        let err =
            Rules::parse("name = \"x\"\nversion = \"1.0.0\"\n[csv]\nmax_rows = 0").unwrap_err();
        assert_eq!(err.line, 4, "{err}");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = Rules::parse("name = \"x\"\nversion = = \"1.0.0\"").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.column > 0);
    }
}
