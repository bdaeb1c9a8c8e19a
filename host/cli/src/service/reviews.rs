//! Reviews kept in memory, and only there: each under a random id of 128
//! bits, gone after its time to live, at most a set number at once (the
//! oldest goes first). Nothing of a review is written to disk or to logs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use presend_host::BatchReport;

/// One uploaded file's verdicts, as the practice reviews them.
pub struct Review {
    pub report: BatchReport,
    created: Instant,
}

/// The reviews of a service.
pub struct Reviews {
    by_id: Mutex<HashMap<String, Arc<Review>>>,
    ttl: Duration,
    max: usize,
}

impl Reviews {
    /// Reviews that live `ttl`, at most `max` at once.
    pub fn new(ttl: Duration, max: usize) -> Reviews {
        Reviews {
            by_id: Mutex::new(HashMap::new()),
            ttl,
            max: max.max(1),
        }
    }

    /// How long a review lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Keeps `report` and returns its new id; drops expired reviews, then
    /// the oldest while there are too many.
    pub fn insert(&self, report: BatchReport) -> std::io::Result<String> {
        let id = new_id()?;
        let mut by_id = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let ttl = self.ttl;
        by_id.retain(|_, r| r.created.elapsed() < ttl);
        while by_id.len() >= self.max {
            let oldest = by_id
                .iter()
                .min_by_key(|(_, r)| r.created)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(oldest) => by_id.remove(&oldest),
                None => break,
            };
        }
        let review = Review {
            report,
            created: Instant::now(),
        };
        by_id.insert(id.clone(), Arc::new(review));
        Ok(id)
    }

    /// The review `id`, unless it never was or has expired.
    pub fn get(&self, id: &str) -> Option<Arc<Review>> {
        let mut by_id = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        match by_id.get(id) {
            Some(r) if r.created.elapsed() < self.ttl => Some(r.clone()),
            Some(_) => {
                by_id.remove(id);
                None
            }
            None => None,
        }
    }
}

/// 128 random bits from the operating system, as 32 hex digits.
fn new_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
