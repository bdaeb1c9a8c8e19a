//! What a batch is judged by: rules the validator accepted, "now", and
//! where history comes from.

use std::sync::Arc;

use crate::history::HistoryStore;
use crate::report::Identity;

/// A rules document the validator accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    text: Arc<str>,
    identity: Identity,
}

impl Rules {
    /// Rules the validator accepted, as `identity`.
    pub(crate) fn new(text: &str, identity: Identity) -> Rules {
        Rules {
            text: Arc::from(text),
            identity,
        }
    }

    /// The rules' name and version.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The TOML text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// What a batch runs with, besides the file.
#[derive(Clone)]
pub struct BatchOptions {
    /// The rules to judge by.
    pub rules: Rules,
    /// "Now", in seconds since the Unix epoch (UTC): dates of birth and
    /// history are judged as of this time. The same input and the same `now`
    /// always give the same verdicts.
    pub now: i64,
    /// Where delivery history comes from; `None`: every number is new.
    pub history: Option<Arc<dyn HistoryStore>>,
}

impl std::fmt::Debug for BatchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchOptions")
            .field("rules", &self.rules.identity)
            .field("now", &self.now)
            .field(
                "history",
                &self.history.as_ref().map(|_| "dyn HistoryStore"),
            )
            .finish()
    }
}
