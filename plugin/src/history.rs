//! Delivery history and the likely-to-fail score.
//!
//! Over 400 lines because half of it is the unit tests of the scoring rules;
//! the code itself is about 200.
//!
//! The seed's rules, and how they become a number:
//! - Only attempts that say something about the number count: a technical
//!   failure is the provider's fault and a pending message has no outcome yet.
//! - An attempt dated after "now" (by more than the rules' clock skew) has not
//!   happened yet as of "now": it is no evidence, and it is counted apart, so
//!   judging a file as of an earlier day gives the verdict of that day.
//! - Attempts are ordered by time, never by the order they arrived in. At the
//!   same second a failure counts as later than a delivery, so the verdict
//!   does not depend on input order.
//! - If the last attempt that counts failed, the number is likely to fail and
//!   its chance of success is at most 0.10 (">90% chance it fails again").
//! - If it was delivered, the number is good until it fails again: at least 0.50.
//! - Within each band the chance is a Beta-Bernoulli estimate: the prior from
//!   the rules plus the evidence, each attempt weighted by its kind (a
//!   permanent failure counts `permanent_failure_factor` times a temporary
//!   one) and by its age in whole days (halving every `half_life_days`).
//!   So the more a number failed, the lower its chance, and one more failure
//!   anywhere in its history never raises it.

use std::borrow::Cow;

use crate::rules::ScoringRules;

/// The chance after a failure is this times the estimate: at most 0.10 (the
/// seed: a number whose last message failed fails again more than 90% of the
/// time). The rules' lowest prior is the same number.
pub const AFTER_FAILURE_MAX: f64 = crate::rules::MIN_PRIOR;
/// The chance after a delivery is at least this.
pub const AFTER_DELIVERY_MIN: f64 = 0.50;

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The handset confirmed delivery.
    Delivered,
    /// Sent, sending or pending: no evidence yet.
    Pending,
    /// The provider's own fault: no evidence against the number.
    TechnicalFailure,
    /// Failed, cause unknown.
    Failed,
    /// Phone off, out of signal, memory full, or expired.
    TemporaryFailure,
    /// The number does not exist, is invalid or cannot take SMS.
    PermanentFailure,
}

impl Outcome {
    fn counts(self) -> bool {
        !matches!(self, Outcome::Pending | Outcome::TechnicalFailure)
    }

    fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Failed | Outcome::TemporaryFailure | Outcome::PermanentFailure
        )
    }
}

/// One message sent to a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Seconds since the Unix epoch, UTC.
    pub sent_at: i64,
    /// How it ended.
    pub outcome: Outcome,
}

/// What a number's history says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The chance the next message is delivered.
    pub success_probability: f64,
    /// Whether the last attempt that counts failed.
    pub likely_to_fail: bool,
    /// Attempts that count.
    pub counted: u32,
    /// Of those, how many failed.
    pub failed: u32,
    /// Attempts dated after "now" by more than the clock skew: not counted.
    pub future: u32,
}

/// The order attempts are scored in: by time, and at the same second a
/// failure after a delivery (`Outcome`'s order).
pub fn order(a: &Attempt) -> (i64, Outcome) {
    (a.sent_at, a.outcome)
}

/// Scores many numbers' histories at one time `now`, remembering the weight
/// of each age (in whole days) it has seen: a batch's attempts share few
/// distinct ages, and `exp2` is the costliest step of scoring.
pub struct Scorer<'r> {
    rules: &'r ScoringRules,
    now: i64,
    /// Weight by age in days; NaN where not yet computed.
    decay_by_day: Vec<f64>,
}

/// Ages up to this many days are remembered (a century); older ones are
/// computed each time.
const REMEMBERED_DAYS: usize = 36_525;

impl<'r> Scorer<'r> {
    /// A scorer for `rules` at `now` (Unix seconds, UTC).
    pub fn new(rules: &'r ScoringRules, now: i64) -> Scorer<'r> {
        Scorer {
            rules,
            now,
            decay_by_day: Vec::new(),
        }
    }

    /// The weight of evidence from an attempt sent at `sent_at`: 1 when new,
    /// halving every `half_life_days` of age, counted in whole days. Uses
    /// `libm` so the component and native builds give the same bits.
    fn decay(&mut self, sent_at: i64) -> f64 {
        let half_life = self.rules.half_life_days.0;
        let age_days = self.now.saturating_sub(sent_at).max(0) / 86_400;
        if half_life == 0.0 || age_days == 0 {
            return 1.0;
        }
        let compute = || libm::exp2(-(age_days as f64) / half_life);
        let Ok(day) = usize::try_from(age_days) else {
            return compute();
        };
        if day >= REMEMBERED_DAYS {
            return compute();
        }
        if self.decay_by_day.len() <= day {
            self.decay_by_day.resize(day + 1, f64::NAN);
        }
        if self.decay_by_day[day].is_nan() {
            self.decay_by_day[day] = compute();
        }
        self.decay_by_day[day]
    }

    /// Scores one number's history. The attempts may come in any order;
    /// already in scoring order (`order`) they are not copied.
    pub fn score(&mut self, attempts: &[Attempt]) -> Score {
        let rules = self.rules;
        let prior = rules.prior.0;
        let alpha = prior * rules.prior_weight.0;
        let beta = (1.0 - prior) * rules.prior_weight.0;
        // Sorted, so the sums (and so the bits) do not depend on input order.
        let sorted: Cow<'_, [Attempt]> = if attempts.is_sorted_by_key(order) {
            Cow::Borrowed(attempts)
        } else {
            let mut copy = attempts.to_vec();
            copy.sort_unstable_by_key(order);
            Cow::Owned(copy)
        };
        let mut delivered_weight = 0.0;
        let mut failed_weight = 0.0;
        let mut counted = 0u32;
        let mut failed = 0u32;
        let mut last = None;
        // Sorted by time: everything from the first attempt past `latest` on
        // has not happened yet as of `now`.
        let latest = self.now.saturating_add(rules.clock_skew_seconds.0);
        let happened = sorted.partition_point(|a| a.sent_at <= latest);
        let future = u32::try_from(sorted.len() - happened).unwrap_or(u32::MAX);
        for a in sorted[..happened].iter().filter(|a| a.outcome.counts()) {
            let decay = self.decay(a.sent_at);
            match a.outcome {
                Outcome::Delivered => delivered_weight += decay,
                Outcome::PermanentFailure => {
                    failed_weight +=
                        decay * rules.failure_weight.0 * rules.permanent_failure_factor.0
                }
                _ => failed_weight += decay * rules.failure_weight.0,
            }
            counted += 1;
            failed += u32::from(a.outcome.is_failure());
            last = Some(a.outcome);
        }
        let Some(last) = last else {
            return Score {
                success_probability: prior,
                likely_to_fail: false,
                counted,
                failed,
                future,
            };
        };
        let estimate =
            (alpha + delivered_weight) / (alpha + beta + delivered_weight + failed_weight);
        let last_failed = last.is_failure();
        let success_probability = if last_failed {
            AFTER_FAILURE_MAX * estimate
        } else {
            AFTER_DELIVERY_MIN + (1.0 - AFTER_DELIVERY_MIN) * estimate
        };
        Score {
            success_probability,
            likely_to_fail: last_failed,
            counted,
            failed,
            future,
        }
    }
}

/// Scores one number's history at time `now` (see `Scorer`).
pub fn score(attempts: &[Attempt], now: i64, rules: &ScoringRules) -> Score {
    Scorer::new(rules, now).score(attempts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rules;
    use proptest::prelude::*;

    const NOW: i64 = 1_795_737_600;
    const DAY: i64 = 86_400;

    fn rules() -> ScoringRules {
        Rules::default_rules().scoring
    }

    fn at(days_ago: i64, outcome: Outcome) -> Attempt {
        Attempt {
            sent_at: NOW - days_ago * DAY,
            outcome,
        }
    }

    fn p(attempts: &[Attempt]) -> f64 {
        score(attempts, NOW, &rules()).success_probability
    }

    #[test]
    fn no_history_gives_the_prior() {
        assert_eq!(p(&[]), rules().prior.0);
        // Only attempts that say nothing about the number: still the prior.
        let s = score(
            &[at(1, Outcome::Pending), at(2, Outcome::TechnicalFailure)],
            NOW,
            &rules(),
        );
        assert_eq!(s.success_probability, rules().prior.0);
        assert!(!s.likely_to_fail);
    }

    #[test]
    fn last_failure_means_likely_to_fail() {
        let s = score(
            &[at(10, Outcome::Delivered), at(1, Outcome::Failed)],
            NOW,
            &rules(),
        );
        assert!(s.likely_to_fail);
        assert!(s.success_probability <= AFTER_FAILURE_MAX);
        assert_eq!((s.counted, s.failed), (2, 1));
    }

    #[test]
    fn success_after_failures_is_good_again() {
        let s = score(
            &[
                at(30, Outcome::PermanentFailure),
                at(20, Outcome::Failed),
                at(1, Outcome::Delivered),
            ],
            NOW,
            &rules(),
        );
        assert!(!s.likely_to_fail);
        assert!(s.success_probability >= AFTER_DELIVERY_MIN);
    }

    #[test]
    fn order_is_by_time_not_input_order() {
        let fail_then_ok = [at(5, Outcome::Failed), at(1, Outcome::Delivered)];
        let ok_then_fail_input = [at(1, Outcome::Delivered), at(5, Outcome::Failed)];
        assert_eq!(p(&fail_then_ok).to_bits(), p(&ok_then_fail_input).to_bits());
        assert!(!score(&ok_then_fail_input, NOW, &rules()).likely_to_fail);
    }

    #[test]
    fn pending_and_technical_failures_are_no_evidence() {
        let base = [at(5, Outcome::Delivered)];
        let more = [
            at(5, Outcome::Delivered),
            at(1, Outcome::TechnicalFailure),
            at(0, Outcome::Pending),
        ];
        assert_eq!(p(&base).to_bits(), p(&more).to_bits());
    }

    #[test]
    fn a_failure_at_the_same_second_as_a_delivery_counts_as_last() {
        let a = [at(1, Outcome::Delivered), at(1, Outcome::TemporaryFailure)];
        let b = [at(1, Outcome::TemporaryFailure), at(1, Outcome::Delivered)];
        assert!(score(&a, NOW, &rules()).likely_to_fail);
        assert_eq!(p(&a).to_bits(), p(&b).to_bits());
    }

    #[test]
    fn a_scorer_reused_across_numbers_gives_the_same_bits() {
        let histories = [
            vec![at(400, Outcome::Delivered), at(3, Outcome::Failed)],
            vec![at(3, Outcome::Delivered)],
            vec![at(40_000, Outcome::PermanentFailure)],
        ];
        let r = rules();
        let mut scorer = Scorer::new(&r, NOW);
        for h in &histories {
            let shared = scorer.score(h).success_probability;
            assert_eq!(shared.to_bits(), p(h).to_bits());
        }
    }

    #[test]
    fn more_failures_lower_the_chance() {
        let one = p(&[at(1, Outcome::Failed)]);
        let three = p(&[
            at(3, Outcome::Failed),
            at(2, Outcome::Failed),
            at(1, Outcome::Failed),
        ]);
        assert!(three < one, "{three} < {one}");
    }

    #[test]
    fn decay_halves_every_half_life_and_never_fades_at_zero() {
        let mut r = rules();
        r.half_life_days.0 = 30.0;
        let mut s = Scorer::new(&r, NOW);
        assert_eq!(s.decay(NOW), 1.0);
        assert_eq!(s.decay(NOW - DAY + 1), 1.0, "ages are whole days");
        assert_eq!(s.decay(NOW - 30 * DAY), 0.5);
        assert_eq!(s.decay(NOW - 60 * DAY), 0.25);
        assert_eq!(
            s.decay(NOW + 30 * DAY),
            1.0,
            "no attempt weighs more than new"
        );
        r.half_life_days.0 = 0.0;
        let mut s = Scorer::new(&r, NOW);
        assert_eq!(s.decay(NOW - 10 * YEAR), 1.0);
    }

    #[test]
    fn hand_computed_scores_under_the_default_rules() {
        // prior 0.95 with weight 2: alpha 1.9, beta 0.1. A failure weighs 1,
        // a permanent one 3; evidence halves every 365 days.
        let close = |got: f64, want: f64| assert!((got - want).abs() < 1e-12, "{got} != {want}");
        close(p(&[at(0, Outcome::Failed)]), 0.1 * 1.9 / 3.0);
        close(p(&[at(0, Outcome::Delivered)]), 0.5 + 0.5 * 2.9 / 3.0);
        close(
            p(&[at(365, Outcome::PermanentFailure)]),
            0.1 * 1.9 / (2.0 + 1.5),
        );
        close(
            p(&[
                at(730, Outcome::Delivered),
                at(0, Outcome::TemporaryFailure),
            ]),
            0.1 * (1.9 + 0.25) / (2.0 + 0.25 + 1.0),
        );
    }

    #[test]
    fn attempts_after_now_are_no_evidence_beyond_the_clock_skew() {
        let r = rules();
        let skew = r.clock_skew_seconds.0;
        let failed_before = Attempt {
            sent_at: NOW - DAY,
            outcome: Outcome::Failed,
        };
        let delivered = |sent_at| Attempt {
            sent_at,
            outcome: Outcome::Delivered,
        };
        // A delivery wrongly dated a year ahead does not make the number good.
        let s = score(&[failed_before, delivered(NOW + YEAR)], NOW, &r);
        assert!(s.likely_to_fail);
        assert_eq!((s.counted, s.future), (1, 1));
        // Within the skew it counts; one second past it, it does not.
        assert!(!score(&[failed_before, delivered(NOW + skew)], NOW, &r).likely_to_fail);
        assert!(score(&[failed_before, delivered(NOW + skew + 1)], NOW, &r).likely_to_fail);
        // Judged as of a later day, the delivery has happened.
        assert!(!score(&[failed_before, delivered(NOW + YEAR)], NOW + YEAR, &r).likely_to_fail);
    }

    const YEAR: i64 = 365 * DAY;

    /// The oracle, written apart from the scorer from the module's rules: the
    /// attempts that count (delivered or failed, dated at most the clock skew
    /// after `now`); the last of them by time, a failure after a delivery at
    /// the same second; weights summed in input order with `powf`, not the
    /// scorer's sorted, cached `exp2`.
    fn expected(h: &[Attempt], now: i64, r: &ScoringRules) -> (Option<bool>, f64) {
        use Outcome::*;
        let fails = |o| matches!(o, Failed | TemporaryFailure | PermanentFailure);
        let mut last: Option<(i64, bool)> = None;
        let (mut good, mut bad) = (0.0f64, 0.0f64);
        for a in h {
            let counts = matches!(a.outcome, Delivered) || fails(a.outcome);
            if !counts || a.sent_at > now + r.clock_skew_seconds.0 {
                continue;
            }
            let failed = fails(a.outcome);
            let later = match last {
                None => true,
                Some((t, was_failure)) => {
                    a.sent_at > t || (a.sent_at == t && failed && !was_failure)
                }
            };
            if later {
                last = Some((a.sent_at, failed));
            }
            let age_days = ((now - a.sent_at).max(0) / DAY) as f64;
            let hl = r.half_life_days.0;
            let w = if hl == 0.0 {
                1.0
            } else {
                0.5f64.powf(age_days / hl)
            };
            match a.outcome {
                Delivered => good += w,
                PermanentFailure => bad += w * r.failure_weight.0 * r.permanent_failure_factor.0,
                _ => bad += w * r.failure_weight.0,
            }
        }
        let prior = r.prior.0;
        let (alpha, beta) = (prior * r.prior_weight.0, (1.0 - prior) * r.prior_weight.0);
        let estimate = (alpha + good) / (alpha + beta + good + bad);
        let last_failed = last.map(|(_, f)| f);
        let p = match last_failed {
            None => prior,
            Some(true) => 0.1 * estimate,
            Some(false) => 0.5 + 0.5 * estimate,
        };
        (last_failed, p)
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            Just(Outcome::Delivered),
            Just(Outcome::Failed),
            Just(Outcome::PermanentFailure),
            Just(Outcome::TemporaryFailure),
            Just(Outcome::TechnicalFailure),
            Just(Outcome::Pending),
        ]
    }

    /// Up to 200 attempts from ten years ago to ten years ahead; some on a
    /// few shared seconds, so ties at the same second happen.
    fn history() -> impl Strategy<Value = Vec<Attempt>> {
        let when = prop_oneof![-10 * YEAR..=10 * YEAR, (-3i64..=3).prop_map(|d| d * DAY)];
        prop::collection::vec(
            (when, outcome()).prop_map(|(age, o)| Attempt {
                sent_at: NOW - age,
                outcome: o,
            }),
            0..200,
        )
    }

    fn scoring() -> impl Strategy<Value = ScoringRules> {
        (
            AFTER_FAILURE_MAX..0.999,
            0.1f64..20.0,
            0.1f64..5.0,
            1.0f64..10.0,
            prop_oneof![Just(0.0), 0.0f64..3650.0],
            0i64..=86_400,
        )
            .prop_map(|(prior, pw, fw, pf, hl, skew)| {
                let mut r = rules();
                r.prior.0 = prior;
                r.prior_weight.0 = pw;
                r.failure_weight.0 = fw;
                r.permanent_failure_factor.0 = pf;
                r.half_life_days.0 = hl;
                r.clock_skew_seconds.0 = skew;
                r
            })
    }

    fn failure() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            Just(Outcome::Failed),
            Just(Outcome::PermanentFailure),
            Just(Outcome::TemporaryFailure),
        ]
    }

    proptest! {
        #[test]
        fn scores_agree_with_the_oracle(h in history(), r in scoring()) {
            let s = score(&h, NOW, &r);
            let (last_failed, p) = expected(&h, NOW, &r);
            prop_assert_eq!(s.likely_to_fail, last_failed == Some(true));
            prop_assert!((s.success_probability - p).abs() <= 1e-9, "{} != {}", s.success_probability, p);
            match last_failed {
                Some(true) => prop_assert!(s.success_probability <= AFTER_FAILURE_MAX),
                Some(false) => prop_assert!(s.success_probability >= AFTER_DELIVERY_MIN),
                None => prop_assert_eq!(s.success_probability, r.prior.0),
            }
            // A number never messaged never ranks below a failed one.
            if last_failed == Some(true) {
                prop_assert!(s.success_probability <= r.prior.0);
            }
        }

        #[test]
        fn one_more_failure_never_raises_it(
            h in history(), r in scoring(), age in -10 * YEAR..=10 * YEAR, f in failure(), at_index in 0usize..200,
        ) {
            let before = score(&h, NOW, &r).success_probability;
            let mut more = h.clone();
            let extra = Attempt { sent_at: NOW - age, outcome: f };
            more.insert(at_index.min(more.len()), extra);
            let after = score(&more, NOW, &r).success_probability;
            prop_assert!(after <= before, "{after} > {before}");
        }

        #[test]
        fn permanent_never_scores_above_temporary_in_the_same_place(
            h in history(), r in scoring(), age in -10 * YEAR..=10 * YEAR, at_index in 0usize..200,
        ) {
            let with = |o| {
                let mut v = h.clone();
                v.insert(at_index.min(v.len()), Attempt { sent_at: NOW - age, outcome: o });
                score(&v, NOW, &r).success_probability
            };
            prop_assert!(with(Outcome::PermanentFailure) <= with(Outcome::TemporaryFailure));
        }

        #[test]
        fn same_input_same_bits_whatever_the_order(h in history(), r in scoring()) {
            let a = score(&h, NOW, &r).success_probability;
            let mut reversed = h.clone();
            reversed.reverse();
            let b = score(&reversed, NOW, &r).success_probability;
            prop_assert_eq!(a.to_bits(), score(&h, NOW, &r).success_probability.to_bits());
            prop_assert_eq!(a.to_bits(), b.to_bits());
        }
    }
}
