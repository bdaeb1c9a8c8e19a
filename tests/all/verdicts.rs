//! Per-patient verdicts through the component: every reason code, every
//! status, and the shape of a verdict.

use presend_host::Status;
use presend_host::history::Outcome;

use crate::common::{MemoryHistory, codes, row, run, run_with};

const HEADER: &str = "NHS Number,First Name,Date of Birth,Mobile Number\n";

#[test]
fn a_good_patient_is_accepted_with_normalised_identifiers() {
    let report = run(&format!(
        "{HEADER}999 000 0018,Ann,05/03/1980,07700 900123\n"
    ));
    let p = row(&report, 2);
    assert_eq!(p.status, Status::Accepted);
    assert!(p.reasons.is_empty());
    assert_eq!(p.nhs_number.as_deref(), Some("9990000018"));
    assert_eq!(p.mobile_number.as_deref(), Some("+447700900123"));
    assert_eq!(
        p.success_probability,
        Some(0.95),
        "no history: the rules' prior"
    );
    assert!(p.cells.is_empty(), "accepted patients carry no cells");
}

#[test]
fn every_reason_code_reaches_the_host() {
    let csv = format!(
        "{HEADER}\
         ,Missing NHS,05/03/1980,07700 900001\n\
         9990000019,Bad check digit,05/03/1980,07700 900002\n\
         9990000018,First,05/03/1980,07700 900003\n\
         9990000018,Duplicate,05/03/1980,07700 900004\n\
         9990000026,No mobile,05/03/1980,\n\
         9990000034,Letters,05/03/1980,07700 9OO123\n\
         9990000042,Landline,05/03/1980,0117 496 0860\n\
         9990000050,No DOB,,07700 900008\n\
         9990000069,Bad DOB,31/02/1980,07700 900009\n\
         9990000077,Failed last,05/03/1980,07700 900010\n"
    );
    let history = MemoryHistory::new();
    history.add("+447700900010", 3, Outcome::PermanentFailure);
    let report = run_with(&csv, &history);
    let expect = [
        (2, "missing-nhs-number"),
        (3, "invalid-nhs-number"),
        (5, "duplicate-nhs-number"),
        (6, "missing-mobile-number"),
        (7, "invalid-mobile-number"),
        (8, "not-a-uk-mobile"),
        (9, "missing-date-of-birth"),
        (10, "invalid-date-of-birth"),
        (11, "likely-to-fail"),
    ];
    for (r, code) in expect {
        let p = row(&report, r);
        assert_eq!(codes(p), [code], "row {r}");
        assert!(!p.reasons[0].message.is_empty());
    }
    assert_eq!(
        row(&report, 4).status,
        Status::Accepted,
        "the first of two duplicates stays"
    );
    assert_eq!(row(&report, 11).status, Status::LikelyToFail);
    assert!(row(&report, 11).success_probability.unwrap() <= 0.10);
    assert_eq!(report.summary.total, 10);
    assert_eq!(report.summary.accepted, 1);
    assert_eq!(report.summary.rejected, 8);
    assert_eq!(report.summary.likely_to_fail, 1);
}

#[test]
fn all_reasons_are_listed_and_any_problem_rejects() {
    let history = MemoryHistory::new();
    history.add("+447700900123", 1, Outcome::Failed);
    let report = run_with(
        &format!("{HEADER}123,X,32/01/1980,07700 900123\n"),
        &history,
    );
    let p = row(&report, 2);
    assert_eq!(
        codes(p),
        [
            "invalid-nhs-number",
            "invalid-date-of-birth",
            "likely-to-fail"
        ]
    );
    assert_eq!(
        p.status,
        Status::Rejected,
        "a record problem outranks the history"
    );
    assert_eq!(p.cells, ["123", "X", "32/01/1980", "07700 900123"]);
}

#[test]
fn date_of_birth_is_only_checked_when_the_file_has_the_column() {
    let report = run("NHS Number,Mobile\n9990000018,07700900123\n");
    assert_eq!(row(&report, 2).status, Status::Accepted);
}

#[test]
fn every_input_form_of_a_number_is_the_same_number() {
    let forms = [
        "07700 900123",
        "07700900123",
        "7700900123",
        "+447700900123",
        "+44 (0)7700 900 123",
        "0044 7700 900123",
        "07700-900-123",
    ];
    let mut csv = String::from("NHS Number,Mobile\n");
    let nhs = [
        "9990000018",
        "9990000026",
        "9990000034",
        "9990000042",
        "9990000050",
        "9990000069",
        "9990000077",
    ];
    for (n, f) in nhs.iter().zip(forms) {
        csv.push_str(&format!("{n},\"{f}\"\n"));
    }
    let report = run(&csv);
    for p in &report.patients {
        assert_eq!(
            p.mobile_number.as_deref(),
            Some("+447700900123"),
            "row {}",
            p.row
        );
    }
}

#[test]
fn scientific_notation_gets_a_clear_message() {
    let report = run("NHS Number,Mobile\n9990000018,7.7009E+09\n");
    let p = row(&report, 2);
    assert_eq!(codes(p), ["invalid-mobile-number"]);
    assert!(
        p.reasons[0].message.contains("spreadsheet"),
        "{}",
        p.reasons[0].message
    );
}

#[test]
fn likely_to_fail_need_not_block_when_the_rules_say_so() {
    let rules =
        "name = \"advice-only\"\nversion = \"1.0.0\"\n[likely_to_fail]\nblocks_batch = false\n";
    let rules = crate::common::validator()
        .check_rules(rules, "test")
        .unwrap();
    let history = MemoryHistory::new();
    history.add("+447700900123", 1, Outcome::Failed);
    let mut options = crate::common::options(Some(history));
    options.rules = rules;
    let report = crate::common::validator()
        .validate(b"NHS Number,Mobile\n9990000018,07700900123\n", &options)
        .unwrap();
    let p = row(&report, 2);
    assert_eq!(p.status, Status::Accepted);
    assert_eq!(codes(p), ["likely-to-fail"], "the advice is kept");
    assert_eq!(report.rules.name, "advice-only");
}
