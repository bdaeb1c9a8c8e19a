//! What a batch is judged by: rules the validator accepted, "now", and
//! where history comes from.

use std::sync::Arc;
use std::time::SystemTime;

use crate::history::HistoryStore;
use crate::report::Identity;
use crate::timestamp;

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

/// What a batch runs with, besides the file. Start from
/// `Validator::options` (its default rules, the current time, no history) or
/// [`BatchOptions::new`], then change what differs:
///
/// ```no_run
/// # use std::sync::Arc;
/// # use presend_host::{Runtime, Validator, history::SqliteHistory};
/// # let runtime = Runtime::new()?;
/// # let validator = Validator::embedded(&runtime)?;
/// let options = validator
///     .options()
///     .as_of(std::time::SystemTime::now())
///     .history(Arc::new(SqliteHistory::open("history.db")?));
/// # Ok::<(), presend_host::Error>(())
/// ```
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

impl BatchOptions {
    /// Judged by `rules`, as of the current time, with no history.
    pub fn new(rules: Rules) -> BatchOptions {
        BatchOptions {
            rules,
            now: timestamp::now(),
            history: None,
        }
    }

    /// Judged by `rules` instead.
    pub fn rules(mut self, rules: Rules) -> BatchOptions {
        self.rules = rules;
        self
    }

    /// Judged as of `now`: dates of birth and history. A time before 1970
    /// is taken as it is.
    pub fn as_of(mut self, now: SystemTime) -> BatchOptions {
        self.now = timestamp::from_system_time(now);
        self
    }

    /// Judged as of `seconds` since the Unix epoch (UTC).
    pub fn as_of_unix(mut self, seconds: i64) -> BatchOptions {
        self.now = seconds;
        self
    }

    /// With delivery history from `store`.
    pub fn history(mut self, store: Arc<dyn HistoryStore>) -> BatchOptions {
        self.history = Some(store);
        self
    }
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
