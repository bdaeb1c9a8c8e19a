//! The downloadable list of reasons: one line per patient not accepted, with
//! the row, the patient's columns as uploaded, the status and the reasons in
//! plain English, for the practice to fix the records.
//!
//! Every cell is made safe to open in a spreadsheet (OWASP CSV injection,
//! CWE-1236): a cell that begins with `=`, `+`, `-`, `@`, tab, CR or LF is
//! prefixed with a single quote. Valid mobile numbers are written as staff
//! know them (`07700 900123`), which is also safe.

use std::io::Write;

use crate::report::BatchReport;

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

/// Writes the reasons CSV for `report`.
pub fn write_reasons<W: Write>(report: &BatchReport, out: W) -> csv::Result<()> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    let columns = &report.columns;
    let mut header: Vec<&str> = vec!["Row"];
    header.extend(columns.headers.iter().map(String::as_str));
    header.extend(["Status", "Reasons", "Reason codes"]);
    writer.write_record(header.iter().map(|h| neutralise(h).into_owned()))?;
    for patient in report.not_accepted() {
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
        writer.write_record(line.iter().map(|c| neutralise(c).into_owned()))?;
    }
    writer.flush()?;
    Ok(())
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
    fn mobiles_as_staff_write_them() {
        assert_eq!(national_mobile("+447700900123"), "07700 900123");
        assert_eq!(national_mobile("garbage"), "garbage");
    }
}
