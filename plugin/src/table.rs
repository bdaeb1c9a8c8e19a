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
use crate::plain;
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
    pub record: Record<'r>,
    /// The row is the header row again (files pasted together).
    pub repeats_header: bool,
}

/// One record's cells, as decoded (not yet cleaned).
#[derive(Debug, Clone, Copy)]
pub struct Record<'r> {
    /// The cells one after another.
    text: &'r str,
    /// Where each cell ends in `text`.
    ends: &'r [usize],
}

impl<'r> Record<'r> {
    /// How many cells.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The cell at `index`.
    pub fn get(&self, index: usize) -> Option<&'r str> {
        let end = *self.ends.get(index)?;
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        self.text.get(start..end)
    }

    /// The cells one after another, and where each ends in that text: the
    /// record as it is held, to be copied whole.
    pub fn parts(&self) -> (&'r str, &'r [usize]) {
        (self.text, self.ends)
    }

    /// Every cell, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'r str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or(""))
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

/// Reads the header, then every non-blank data row, from a whole text with
/// the given `delimiter` (see [`sniff_delimiter`]), calling `each` for each
/// row in order.
pub fn read(
    text: &str,
    delimiter: u8,
    rules: &Rules,
    each: impl FnMut(&Columns, Row<'_>),
) -> Result<Columns, FileError> {
    let mut reader = Reader::with_delimiter(delimiter);
    reader.text_mut().extend_from_slice(text.as_bytes());
    reader.read(rules, true, each)?;
    Ok(reader
        .columns()
        .cloned()
        .expect("an ended read found the header"))
}

/// Reads the patient CSV as its text arrives: the header row, then each
/// data row as soon as the whole of it is there, numbered as a spreadsheet
/// numbers it.
///
/// Built on `csv-core` (the state machine under the `csv` crate), because it
/// takes input piece by piece and keeps no more of it than the record it is
/// in; the `csv` crate's reader pulls from an `io::Read` and cannot be fed.
#[derive(Debug)]
pub struct Reader {
    /// Forced by the caller, or sniffed from the first line.
    delimiter: Option<u8>,
    core: Option<csv_core::Reader>,
    /// Decoded text not yet read, from the start of the record being read.
    text: Vec<u8>,
    /// How far into `text` the reader has read.
    pos: usize,
    /// The record being read: its cells (`fields`, up to `out`) and where
    /// each ends (`ends`, up to `cells`).
    fields: Vec<u8>,
    out: usize,
    ends: Vec<usize>,
    cells: usize,
    /// Whether a record has started (its first byte read); where, and its row.
    in_record: bool,
    record_start: usize,
    record_row: u32,
    /// The row the next record starts on.
    row: u32,
    /// The last byte read was a `\r`: a `\n` after it ends the same line.
    after_cr: bool,
    /// The last byte given to the csv reader.
    last_byte: u8,
    columns: Option<Columns>,
    data_rows: u32,
    ended: bool,
    /// Before the delimiter is sniffed: how far the text has been read for
    /// the end of the first non-blank line, and whether the line being read
    /// has anything but whitespace.
    sniffed: usize,
    line_has_content: bool,
    /// Records without a quote are read by [`plain::read_record`], not
    /// csv-core: always, but in the tests that compare the two.
    plain: bool,
}

impl Default for Reader {
    fn default() -> Reader {
        Reader {
            delimiter: None,
            core: None,
            text: Vec::new(),
            pos: 0,
            fields: vec![0; 1024],
            out: 0,
            ends: vec![0; 64],
            cells: 0,
            in_record: false,
            record_start: 0,
            record_row: 0,
            row: 1,
            after_cr: false,
            last_byte: 0,
            columns: None,
            data_rows: 0,
            ended: false,
            sniffed: 0,
            line_has_content: false,
            plain: true,
        }
    }
}

impl Reader {
    /// A reader that sniffs the delimiter from the first non-blank line.
    pub fn new() -> Reader {
        Reader::default()
    }

    /// A reader that splits cells at `delimiter`.
    pub fn with_delimiter(delimiter: u8) -> Reader {
        Reader {
            delimiter: Some(delimiter),
            ..Reader::default()
        }
    }

    /// The same reader with every record read by csv-core: what the word
    /// at a time reading is checked against.
    #[cfg(test)]
    pub(crate) fn csv_core_only(self) -> Reader {
        Reader {
            plain: false,
            ..self
        }
    }

    /// Where the next decoded text goes (UTF-8), before [`Reader::read`].
    pub fn text_mut(&mut self) -> &mut Vec<u8> {
        &mut self.text
    }

    /// The columns, once the header row has been read.
    pub fn columns(&self) -> Option<&Columns> {
        self.columns.as_ref()
    }

    /// Reads every row the text given so far completes, calling `each` for
    /// each data row in order; `ended` says that no more text will come, so
    /// the last row is complete and the file's end can be checked.
    pub fn read(
        &mut self,
        rules: &Rules,
        ended: bool,
        mut each: impl FnMut(&Columns, Row<'_>),
    ) -> Result<(), FileError> {
        if self.ended {
            return Ok(());
        }
        let result = self.read_rows(rules, ended, &mut each);
        if result.is_err() || ended {
            self.ended = true;
        }
        // Keep only the record being read (its text is needed if the file
        // ends inside it).
        let keep_from = if self.in_record {
            self.record_start
        } else {
            self.pos
        };
        self.text.drain(..keep_from);
        self.pos -= keep_from;
        self.record_start -= keep_from.min(self.record_start);
        result
    }

    fn read_rows(
        &mut self,
        rules: &Rules,
        ended: bool,
        each: &mut impl FnMut(&Columns, Row<'_>),
    ) -> Result<(), FileError> {
        if self.core.is_none() {
            let delimiter = match self.delimiter {
                Some(d) => d,
                None => {
                    // The first non-blank line must be whole to be sniffed.
                    if !ended && !self.first_line_is_whole() {
                        return Ok(());
                    }
                    sniff_delimiter(std::str::from_utf8(&self.text).unwrap_or(""))
                }
            };
            self.delimiter = Some(delimiter);
            self.core = Some(csv_core::ReaderBuilder::new().delimiter(delimiter).build());
        }
        loop {
            if !self.in_record {
                // Line breaks between records: the rest of the last one's
                // terminator, then blank lines. `\r\n`, `\n` and `\r` each
                // end one spreadsheet row.
                while let Some(&b) = self.text.get(self.pos) {
                    match b {
                        b'\n' if self.after_cr => self.after_cr = false,
                        b'\n' => self.row = self.row.saturating_add(1),
                        b'\r' => {
                            self.row = self.row.saturating_add(1);
                            self.after_cr = true;
                        }
                        _ => break,
                    }
                    self.pos += 1;
                }
                if self.pos == self.text.len() {
                    if !ended {
                        return Ok(());
                    }
                    return self.end_of_file();
                }
                self.in_record = true;
                self.after_cr = false;
                self.record_row = self.row;
                self.record_start = self.pos;
                // After the first record (csv-core's, for its byte-order
                // mark), one with no quote is read a word at a time.
                if self.plain
                    && self.columns.is_some()
                    && let Some((read, out, cells)) = plain::read_record(
                        &self.text[self.pos..],
                        self.delimiter.unwrap_or(b','),
                        &mut self.fields,
                        &mut self.ends,
                    )
                {
                    self.last_byte = self.text[self.pos + read - 1];
                    self.pos += read;
                    self.row = self.row.saturating_add(1);
                    self.after_cr = self.last_byte == b'\r';
                    self.in_record = false;
                    self.record(rules, out, cells, each)?;
                    continue;
                }
            }
            let at_end = self.pos == self.text.len();
            if at_end && !ended {
                return Ok(());
            }
            let core = self.core.as_mut().expect("built above");
            let (result, read, out, cells) = core.read_record(
                &self.text[self.pos..],
                &mut self.fields[self.out..],
                &mut self.ends[self.cells..],
            );
            if read > 0 {
                self.last_byte = self.text[self.pos + read - 1];
            }
            self.pos += read;
            self.out += out;
            self.cells += cells;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {
                    if !ended {
                        return Ok(());
                    }
                }
                csv_core::ReadRecordResult::OutputFull => {
                    let grown = self.fields.len() * 2;
                    self.fields.resize(grown, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    // The terminator that ended the record ends its row (a
                    // record the end of the file ended has none).
                    if !at_end {
                        self.row = self.row.saturating_add(1);
                        self.after_cr = self.last_byte == b'\r';
                    }
                    self.in_record = false;
                    let (out, cells) = (
                        std::mem::take(&mut self.out),
                        std::mem::take(&mut self.cells),
                    );
                    if at_end
                        && ends_inside_quotes(
                            &self.text[self.record_start..self.pos],
                            self.delimiter.unwrap_or(b','),
                        )
                    {
                        return Err(FileError {
                            code: "malformed-csv",
                            message: "This row opens a quote (\") that is never closed, so every line after it would be read as part of one cell – close or remove the quote, save the file as CSV again and upload it".into(),
                            row: Some(self.record_row),
                        });
                    }
                    self.record(rules, out, cells, each)?;
                }
                csv_core::ReadRecordResult::End => return self.end_of_file(),
            }
        }
    }

    /// One whole record: the header, or a data row for `each`.
    fn record(
        &mut self,
        rules: &Rules,
        out: usize,
        cells: usize,
        each: &mut impl FnMut(&Columns, Row<'_>),
    ) -> Result<(), FileError> {
        // The text was decoded to UTF-8 and cells split at ASCII bytes, so
        // this never replaces anything (`from_utf8` checks it fastest).
        let fields = &self.fields[..out];
        let text = match std::str::from_utf8(fields) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(fields),
        };
        let record = Record {
            text: &text,
            ends: &self.ends[..cells],
        };
        if record.iter().all(|c| clean_cell(c).is_empty()) {
            return Ok(());
        }
        let Some(columns) = &self.columns else {
            self.columns = Some(find_columns(record, self.record_row, rules)?);
            return Ok(());
        };
        self.data_rows += 1;
        let max_rows = rules.csv.max_rows.get();
        if self.data_rows > max_rows {
            return Err(FileError {
                code: "too-many-rows",
                message: format!(
                    "The file has more than {max_rows} patients – split it into files of {max_rows} patients or fewer"
                ),
                row: Some(self.record_row),
            });
        }
        let repeats_header = record.len() == columns.headers.len()
            && record
                .iter()
                .zip(&columns.headers)
                .all(|(cell, heading)| clean_cell(cell) == heading.as_str());
        each(
            columns,
            Row {
                row: self.record_row,
                record,
                repeats_header,
            },
        );
        Ok(())
    }

    /// Whether the text so far holds the whole of its first non-blank line.
    /// Each call reads on from where the last one stopped, so a long first
    /// line arriving in many chunks is read once, not once a chunk.
    fn first_line_is_whole(&mut self) -> bool {
        let text = std::str::from_utf8(&self.text[self.sniffed..]).unwrap_or("");
        for c in text.chars() {
            if c == '\n' || c == '\r' {
                if self.line_has_content {
                    return true;
                }
            } else if !c.is_whitespace() {
                self.line_has_content = true;
            }
        }
        self.sniffed = self.text.len();
        false
    }

    fn end_of_file(&mut self) -> Result<(), FileError> {
        if self.columns.is_none() {
            return Err(FileError {
                code: "empty-file",
                message: "The file is empty – add a header row (NHS Number, Mobile Number, ...) and a row for each patient".into(),
                row: None,
            });
        }
        Ok(())
    }
}

/// Whether a record starting at the beginning of `text` is still inside a
/// quoted cell where `text` ends (the CSV rules the csv crate follows: a
/// quote opens a cell only at its start; `""` inside is a quote).
fn ends_inside_quotes(text: &[u8], delimiter: u8) -> bool {
    let mut in_quotes = false;
    let mut at_cell_start = true;
    let mut bytes = text.iter().copied().peekable();
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

fn find_columns(header: Record<'_>, header_row: u32, rules: &Rules) -> Result<Columns, FileError> {
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

    /// The rows of `text`, read whole; reading it a byte at a time must
    /// give the same.
    fn rows(text: &str) -> (Result<Columns, FileError>, Rows) {
        let rules = Rules::default_rules();
        let cells = |r: Row<'_>| (r.row, r.record.iter().map(String::from).collect());
        let mut whole = Vec::new();
        let cols = read(text, b',', &rules, |_, r| whole.push(cells(r)));

        let mut reader = Reader::with_delimiter(b',');
        let mut pieces = Vec::new();
        let mut result = Ok(());
        for &b in text.as_bytes() {
            reader.text_mut().push(b);
            result = result.and_then(|()| reader.read(&rules, false, |_, r| pieces.push(cells(r))));
        }
        let result = result.and_then(|()| reader.read(&rules, true, |_, r| pieces.push(cells(r))));
        assert_eq!(
            result.map(|()| reader.columns().cloned().unwrap()),
            cols,
            "{text:?} a byte at a time"
        );
        assert_eq!(pieces, whole, "{text:?} a byte at a time");
        (cols, whole)
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

    /// The delimiter waits for the whole first non-blank line, however it
    /// arrives: here a byte at a time, after lines of spaces and no-break
    /// spaces, with its semicolons only near its end.
    #[test]
    fn the_delimiter_waits_for_the_whole_first_line() {
        let text = " \u{A0}\r\n\nNHS Number;Mobile;Name, First\n1;2;x\n";
        let mut reader = Reader::new();
        let mut rows = Vec::new();
        for &b in text.as_bytes() {
            reader.text_mut().push(b);
            reader
                .read(&Rules::default_rules(), false, |_, r| rows.push(r.row))
                .unwrap();
        }
        reader
            .read(&Rules::default_rules(), true, |_, r| rows.push(r.row))
            .unwrap();
        assert_eq!(reader.delimiter, Some(b';'));
        assert_eq!(rows, [4]);
        assert_eq!(reader.columns().unwrap().mobile_number, 1);
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
