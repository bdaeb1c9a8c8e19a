//! Files real users make, through the real component: each gets verdicts or
//! a clear file-level message, never a crash or a hang.

use presend_host::{Error, Status};

use crate::common::{codes, options, row, validator};

fn verdicts(csv: &[u8]) -> presend_host::BatchReport {
    validator()
        .validate(csv, &options(None))
        .unwrap_or_else(|e| panic!("expected verdicts, got: {e}"))
}

fn utf16le(text: &str) -> Vec<u8> {
    [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect()
}

#[test]
fn only_blank_lines_is_an_empty_file() {
    match validator().validate(b"\n\r\n \n\t\n,,\n", &options(None)) {
        Err(Error::File { code, message, .. }) => {
            assert_eq!(code.as_str(), "empty-file");
            assert!(message.contains("add a header row"), "{message}");
        }
        other => panic!("expected a file error, got {:?}", other.map(|r| r.summary)),
    }
}

#[test]
fn a_50_mb_cell_is_a_verdict_not_a_crash() {
    let mut csv = b"NHS Number,Mobile\n".to_vec();
    csv.extend(std::iter::repeat_n(b'9', 50 << 20));
    csv.extend_from_slice(b",07700900123\n9990000018,07700900124\n");
    let report = verdicts(&csv);
    assert_eq!(codes(row(&report, 2)), ["invalid-nhs-number"]);
    assert_eq!(row(&report, 2).cells[0].len(), 50 << 20, "nothing lost");
    assert_eq!(row(&report, 3).status, Status::Accepted);
}

#[test]
fn nul_bytes_are_just_bad_cells() {
    let report = verdicts(b"NHS Number,Mobile\n999\x000000018,07700900123\n9990000018,\x00\n");
    assert_eq!(codes(row(&report, 2)), ["invalid-nhs-number"]);
    assert_eq!(codes(row(&report, 3)), ["invalid-mobile-number"]);
}

#[test]
fn mixed_line_endings_keep_every_row() {
    let report = verdicts(
        b"NHS Number,Mobile\r\n9990000018,07700900123\n9990000026,07700900124\r9990000034,07700900125\r\n",
    );
    let rows: Vec<u32> = report.patients.iter().map(|p| p.row).collect();
    assert_eq!(rows, [2, 3, 4]);
    assert!(report.patients.iter().all(|p| p.status == Status::Accepted));
}

#[test]
fn a_quote_never_closed_is_refused_rather_than_swallowing_rows() {
    // Read literally, rows 3 and 4 would vanish into row 2's last cell.
    let csv = b"NHS Number,Mobile,Name\n9990000018,07700900123,\"Ann\n9990000026,07700900124,Bo\n9990000034,07700900125,Cy\n";
    match validator().validate(csv, &options(None)) {
        Err(Error::File { code, message, row }) => {
            assert_eq!((code.as_str(), row), ("malformed-csv", Some(2)));
            assert!(message.contains("never closed"), "{message}");
        }
        other => panic!("expected a file error, got {:?}", other.map(|r| r.summary)),
    }
}

#[test]
fn excel_unicode_text_is_utf16_with_tabs() {
    let report = verdicts(&utf16le(
        "NHS Number\tMobile\tName\r\n9990000018\t07700900123\tZoë, Ann\r\n",
    ));
    assert_eq!(report.columns.headers, ["NHS Number", "Mobile", "Name"]);
    assert_eq!(row(&report, 2).status, Status::Accepted);
}

#[test]
fn continental_excel_semicolons_are_read() {
    let report = verdicts(b"NHS Number;Mobile;Name\r\n9990000018;07700 900123;\"Smith; Ann\"\r\nbad;07700900124;Bo\r\n");
    assert_eq!(report.columns.headers, ["NHS Number", "Mobile", "Name"]);
    assert_eq!(row(&report, 2).status, Status::Accepted);
    assert_eq!(codes(row(&report, 3)), ["invalid-nhs-number"]);
    assert_eq!(row(&report, 3).cells, ["bad", "07700900124", "Bo"]);
}

#[test]
fn a_header_repeated_mid_file_is_named_as_such() {
    let report = verdicts(
        b"NHS Number,Mobile\n9990000018,07700900123\nNHS Number,Mobile\n9990000026,07700900124\n",
    );
    assert_eq!(codes(row(&report, 3)), ["repeated-header"]);
    assert!(row(&report, 3).reasons[0].message.contains("delete it"));
    assert_eq!(row(&report, 4).status, Status::Accepted);
}

#[test]
fn two_hundred_columns_are_read() {
    let mut header: Vec<String> = (0..200).map(|i| format!("Column {i}")).collect();
    header[150] = "NHS Number".into();
    header[199] = "Mobile".into();
    let mut cells: Vec<String> = (0..200).map(|i| format!("value {i}")).collect();
    cells[150] = "9990000018".into();
    cells[199] = "07700900123".into();
    let csv = format!("{}\n{}\n", header.join(","), cells.join(","));
    let report = verdicts(csv.as_bytes());
    assert_eq!(report.columns.headers.len(), 200);
    assert_eq!(
        (report.columns.nhs_number, report.columns.mobile_number),
        (150, 199)
    );
    assert_eq!(row(&report, 2).status, Status::Accepted);
}
