//! Which `07` numbers are UK mobiles, checked against libphonenumber's own
//! metadata as a second implementation carries it: the `phonenumber` crate
//! (0.3.10+9.0.33, libphonenumber 9.0.33), whose patterns are read from
//! libphonenumber's `PhoneNumberMetadata.xml`, not copied from our table.
//!
//! A number is a mobile when the mobile pattern of GB or of a Crown
//! dependency sharing +44 (JE, GG, IM) matches it; the Ofcom drama range
//! 07700 900000-900999 is accepted on purpose as well (README: the patient
//! CSV). No pattern is finer than the first 6 national digits, so four
//! numbers in each block of 10,000 cover every `07` number.

use phonenumber::metadata::DATABASE;
use presend_plugin::mobile::{self, MobileError};

/// The mobile pattern of each region that shares +44.
fn libphonenumber_mobile(national: &str) -> bool {
    ["GB", "JE", "GG", "IM"].iter().any(|id| {
        let metadata = DATABASE.by_id(*id).expect("a region of +44");
        assert_eq!(metadata.country_code(), 44, "{id}");
        metadata
            .descriptors()
            .mobile()
            .is_some_and(|d| d.is_match(national))
    })
}

fn is_drama(national: u64) -> bool {
    (7_700_900_000..=7_700_900_999).contains(&national)
}

#[test]
fn every_07_prefix_agrees_with_libphonenumber() {
    let mut wrong = Vec::new();
    let mut mobiles = 0usize;
    for prefix in 700_000u64..800_000 {
        for suffix in [0, 999, 5_000, 9_999] {
            let national = prefix * 10_000 + suffix;
            let digits = national.to_string();
            let expected = libphonenumber_mobile(&digits) || is_drama(national);
            let got = mobile::parse(&format!("0{digits}"));
            mobiles += usize::from(expected);
            if got.is_ok() != expected {
                wrong.push(format!(
                    "0{digits}: expected mobile={expected}, got {got:?}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} numbers disagree with libphonenumber 9.0.33, e.g.:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
    // The oracle itself must have seen mobiles, or the loop proved nothing.
    assert!(mobiles > 300_000, "libphonenumber's +44 mobiles: {mobiles}");
}

#[test]
fn crown_dependency_mobiles_are_mobiles() {
    // One number per pattern branch, from libphonenumber's metadata for JE,
    // GG and IM (these are the example numbers and branch ends it lists).
    for n in [
        "07797712345", // JE 797\d
        "07797012345", // JE 797\d: the range once refused
        "07509123456", // JE 509\d
        "07700312345", // JE 700[378]
        "07781123456", // GG 781\d
        "07911712345", // GG 911[17]
        "07624012345", // IM 624[0-4689]
        "07624561234", // IM 6245[06]
    ] {
        assert!(libphonenumber_mobile(&n[1..]), "oracle: {n}");
        assert!(mobile::parse(n).is_ok(), "{n}");
    }
    assert_eq!(mobile::parse("07700 901000"), Err(MobileError::NotMobile));
}
