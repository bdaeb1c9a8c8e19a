//! A batch's report as JSON, written while the batch runs: the document
//! `serde_json` makes of a [`BatchReport`](crate::BatchReport) (the same
//! keys and values), with the patients written one a line as their
//! verdicts come and the summary after them, so no step holds the whole
//! document. Or NDJSON: one patient a line, then the summary's line.

use std::io::Write;

use serde::Serialize;

use crate::report::{Columns, DeploymentInfo, Identity, PatientVerdict, Summary};
use crate::sink::VerdictSink;

/// Which of the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonForm {
    /// One JSON document.
    Document,
    /// One JSON value a line (`application/x-ndjson`): each patient as
    /// `{"patient": …}`, then `{"summary": …, "validator": …, "rules": …}`.
    Lines,
}

/// A [`VerdictSink`] that writes JSON as the verdicts come.
#[derive(Debug)]
pub struct JsonSink<W: Write> {
    out: W,
    form: JsonForm,
    patients: usize,
    /// One patient's JSON, made here and written to `out` in one call:
    /// `serde_json` writes a value in many small pieces, and passing each
    /// through the writer stack was 5% of a whole `presend validate`.
    line: Vec<u8>,
}

/// What the report says of who judged the batch.
#[derive(Serialize)]
struct Head<'a> {
    validator: &'a Identity,
    rules: &'a Identity,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment: Option<&'a DeploymentInfo>,
}

impl<W: Write> JsonSink<W> {
    /// Starts the output: for a document, who judges the batch, then the
    /// patients' list opens.
    ///
    /// # Errors
    ///
    /// The writer's.
    pub fn start(
        mut out: W,
        form: JsonForm,
        validator: &Identity,
        rules: &Identity,
        deployment: Option<&DeploymentInfo>,
    ) -> std::io::Result<JsonSink<W>> {
        if form == JsonForm::Document {
            writeln!(out, "{{")?;
            writeln!(out, "  \"validator\": {},", to_json(validator)?)?;
            writeln!(out, "  \"rules\": {},", to_json(rules)?)?;
            if let Some(deployment) = deployment {
                writeln!(out, "  \"deployment\": {},", to_json(deployment)?)?;
            }
            write!(out, "  \"patients\": [")?;
        }
        Ok(JsonSink {
            out,
            form,
            patients: 0,
            line: Vec::new(),
        })
    }

    /// Ends the output with the summary, and gives the writer back.
    ///
    /// # Errors
    ///
    /// The writer's.
    pub fn finish(
        mut self,
        summary: &Summary,
        validator: &Identity,
        rules: &Identity,
        deployment: Option<&DeploymentInfo>,
    ) -> std::io::Result<W> {
        match self.form {
            JsonForm::Document => {
                let close = if self.patients == 0 { "]" } else { "\n  ]" };
                writeln!(self.out, "{close},")?;
                writeln!(self.out, "  \"summary\": {}", to_json(summary)?)?;
                writeln!(self.out, "}}")?;
            }
            JsonForm::Lines => {
                #[derive(Serialize)]
                struct End<'a> {
                    summary: &'a Summary,
                    #[serde(flatten)]
                    head: Head<'a>,
                }
                let end = End {
                    summary,
                    head: Head {
                        validator,
                        rules,
                        deployment,
                    },
                };
                writeln!(self.out, "{}", to_json(&end)?)?;
            }
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> VerdictSink for JsonSink<W> {
    fn columns(&mut self, _: &Columns) -> std::io::Result<()> {
        Ok(())
    }

    fn verdict(&mut self, verdict: PatientVerdict) -> std::io::Result<()> {
        let line = &mut self.line;
        line.clear();
        match self.form {
            JsonForm::Document => {
                let comma: &[u8] = if self.patients == 0 { b"" } else { b"," };
                line.extend_from_slice(comma);
                line.extend_from_slice(b"\n    ");
                serde_json::to_writer(&mut *line, &verdict)?;
            }
            JsonForm::Lines => {
                #[derive(Serialize)]
                struct Line<'a> {
                    patient: &'a PatientVerdict,
                }
                serde_json::to_writer(&mut *line, &Line { patient: &verdict })?;
                line.push(b'\n');
            }
        }
        self.out.write_all(line)?;
        self.patients += 1;
        Ok(())
    }
}

fn to_json(value: &impl Serialize) -> std::io::Result<String> {
    serde_json::to_string(value).map_err(std::io::Error::other)
}
