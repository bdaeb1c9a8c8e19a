//! Where a streamed batch's verdicts go, as the validator gives them.

use crate::report::{Columns, PatientVerdict};

/// Takes a streamed batch's verdicts as they come
/// ([`crate::Validator::validate_stream`]): a writer of JSON, NDJSON or the
/// reasons CSV, a queue, a database.
///
/// The verdicts are not the batch's answer until `validate_stream` returns
/// `Ok`: a problem with the file as a whole (too many rows, a quote never
/// closed) can still come after some of them, and then none may be used.
/// Write them somewhere that can be thrown away (a temporary file renamed at
/// the end, a response that is cut off), or hold the messages until then.
pub trait VerdictSink {
    /// The columns found in the header row: once, before the first verdict
    /// (or at the end, when the file has no patients).
    ///
    /// # Errors
    ///
    /// The sink's own; the batch stops with [`crate::Error::Stream`].
    fn columns(&mut self, columns: &Columns) -> std::io::Result<()>;

    /// The next patient, in file order.
    ///
    /// # Errors
    ///
    /// As [`VerdictSink::columns`].
    fn verdict(&mut self, verdict: PatientVerdict) -> std::io::Result<()>;
}

/// Keeps every verdict, for [`crate::Validator::validate`].
#[derive(Debug, Default)]
pub(crate) struct Collect {
    pub(crate) patients: Vec<PatientVerdict>,
}

impl VerdictSink for Collect {
    fn columns(&mut self, _: &Columns) -> std::io::Result<()> {
        Ok(())
    }

    fn verdict(&mut self, verdict: PatientVerdict) -> std::io::Result<()> {
        self.patients.push(verdict);
        Ok(())
    }
}
