//! The downloadable list of reasons: one line per patient not accepted, with
//! the row, the patient's columns as uploaded, the status and the reasons in
//! plain English, for the practice to fix the records.
//!
//! Every cell is made safe to open in a spreadsheet (OWASP CSV injection,
//! CWE-1236): a cell that begins with `=`, `+`, `-`, `@`, tab, CR or LF is
//! prefixed with a single quote. Valid mobile numbers are written as staff
//! know them (`07700 900123`), which is also safe. The file is UTF-8 with a
//! byte-order mark, so Excel opens it with the right characters.

use std::io::Write;

use crate::report::{BatchReport, Columns, PatientVerdict, Status};
use crate::sink::VerdictSink;

/// Makes a cell safe to open in a spreadsheet.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// `+447700900123` -> `07700 900123`; anything else unchanged.
pub fn national_mobile(e164: &str) -> String {
    match e164.strip_prefix("+44") {
        Some(n) if n.len() == 10 && n.is_ascii() => format!("0{} {}", &n[..4], &n[4..]),
        _ => e164.to_string(),
    }
}

/// Writes the reasons CSV for `report`: UTF-8 with a byte-order mark, which
/// is what Excel needs to show names like "Zoë" correctly, and CRLF.
///
/// # Errors
///
/// The writer's error, as a `csv::Error` (an I/O error inside).
pub fn write_reasons<W: Write>(report: &BatchReport, out: W) -> csv::Result<()> {
    let mut writer = ReasonsWriter::new(out, &report.columns)?;
    for patient in report.not_accepted() {
        writer.patient(patient)?;
    }
    writer.finish()?;
    Ok(())
}

/// The reasons CSV written line by line, as a streamed batch's verdicts
/// come ([`ReasonsSink`]) or from a report ([`write_reasons`]).
#[derive(Debug)]
pub struct ReasonsWriter<W: Write> {
    writer: csv::Writer<W>,
    columns: Columns,
}

impl<W: Write> ReasonsWriter<W> {
    /// Writes the byte-order mark and the header line for `columns`.
    ///
    /// # Errors
    ///
    /// The writer's.
    pub fn new(mut out: W, columns: &Columns) -> csv::Result<ReasonsWriter<W>> {
        out.write_all(b"\xEF\xBB\xBF")?;
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        let mut header: Vec<&str> = vec!["Row"];
        header.extend(columns.headers.iter().map(String::as_str));
        header.extend(["Status", "Reasons", "Reason codes"]);
        writer.write_record(header.iter().map(|h| neutralise(h).into_owned()))?;
        Ok(ReasonsWriter {
            writer,
            columns: columns.clone(),
        })
    }

    /// Writes the line of a patient not accepted (an accepted one has none).
    ///
    /// # Errors
    ///
    /// The writer's.
    pub fn patient(&mut self, patient: &PatientVerdict) -> csv::Result<()> {
        if patient.status == Status::Accepted {
            return Ok(());
        }
        let columns = &self.columns;
        let mut line: Vec<String> = vec![patient.row.to_string()];
        for (i, _) in columns.headers.iter().enumerate() {
            let uploaded = patient.cells.get(i).map_or("", |c| c.as_str());
            let cell = match (&patient.mobile_number, i == columns.mobile_number) {
                (Some(e164), true) => national_mobile(e164),
                _ => uploaded.trim().to_string(),
            };
            line.push(cell);
        }
        let messages: Vec<&str> = patient.reasons.iter().map(|r| r.message.as_str()).collect();
        let codes: Vec<&str> = patient.reasons.iter().map(|r| r.code.as_str()).collect();
        line.push(patient.status.as_str().to_string());
        line.push(messages.join("; "));
        line.push(codes.join(" "));
        self.writer
            .write_record(line.iter().map(|c| neutralise(c).into_owned()))
    }

    /// Flushes, and gives the output back.
    ///
    /// # Errors
    ///
    /// The writer's.
    pub fn finish(self) -> std::io::Result<W> {
        self.writer.into_inner().map_err(|e| e.into_error())
    }
}

/// A [`VerdictSink`] that writes the reasons CSV as the verdicts come: the
/// header once the columns are known, then a line per patient not accepted.
#[derive(Debug)]
pub struct ReasonsSink<W: Write> {
    out: Option<W>,
    writer: Option<ReasonsWriter<W>>,
    written: usize,
}

impl<W: Write> ReasonsSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> ReasonsSink<W> {
        ReasonsSink {
            out: Some(out),
            writer: None,
            written: 0,
        }
    }

    /// Lines written so far, one per patient not accepted.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Flushes, and gives the output back.
    ///
    /// # Errors
    ///
    /// The writer's; an error when the batch never gave its columns.
    pub fn finish(self) -> std::io::Result<W> {
        match self.writer {
            Some(writer) => writer.finish(),
            None => Err(std::io::Error::other(
                "the batch ended without its columns: no reasons CSV",
            )),
        }
    }
}

impl<W: Write> VerdictSink for ReasonsSink<W> {
    fn columns(&mut self, columns: &Columns) -> std::io::Result<()> {
        if let Some(out) = self.out.take() {
            self.writer = Some(ReasonsWriter::new(out, columns).map_err(csv_io)?);
        }
        Ok(())
    }

    fn verdict(&mut self, verdict: PatientVerdict) -> std::io::Result<()> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| std::io::Error::other("a verdict before the columns"))?;
        if verdict.status != Status::Accepted {
            writer.patient(&verdict).map_err(csv_io)?;
            self.written += 1;
        }
        Ok(())
    }
}

/// A csv error (always an I/O error here: the records are strings).
fn csv_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_first_characters_are_neutralised() {
        for bad in [
            "=1+1",
            "+447700900123",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "\nx",
        ] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(neutralise("07700 900123"), "07700 900123");
        assert_eq!(neutralise("Smith"), "Smith");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn a_line_per_patient_not_accepted_with_cells_made_safe() {
        use crate::report::{Columns, Identity, PatientVerdict, Reason, Status, Summary};
        let id = Identity {
            name: "x".into(),
            version: "1.0.0".into(),
        };
        let patient = |row, status, cells: &[&str]| PatientVerdict {
            row,
            nhs_number: None,
            mobile_number: crate::MobileNumber::uk(7_700_900_123),
            status,
            reasons: vec![Reason {
                code: "invalid-nhs-number".into(),
                message: "NHS number must be 10 digits".into(),
            }],
            success_probability: Some(0.5),
            cells: cells.iter().map(|c| c.to_string()).collect(),
        };
        let report = BatchReport {
            validator: id.clone(),
            rules: id,
            deployment: None,
            summary: Summary::default(),
            history: Default::default(),
            patients: vec![
                patient(
                    2,
                    Status::Rejected,
                    &["123", "Zoë", "=HYPERLINK(\"x\")", "+44 7700 900123"],
                ),
                patient(3, Status::Accepted, &[]),
            ],
            columns: Columns {
                headers: vec![
                    "NHS Number".into(),
                    "Name".into(),
                    "Note".into(),
                    "Mobile".into(),
                ],
                nhs_number: 0,
                mobile_number: 3,
                date_of_birth: None,
            },
        };
        let mut out = Vec::new();
        write_reasons(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\u{FEFF}Row,NHS Number,Name,Note,Mobile,Status,Reasons,Reason codes\r\n\
             2,123,Zoë,\"'=HYPERLINK(\"\"x\"\")\",07700 900123,rejected,NHS number must be 10 digits,invalid-nhs-number\r\n"
        );
    }

    #[test]
    fn mobiles_as_staff_write_them() {
        assert_eq!(national_mobile("+447700900123"), "07700 900123");
        assert_eq!(national_mobile("garbage"), "garbage");
    }
}
