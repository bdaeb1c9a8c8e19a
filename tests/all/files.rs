//! Whole files through the component: encodings, row numbers, blank rows,
//! and file-level errors.

use presend_host::{Error, Status};

use crate::common::{codes, options, row, run, validator};

fn refuse(csv: &[u8]) -> (String, String, Option<u32>) {
    match validator().validate(csv, &options(None)) {
        Err(Error::File { code, message, row }) => (code.as_str().to_string(), message, row),
        other => panic!("expected a file error, got {other:?}"),
    }
}

#[test]
fn windows_1252_is_decoded() {
    // Excel's plain "CSV" on Windows: "Zoë" and "O’Brien" in Windows-1252.
    let csv = b"NHS Number,First Name,Surname,Mobile\r\n123,Zo\xEB,O\x92Brien,07700900123\r\n";
    let report = validator().validate(csv, &options(None)).unwrap();
    assert_eq!(
        row(&report, 2).cells,
        ["123", "Zoë", "O\u{2019}Brien", "07700900123"]
    );
}

#[test]
fn utf8_bom_and_crlf_are_handled() {
    let csv = "\u{FEFF}NHS Number,Mobile\r\n9990000018,07700900123\r\n";
    let report = run(csv);
    assert_eq!(report.columns.headers, ["NHS Number", "Mobile"]);
    assert_eq!(row(&report, 2).status, Status::Accepted);
}

#[test]
fn utf16_from_excel_unicode_text_is_decoded() {
    let text = "NHS Number,Mobile\r\n9990000018,07700900123\r\n";
    let bytes: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let report = validator().validate(&bytes, &options(None)).unwrap();
    assert_eq!(row(&report, 2).status, Status::Accepted);
}

#[test]
fn rows_are_spreadsheet_rows_through_quoted_line_breaks_and_blank_rows() {
    let csv = "NHS Number,Address,Mobile\r\n\
               9990000018,\"1 High St\r\nLeeds, LS1\",07700900123\r\n\
               \r\n\
               ,,\r\n\
               bad,\"a \"\"quoted\"\" name\",07700900124\r\n";
    let report = run(csv);
    assert_eq!(report.summary.total, 2, "all-empty rows give no verdict");
    assert_eq!(row(&report, 2).status, Status::Accepted);
    let bad = row(&report, 5);
    assert_eq!(codes(bad), ["invalid-nhs-number"]);
    assert_eq!(bad.cells[1], "a \"quoted\" name");
}

#[test]
fn cells_are_cleaned_of_invisible_characters() {
    let csv = "NHS Number,Mobile\n\u{200B}9990000018\u{A0},\u{FEFF} 07700 900123\t\n";
    assert_eq!(row(&run(csv), 2).status, Status::Accepted);
}

#[test]
fn missing_columns_are_named_with_the_headers_found() {
    let (code, message, row) = refuse(b"NHS Number,Name,Phone Home\n9990000018,Ann,x\n");
    assert_eq!(code, "missing-column");
    assert_eq!(row, Some(1));
    assert!(message.contains("mobile number column"), "{message}");
    assert!(
        message.contains("\"NHS Number\", \"Name\", \"Phone Home\""),
        "{message}"
    );
    let (_, message, _) = refuse(b"Mobile,Name\n");
    assert!(message.contains("NHS number column"), "{message}");
}

#[test]
fn an_empty_file_is_refused() {
    assert_eq!(refuse(b"").0, "empty-file");
    assert_eq!(refuse(b"\r\n\r\n").0, "empty-file");
}

#[test]
fn a_header_only_file_is_an_empty_batch() {
    let report = run("NHS Number,Mobile\n");
    assert_eq!(report.summary.total, 0);
}

#[test]
fn too_many_rows_is_refused_not_truncated() {
    let rules = validator()
        .check_rules(
            "name = \"small\"\nversion = \"1.0.0\"\n[csv]\nmax_rows = 3\n",
            "test",
        )
        .unwrap();
    let mut opts = options(None);
    opts.rules = rules;
    let csv = "NHS Number,Mobile\n1,1\n2,2\n3,3\n4,4\n";
    match validator().validate(csv.as_bytes(), &opts) {
        Err(Error::File { code, row, message }) => {
            assert_eq!((code.as_str(), row), ("too-many-rows", Some(5)));
            assert!(message.contains("more than 3"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_default_row_limit_is_100_000_and_a_full_file_works() {
    let mut csv = String::with_capacity(3_000_000);
    csv.push_str("NHS Number,Mobile\n");
    for i in 0..100_000u32 {
        csv.push_str(&format!(
            "{},07700 900{:03}\n",
            9_000_000_000u64 + u64::from(i),
            i % 1000
        ));
    }
    let report = run(&csv);
    assert_eq!(report.summary.total, 100_000);
    csv.push_str("9990000018,07700900123\n");
    assert_eq!(refuse(csv.as_bytes()).0, "too-many-rows");
}

#[test]
fn bad_rules_are_refused_with_line_and_column() {
    let err = validator()
        .check_rules(
            "name = \"x\"\nversion = \"1.0.0\"\n[scoring]\nprior = 2\n",
            "rules.toml",
        )
        .unwrap_err();
    match &err {
        Error::Rules {
            origin,
            line,
            column,
            message,
        } => {
            assert_eq!((origin.as_str(), *line, *column), ("rules.toml", 4, 9));
            assert!(message.contains("up to (not including) 1"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("rules.toml:4:9: "), "{err}");
}

#[test]
fn the_example_rules_file_is_the_validators_default() {
    let file = std::fs::read_to_string(crate::common::example("rules/default.toml")).unwrap();
    assert_eq!(validator().default_rules().text(), file);
    assert_eq!(
        validator().default_rules().identity().name,
        "presend-default"
    );
}
