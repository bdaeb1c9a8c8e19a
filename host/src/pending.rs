//! History lookups answered on another thread while the validator reads on:
//! the host's side of `history.pending-lookup` (contract 1.3.0).
//!
//! A 1.3.0 validator asks as soon as it has read a chunk's rows and takes
//! the answer when it judges them (after the next chunk, unless the answer
//! came sooner), so the store is read on the second core while the
//! component parses the next chunk. Each store (one
//! batch) starts one thread when its validator first asks; the thread
//! answers the questions one at a time, in the order they were asked (one
//! connection's reads, as a synchronous lookup would make them), and ends
//! once the store is dropped and the questions already asked are answered.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use crate::error::Error;
use crate::history::{Attempt, HistoryStore, Outcome};

/// A question for the worker thread.
type Job = Box<dyn FnOnce() + Send>;

/// One store's worker thread, started on the first question.
#[derive(Default)]
pub(crate) struct Worker {
    jobs: Option<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("started", &self.jobs.is_some())
            .finish()
    }
}

impl Worker {
    /// Starts looking up `numbers` in `store` (as of `now`) on the worker
    /// thread.
    ///
    /// # Errors
    ///
    /// The thread could not be started (or, not expected, has stopped).
    pub(crate) fn look_up(
        &mut self,
        store: Arc<dyn HistoryStore>,
        numbers: Vec<u64>,
        now: i64,
    ) -> std::io::Result<Pending> {
        let count = numbers.len();
        let (answer, taken) = mpsc::sync_channel(1);
        // The store's log lines belong to the batch that asked.
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            let _in_batch = span.enter();
            // The pending lookup may have been dropped: nobody to tell.
            let _ = answer.send(look_up(&*store, &numbers, now));
        });
        let jobs = match &self.jobs {
            Some(jobs) => jobs,
            None => self.jobs.insert(spawn()?),
        };
        // The thread outlives every job (it catches a panicking store), so
        // its queue is open while this worker is.
        jobs.send(job)
            .map_err(|_| std::io::Error::other("the history thread stopped"))?;
        Ok(Pending {
            answer: Some(taken),
            came: None,
            numbers: count,
        })
    }
}

/// Starts a worker thread.
fn spawn() -> std::io::Result<mpsc::Sender<Job>> {
    let (jobs, asked) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("presend-history".into())
        .spawn(move || {
            for job in asked {
                // A store that panics loses that one answer (its pending
                // lookup says so), not the thread: the questions behind it
                // are already queued.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })?;
    Ok(jobs)
}

/// A lookup asked for and not yet taken: the resource behind
/// `history.pending-lookup`.
pub struct Pending {
    /// `None` when there is no store to ask.
    answer: Option<mpsc::Receiver<Found>>,
    /// The answer, once [`Pending::ready`] has seen it come.
    came: Option<Found>,
    numbers: usize,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("numbers", &self.numbers)
            .finish()
    }
}

impl Pending {
    /// A lookup with no store to ask: no number has any history.
    pub(crate) fn no_store(numbers: usize) -> Pending {
        Pending {
            answer: None,
            came: None,
            numbers,
        }
    }

    /// How many numbers it asks about.
    pub(crate) fn numbers(&self) -> usize {
        self.numbers
    }

    /// Whether the answer has come (or will never come): [`Pending::wait`]
    /// would not wait.
    pub(crate) fn ready(&mut self) -> bool {
        let Some(answer) = &self.answer else {
            return true;
        };
        if self.came.is_some() {
            return true;
        }
        match answer.try_recv() {
            Ok(found) => {
                self.came = Some(found);
                true
            }
            Err(mpsc::TryRecvError::Empty) => false,
            Err(mpsc::TryRecvError::Disconnected) => true,
        }
    }

    /// Waits for the answer.
    pub(crate) fn wait(self) -> Answer {
        match (self.came, self.answer) {
            (Some(found), _) => Answer::Found(found),
            (None, None) => Answer::NoStore,
            (None, Some(answer)) => answer.recv().map_or(Answer::Lost, Answer::Found),
        }
    }
}

/// What a pending lookup came to.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The store's answer.
    Found(Found),
    /// There was no store to ask.
    NoStore,
    /// The store panicked, or the worker thread stopped, without an answer.
    Lost,
}

/// What a lookup of UK mobiles found: each attempt as its number's position
/// in the question, its time and its outcome, one list a field.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) number: Vec<u32>,
    pub(crate) sent_at: Vec<i64>,
    pub(crate) outcome: Vec<Outcome>,
    /// Attempts dated after "now".
    pub(crate) after_now: usize,
    /// How long the store took.
    pub(crate) micros: u64,
    /// The store failed: the lists are not to be used.
    pub(crate) error: Option<Error>,
}

/// Looks up UK mobiles (as `history.lookup-mobiles` gives them) in `store`.
pub(crate) fn look_up(store: &dyn HistoryStore, numbers: &[u64], now: i64) -> Found {
    let started = Instant::now();
    let mut found = Found::default();
    let asked = store.lookup_each_uk_mobile(numbers, &mut |number, a: Attempt| {
        found.number.push(number);
        found.sent_at.push(a.sent_at);
        found.outcome.push(a.outcome);
        found.after_now += usize::from(a.sent_at > now);
    });
    found.error = asked.err();
    found.micros = started.elapsed().as_micros() as u64;
    found
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::history::NumberHistory;

    /// Answers each number with one failed attempt sent at `now - 10`,
    /// after waiting for a go-ahead; panics on +447700900666.
    struct Gated {
        go: Mutex<mpsc::Receiver<()>>,
    }

    impl HistoryStore for Gated {
        fn lookup(&self, numbers: &[String]) -> crate::Result<Vec<NumberHistory>> {
            assert!(!numbers.iter().any(|n| n == "+447700900666"), "a store bug");
            self.go.lock().unwrap().recv().unwrap();
            Ok(numbers
                .iter()
                .map(|n| NumberHistory {
                    number: n.clone(),
                    attempts: vec![Attempt {
                        sent_at: 90,
                        outcome: Outcome::Failed,
                    }],
                })
                .collect())
        }
    }

    fn gated() -> (Arc<dyn HistoryStore>, mpsc::Sender<()>) {
        let (go, gate) = mpsc::channel();
        let store = Gated {
            go: Mutex::new(gate),
        };
        (Arc::new(store), go)
    }

    #[test]
    fn an_answer_is_ready_only_once_the_store_has_given_it() {
        let (store, go) = gated();
        let mut worker = Worker::default();
        let mut first = worker
            .look_up(store.clone(), vec![7_700_900_001], 100)
            .unwrap();
        let second = worker
            .look_up(store, vec![7_700_900_002, 7_700_900_003], 100)
            .unwrap();
        assert_eq!(second.numbers(), 2);
        assert!(!first.ready(), "the store has not answered");
        go.send(()).unwrap();
        // Asked again until the thread has handed the answer over.
        while !first.ready() {
            std::thread::yield_now();
        }
        let Answer::Found(found) = first.wait() else {
            panic!("the first answer");
        };
        assert_eq!((found.number, found.sent_at), (vec![0], vec![90]));
        assert_eq!(found.after_now, 0);
        assert!(found.error.is_none());
        // The second, asked after the first, is answered after it.
        go.send(()).unwrap();
        let Answer::Found(found) = second.wait() else {
            panic!("the second answer");
        };
        assert_eq!(found.number, [0, 1]);
    }

    #[test]
    fn a_store_that_panics_loses_that_answer_and_the_next_lookup_is_answered() {
        let (store, go) = gated();
        let mut worker = Worker::default();
        let lost = worker
            .look_up(store.clone(), vec![7_700_900_666], 0)
            .unwrap();
        assert!(matches!(lost.wait(), Answer::Lost));
        go.send(()).unwrap();
        let next = worker.look_up(store, vec![7_700_900_001], 0).unwrap();
        assert!(matches!(next.wait(), Answer::Found(f) if f.number == [0] && f.after_now == 1));
    }

    #[test]
    fn without_a_store_nothing_waits() {
        let mut pending = Pending::no_store(3);
        assert!(pending.ready());
        assert_eq!(pending.numbers(), 3);
        assert!(matches!(pending.wait(), Answer::NoStore));
    }
}
