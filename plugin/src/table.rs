//! Reading the patient CSV: the header row, the columns we need, and the
//! data rows with their spreadsheet row numbers.
//!
//! Over 400 lines because 180 of them are tests of the files spreadsheets
//! really write; the reader itself is about 390.
//!
//! Headings are matched as GOV.UK Notify matches them: lowercased, with
//! spaces, `_`, `-` (and here `.`) removed. Rows are numbered as a
//! spreadsheet shows them: the header is row 1 and a quoted cell that spans
//! lines stays in one row; blank lines are rows too, but give no verdict.

use crate::cell::clean_cell;
use crate::rules::Rules;

/// Built-in headings for the NHS number column, in order of preference.
const NHS_NUMBER: &[&str] = &["nhsnumber", "nhsno", "nhs", "nhsnum"];
/// Built-in headings for the mobile number column, in order of preference:
/// an explicitly mobile column wins over a general phone column.
const MOBILE_NUMBER: &[&str] = &[
    "mobile",
    "mobilenumber",
    "mobileno",
    "mobilephone",
    "mobilephonenumber",
    "mobiletelephone",
    "mobiletelephonenumber",
    "telecomnumber",
    "telecom",
    "smsnumber",
    "phone",
    "phonenumber",
    "phoneno",
    "telephone",
    "telephonenumber",
    "telephoneno",
    "telno",
];
/// Built-in headings for the date of birth column.
const DATE_OF_BIRTH: &[&str] = &["dateofbirth", "dob", "birthdate", "birthday"];

/// A problem with the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// Stable code: `empty-file`, `missing-column`, `too-many-rows`.
    pub code: &'static str,
    /// What is wrong and what to do.
    pub message: String,
    /// The spreadsheet row, when there is one.
    pub row: Option<u32>,
}

/// The columns found in the header row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The header row's cells, cleaned.
    pub headers: Vec<String>,
    /// Index of the NHS number column.
    pub nhs_number: usize,
    /// Index of the mobile number column.
    pub mobile_number: usize,
    /// Index of the date of birth column, if the file has one.
    pub date_of_birth: Option<usize>,
}

/// One non-blank data row, lent to the caller while it is read.
#[derive(Debug, Clone, Copy)]
pub struct Row<'r> {
    /// Spreadsheet row number.
    pub row: u32,
    /// The cells, as decoded (not yet cleaned).
    pub record: &'r csv::StringRecord,
    /// Where the row is in the text: give it to a `CellReader` to get the
    /// cells again later without keeping a copy of every row.
    pub span: Span,
    /// The row is the header row again (files pasted together).
    pub repeats_header: bool,
}

/// A byte range of the decoded text holding one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: usize,
    end: usize,
}

/// Gives back the cells (as decoded, not cleaned) of rows by their span,
/// with one reader for the whole file: a csv reader is costly to build
/// (buffer and state machine), so it is built once, then seeked.
pub struct CellReader<'t> {
    reader: csv::Reader<std::io::Cursor<&'t [u8]>>,
    record: csv::StringRecord,
}

impl<'t> CellReader<'t> {
    /// A reader over the decoded text that `read` was given, with the same
    /// delimiter.
    pub fn new(text: &'t str, delimiter: u8) -> CellReader<'t> {
        CellReader {
            reader: csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .has_headers(false)
                .flexible(true)
                .buffer_capacity(1024)
                .from_reader(std::io::Cursor::new(text.as_bytes())),
            record: csv::StringRecord::new(),
        }
    }

    /// The cells of the row at `span`.
    pub fn cells(&mut self, span: Span) -> Vec<String> {
        let mut position = csv::Position::new();
        position.set_byte(span.start as u64);
        match self
            .reader
            .seek(position)
            .and_then(|()| self.reader.read_record(&mut self.record))
        {
            Ok(true) => self.record.iter().map(String::from).collect(),
            _ => Vec::new(),
        }
    }
}

impl Row<'_> {
    /// The cleaned cell at `index`; empty when the row is short.
    pub fn cell(&self, index: usize) -> std::borrow::Cow<'_, str> {
        clean_cell(self.record.get(index).unwrap_or(""))
    }
}

/// A heading as it is matched: lowercase, without spaces, `_`, `-` and `.`.
pub fn heading_key(heading: &str) -> String {
    clean_cell(heading)
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.' | '\t'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The cell delimiter, guessed from the first non-blank line: whichever of
/// `,`, `;` (continental Excel's "CSV") and tab (Excel's "Unicode text") it
/// holds most of; `,` when it holds none.
pub fn sniff_delimiter(text: &str) -> u8 {
    let first = text
        .split(['\n', '\r'])
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    let count = |d: u8| first.bytes().filter(|&b| b == d).count();
    let (comma, semicolon, tab) = (count(b','), count(b';'), count(b'\t'));
    if semicolon > comma && semicolon >= tab {
        b';'
    } else if tab > comma && tab > semicolon {
        b'\t'
    } else {
        b','
    }
}

/// Reads the header, then calls `each` for every non-blank data row in order.
/// Cells are split at `delimiter` (see [`sniff_delimiter`]).
pub fn read(
    text: &str,
    delimiter: u8,
    rules: &Rules,
    mut each: impl FnMut(&Columns, Row<'_>),
) -> Result<Columns, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let bytes = text.as_bytes();
    // Spreadsheet rows: one per record, plus one per blank line between
    // records (which the csv crate skips). Counted from the line breaks
    // between where one record ended and the next begins, so line breaks
    // inside quoted cells never move later rows down.
    let mut row = 1u32;
    let mut next_row = |reader: &csv::Reader<&[u8]>| -> u32 {
        let from = usize::try_from(reader.position().byte()).unwrap_or(usize::MAX);
        row = row.saturating_add(line_breaks_from(bytes, from));
        row
    };
    // The row a record starts on is known before reading it.
    let mut start = next_row(&reader);

    // The header: the first row that is not blank.
    let header_row = loop {
        match reader.read_record(&mut record) {
            Ok(true) if is_blank(&record) => start = next_row(&reader),
            Ok(true) => {
                let header_row = start;
                start = next_row(&reader);
                break header_row;
            }
            Ok(false) => {
                return Err(FileError {
                    code: "empty-file",
                    message: "The file is empty – add a header row (NHS Number, Mobile Number, ...) and a row for each patient".into(),
                    row: None,
                });
            }
            Err(e) => return Err(malformed(&e)),
        }
    };
    let columns = find_columns(&record, header_row, rules)?;

    let max_rows = rules.csv.max_rows.get();
    let mut data_rows = 0u32;
    // The last record read: (row, where it starts).
    let mut last: Option<(u32, usize)> = None;
    loop {
        let span_start = usize::try_from(reader.position().byte()).unwrap_or(usize::MAX);
        match reader.read_record(&mut record) {
            Ok(true) => {
                let row = start;
                last = Some((row, span_start));
                start = next_row(&reader);
                let span_end = usize::try_from(reader.position().byte()).unwrap_or(usize::MAX);
                if is_blank(&record) {
                    continue;
                }
                data_rows += 1;
                if data_rows > max_rows {
                    return Err(FileError {
                        code: "too-many-rows",
                        message: format!(
                            "The file has more than {max_rows} patients – split it into files of {max_rows} patients or fewer"
                        ),
                        row: Some(row),
                    });
                }
                let span = Span {
                    start: span_start,
                    end: span_end,
                };
                let repeats_header = record.len() == columns.headers.len()
                    && record
                        .iter()
                        .zip(&columns.headers)
                        .all(|(cell, heading)| clean_cell(cell) == heading.as_str());
                each(
                    &columns,
                    Row {
                        row,
                        record: &record,
                        span,
                        repeats_header,
                    },
                );
            }
            Ok(false) => break,
            Err(e) => return Err(malformed(&e)),
        }
    }
    // The csv crate reads a quote left open as a cell running to the end of
    // the file: every patient after it would silently become part of one
    // cell. Only the last record can be such a cell.
    if let Some((row, from)) = last
        && ends_inside_quotes(text.get(from..).unwrap_or(""), delimiter)
    {
        return Err(FileError {
            code: "malformed-csv",
            message: "This row opens a quote (\") that is never closed, so every line after it would be read as part of one cell – close or remove the quote, save the file as CSV again and upload it".into(),
            row: Some(row),
        });
    }
    Ok(columns)
}

/// Whether a record starting at the beginning of `text` is still inside a
/// quoted cell where `text` ends (the CSV rules the csv crate follows: a
/// quote opens a cell only at its start; `""` inside is a quote).
fn ends_inside_quotes(text: &str, delimiter: u8) -> bool {
    let mut in_quotes = false;
    let mut at_cell_start = true;
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        if in_quotes {
            if b == b'"' {
                if bytes.peek() == Some(&b'"') {
                    bytes.next();
                } else {
                    in_quotes = false;
                }
            }
            continue;
        }
        match b {
            b'"' if at_cell_start => in_quotes = true,
            b'\n' | b'\r' => return false,
            _ => {}
        }
        at_cell_start = b == delimiter;
    }
    in_quotes
}

/// Line breaks at `from` onwards, before the next record: the rest of the
/// terminator that ended the previous record (the reader stops after the
/// `\r` of a `\r\n`), then any blank lines. `\r\n`, `\n` and `\r` each
/// count once.
fn line_breaks_from(bytes: &[u8], from: usize) -> u32 {
    let mut breaks = 0u32;
    let mut i = from;
    if from > 0 && matches!(bytes.get(from - 1), Some(b'\r' | b'\n')) {
        breaks += 1;
        if bytes[from - 1] == b'\r' && bytes.get(from) == Some(&b'\n') {
            i += 1;
        }
    }
    loop {
        match bytes.get(i) {
            Some(b'\n') => i += 1,
            Some(b'\r') if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            Some(b'\r') => i += 1,
            _ => return breaks,
        }
        breaks = breaks.saturating_add(1);
    }
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|c| clean_cell(c).is_empty())
}

fn malformed(e: &csv::Error) -> FileError {
    // The text was decoded before parsing, so only the CSV structure can be
    // wrong here; the csv crate's message says how, and where.
    let row = e
        .position()
        .map(|p| u32::try_from(p.line()).unwrap_or(u32::MAX));
    FileError {
        code: "malformed-csv",
        message: format!(
            "The file is not a CSV file we can read ({e}) – save it from your spreadsheet as CSV and upload it again"
        ),
        row,
    }
}

fn find_columns(
    header: &csv::StringRecord,
    header_row: u32,
    rules: &Rules,
) -> Result<Columns, FileError> {
    let keys: Vec<String> = header.iter().map(heading_key).collect();
    let find = |extra: &[String], built_in: &[&str]| -> Option<usize> {
        let extra = extra.iter().map(|h| heading_key(h));
        let built_in = built_in.iter().map(|h| h.to_string());
        extra
            .chain(built_in)
            .find_map(|alias| keys.iter().position(|k| *k == alias))
    };
    let nhs = find(&rules.headers.nhs_number, NHS_NUMBER);
    let mobile = find(&rules.headers.mobile_number, MOBILE_NUMBER);
    let dob = find(&rules.headers.date_of_birth, DATE_OF_BIRTH);
    let headers: Vec<String> = header.iter().map(|h| clean_cell(h).into_owned()).collect();
    match (nhs, mobile) {
        (Some(nhs_number), Some(mobile_number)) => Ok(Columns {
            headers,
            nhs_number,
            mobile_number,
            date_of_birth: dob,
        }),
        (nhs, _) => {
            let missing = if nhs.is_none() {
                "an NHS number column (headed \"NHS Number\")"
            } else {
                "a mobile number column (headed \"Mobile Number\")"
            };
            let found = columns_found(&headers);
            Err(FileError {
                code: "missing-column",
                message: format!("The file needs {missing}. {found}"),
                row: Some(header_row),
            })
        }
    }
}

/// Headings named back in a `missing-column` message, at most.
const NAMED_HEADINGS: usize = 8;
/// Characters of each heading named back, at most.
const HEADING_CHARS: usize = 30;

/// What a `missing-column` message says of the header row: its first few
/// headings, each cut short, so a huge header row gives a short message. A
/// row that looks like a patient (a valid NHS number or mobile, or any run
/// of 6 or more digits in a heading) is not echoed at all: it is data.
fn columns_found(headers: &[String]) -> String {
    let digit_run = |h: &str| {
        h.split(|c: char| !c.is_ascii_digit())
            .any(|run| run.len() >= 6)
    };
    let looks_like_data = headers
        .iter()
        .any(|h| crate::nhs::parse(h).is_ok() || crate::mobile::parse(h).is_ok() || digit_run(h));
    if looks_like_data {
        return "The first row looks like a patient, not column headings – add a header row"
            .to_string();
    }
    let mut list: Vec<String> = headers
        .iter()
        .take(NAMED_HEADINGS)
        .map(|h| {
            let mut cut: String = h.chars().take(HEADING_CHARS).collect();
            if cut.len() < h.len() {
                cut.push('…');
            }
            format!("\"{cut}\"")
        })
        .collect();
    if headers.len() > NAMED_HEADINGS {
        list.push(format!("and {} more", headers.len() - NAMED_HEADINGS));
    }
    format!("Columns found: {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 7.9 MB header came back as a 12.9 MB error, and a heading holding a
    /// name and a number came back verbatim.
    #[test]
    fn missing_column_names_few_headings_and_never_a_number() {
        let many: Vec<String> = (0..100_000)
            .map(|i| format!("Heading {}", "x".repeat(i % 90)))
            .collect();
        let message = columns_found(&many);
        assert!(message.len() < 500, "{} bytes", message.len());
        assert!(message.ends_with("and 99992 more"), "{message}");
        let with_number = ["Name".to_string(), "Alex Smith 07700 900123".to_string()];
        let message = columns_found(&with_number);
        assert!(
            !message.contains("Alex") && !message.contains("900123"),
            "{message}"
        );
        let plain = ["NHS Number".to_string(), "Name".to_string()];
        assert_eq!(
            columns_found(&plain),
            "Columns found: \"NHS Number\", \"Name\""
        );
    }

    /// Row numbers and cells of every data row.
    type Rows = Vec<(u32, Vec<String>)>;

    fn rows(text: &str) -> (Result<Columns, FileError>, Rows) {
        let mut out = Vec::new();
        let cols = read(text, b',', &Rules::default_rules(), |_, r| {
            let cells: Vec<String> = r.record.iter().map(String::from).collect();
            assert_eq!(
                cells,
                CellReader::new(text, b',').cells(r.span),
                "a span gives the row's cells back"
            );
            out.push((r.row, cells))
        });
        (cols, out)
    }

    #[test]
    fn headings_match_loosely() {
        let (cols, _) = rows("Patient Name,NHS_No.,mobile-number,D.O.B\n");
        let cols = cols.unwrap();
        assert_eq!(
            (cols.nhs_number, cols.mobile_number, cols.date_of_birth),
            (1, 2, Some(3))
        );
        let (cols, _) = rows("NHS Number,Telecom Number,Date of Birth\n");
        let cols = cols.unwrap();
        assert_eq!(
            (cols.nhs_number, cols.mobile_number, cols.date_of_birth),
            (0, 1, Some(2))
        );
    }

    #[test]
    fn a_mobile_column_beats_a_phone_column() {
        let (cols, _) = rows("NHS Number,Home Telephone,Telephone,Mobile Telephone\n");
        assert_eq!(cols.unwrap().mobile_number, 3);
    }

    #[test]
    fn extra_headings_from_the_rules() {
        let rules = Rules::parse(
            "name = \"x\"\nversion = \"1.0.0\"\n[headers]\nmobile_number = [\"Contact SMS\"]",
        )
        .unwrap();
        let cols = read("NHS,contact_sms\n", b',', &rules, |_, _| {}).unwrap();
        assert_eq!(cols.mobile_number, 1);
    }

    #[test]
    fn missing_column_names_it_and_lists_headers() {
        let err = rows("NHS Number,Name\n").0.unwrap_err();
        assert_eq!(err.code, "missing-column");
        assert!(
            err.message.contains("mobile number column"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("\"NHS Number\", \"Name\""),
            "{}",
            err.message
        );
        let err = rows("Mobile\n").0.unwrap_err();
        assert!(err.message.contains("NHS number column"), "{}", err.message);
    }

    #[test]
    fn headerless_file_is_not_echoed() {
        let err = rows("9434765919,07700 900123\n").0.unwrap_err();
        assert!(
            err.message.contains("looks like a patient"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("9434765919"), "{}", err.message);
    }

    #[test]
    fn spreadsheet_rows_count_blank_lines_but_not_quoted_breaks() {
        let text = "NHS Number,Mobile,Address\r\n\
                    1,a,\"line one\r\nline two\"\r\n\
                    \r\n\
                    ,,\r\n\
                    2,b,c\r\n\
                    \r\n\r\n";
        let (cols, rows) = rows(text);
        cols.unwrap();
        let numbers: Vec<u32> = rows.iter().map(|r| r.0).collect();
        // header 1, first patient 2, blank 3, empty cells 4, second patient 5.
        assert_eq!(numbers, [2, 5]);
        assert_eq!(rows[0].1[2], "line one\r\nline two");
    }

    #[test]
    fn leading_blank_lines_before_the_header() {
        let (cols, rows) = rows("\n\nNHS Number,Mobile\n1,2\n");
        cols.unwrap();
        assert_eq!(rows[0].0, 4);
    }

    #[test]
    fn empty_and_header_only_files() {
        assert_eq!(rows("").0.unwrap_err().code, "empty-file");
        assert_eq!(rows("\n \n,,\n").0.unwrap_err().code, "empty-file");
        let (cols, rows) = rows("NHS Number,Mobile\n");
        assert!(cols.is_ok());
        assert!(rows.is_empty());
    }

    #[test]
    fn row_limit_is_a_file_error() {
        let rules = Rules::parse("name = \"x\"\nversion = \"1.0.0\"\n[csv]\nmax_rows = 2").unwrap();
        let ok = read("NHS,Mobile\n1,1\n2,2\n", b',', &rules, |_, _| {});
        assert!(ok.is_ok());
        let err = read("NHS,Mobile\n1,1\n2,2\n3,3\n", b',', &rules, |_, _| {}).unwrap_err();
        assert_eq!((err.code, err.row), ("too-many-rows", Some(4)));
        assert!(
            err.message.contains("more than 2 patients"),
            "{}",
            err.message
        );
    }

    #[test]
    fn quoted_cells_keep_commas_and_quotes() {
        let (_, rows) = rows("NHS,Mobile,Name\n1,2,\"Smith, \"\"Jo\"\"\"\n");
        assert_eq!(rows[0].1[2], "Smith, \"Jo\"");
    }

    #[test]
    fn the_delimiter_is_sniffed_from_the_header_line() {
        assert_eq!(sniff_delimiter("NHS Number,Mobile\n1;2"), b',');
        assert_eq!(
            sniff_delimiter("\r\n  \nNHS Number;Mobile;Surname, First\n"),
            b';'
        );
        assert_eq!(sniff_delimiter("NHS Number\tMobile\n"), b'\t');
        assert_eq!(sniff_delimiter("NHS Number\n"), b',');
        assert_eq!(sniff_delimiter(""), b',');
    }

    #[test]
    fn a_repeated_header_row_is_marked() {
        let text = "NHS Number,Mobile\n1,2\n NHS Number , Mobile\nNHS Number,Mobile,x\n";
        let mut marks = Vec::new();
        read(text, b',', &Rules::default_rules(), |_, r| {
            marks.push((r.row, r.repeats_header))
        })
        .unwrap();
        assert_eq!(marks, [(2, false), (3, true), (4, false)]);
    }

    #[test]
    fn a_quote_left_open_at_the_end_is_a_file_error() {
        let err = read(
            "NHS,Mobile\n1,2\n3,\"4\n5,6\n",
            b',',
            &Rules::default_rules(),
            |_, _| {},
        )
        .unwrap_err();
        assert_eq!((err.code, err.row), ("malformed-csv", Some(3)));
        assert!(err.message.contains("never closed"), "{}", err.message);
        // Closed quotes, quotes inside cells and escaped quotes are fine.
        for ok in [
            "NHS,Mobile\n1,\"2\n2\"\n",
            "NHS,Mobile\n1,5'10\"\n",
            "NHS,Mobile\n1,\"a \"\"b\"\"\"\n",
            "NHS;Mobile\n1;\"a;b\"",
        ] {
            assert!(
                read(ok, sniff_delimiter(ok), &Rules::default_rules(), |_, _| {}).is_ok(),
                "{ok:?}"
            );
        }
    }
}
