//! The per-replica burst limiter (rule 5001): governor's GCRA keyed by sender.
//!
//! It runs before any shared-store call, so a flooding sender is turned away at no cost to
//! Redis. Its memory follows the active senders: [`BurstLimiter::forget_idle`] drops every
//! sender whose bucket has refilled, since such a sender is indistinguishable from a new one;
//! and a storm of distinct senders past `max_senders` resets the limiter instead of growing it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use parking_lot::RwLock;

use crate::clock::{Clock, MonotonicClock};
use crate::policy::{Limit, Rule, Violation};
use crate::store::SenderKey;

type Keyed = RateLimiter<u128, DashMapStateStore<u128>, MonotonicClock, NoOpMiddleware<Nanos>>;

/// How often (in checks) the limiter's size is compared with its bound.
const SIZE_CHECK_EVERY: u64 = 1024;

pub struct BurstLimiter {
    limit: Limit,
    /// Monotonic: a burst is the replica's own business, and a wall-clock step must not move it.
    clock: MonotonicClock,
    quota: Quota,
    max_senders: usize,
    checks: AtomicU64,
    /// Replaced whole when a storm overflows it (a write lock taken once per overflow).
    limiter: RwLock<Keyed>,
}

impl BurstLimiter {
    /// `limit` is `burst size / refill period for the whole burst` (`10/1s`).
    pub fn new(limit: Limit, clock: Clock, max_senders: usize) -> BurstLimiter {
        let per_cell = (limit.window / limit.count.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(per_cell)
            .expect("a positive period")
            .allow_burst(limit.count);
        let clock = MonotonicClock::new(clock);
        let limiter = RateLimiter::new(quota, DashMapStateStore::default(), clock.clone());
        BurstLimiter {
            limit,
            clock,
            quota,
            max_senders,
            checks: AtomicU64::new(0),
            limiter: RwLock::new(limiter),
        }
    }

    /// Takes one cell for `sender`, or says how long until one is free.
    ///
    /// governor has no refund, so a message admitted here and rejected by a later rule has
    /// still used its cell: burst is stricter, never looser, for senders already over a limit.
    pub fn check(&self, sender: SenderKey) -> Result<(), Violation> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SIZE_CHECK_EVERY)
        {
            self.bound_memory();
        }
        self.limiter
            .read()
            .check_key(&sender.0)
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                Violation::new(Rule::Burst, Some(self.limit), wait)
            })
    }

    /// Drops senders whose bucket is full again; returns how many remain.
    pub fn forget_idle(&self) -> usize {
        let limiter = self.limiter.read();
        // No shrink_to_fit here: it rehashes every shard under its lock, a stall for every
        // sender every ten seconds; the table's size is bounded by `max_senders` anyway.
        limiter.retain_recent();
        limiter.len()
    }

    pub fn tracked_senders(&self) -> usize {
        self.limiter.read().len()
    }

    /// Past `max_senders`, forget idle senders; if a storm of distinct senders still overflows
    /// it, start afresh: every sender gets a full bucket, which only loosens the burst rule
    /// for one burst, while memory stays bounded.
    fn bound_memory(&self) {
        if self.forget_idle_if_over() {
            let fresh =
                RateLimiter::new(self.quota, DashMapStateStore::default(), self.clock.clone());
            *self.limiter.write() = fresh;
            tracing::warn!(
                max_senders = self.max_senders,
                "burst limiter overflowed; reset"
            );
        }
    }

    fn forget_idle_if_over(&self) -> bool {
        let limiter = self.limiter.read();
        if limiter.len() <= self.max_senders {
            return false;
        }
        limiter.retain_recent();
        limiter.len() > self.max_senders
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn admits_the_burst_then_refills_one_cell_per_period() {
        let manual = ManualClock::default();
        let limit = Limit::new(10, Duration::from_secs(1)).unwrap();
        let burst = BurstLimiter::new(limit, Clock::Manual(manual.clone()), 1000);
        let sender = SenderKey::of("alice");
        assert!((0..10).all(|_| burst.check(sender).is_ok()));
        let refused = burst.check(sender).unwrap_err();
        assert_eq!(refused.rule, Rule::Burst);
        assert_eq!(refused.retry_after, Duration::from_millis(100));
        manual.advance(Duration::from_millis(100));
        assert!(burst.check(sender).is_ok());
        assert!(burst.check(sender).is_err());
        assert!(
            burst.check(SenderKey::of("bob")).is_ok(),
            "senders are independent"
        );
    }

    #[test]
    fn a_wall_clock_step_back_refuses_no_sender() {
        let manual = ManualClock::default();
        let limit = Limit::new(10, Duration::from_secs(1)).unwrap();
        let burst = BurstLimiter::new(limit, Clock::Manual(manual.clone()), 1000);
        let sender = SenderKey::of("alice");
        assert!(burst.check(sender).is_ok());
        manual.advance(Duration::from_secs(1));
        // NTP steps the wall clock back an hour: no time has passed for the burst.
        manual.set_wall_ms(manual.now_ms() - 3_600_000);
        assert!(
            (0..10).all(|_| burst.check(sender).is_ok()),
            "the sender's burst is whole"
        );
        assert!(burst.check(sender).is_err(), "and no more than whole");
        assert!(burst.check(SenderKey::of("bob")).is_ok());
    }

    #[test]
    fn idle_senders_are_forgotten() {
        let manual = ManualClock::default();
        let limit = Limit::new(10, Duration::from_secs(1)).unwrap();
        let burst = BurstLimiter::new(limit, Clock::Manual(manual.clone()), 100_000);
        for i in 0..1000 {
            burst.check(SenderKey::of(&format!("user{i}"))).unwrap();
        }
        assert_eq!(burst.tracked_senders(), 1000);
        manual.advance(Duration::from_secs(2));
        assert_eq!(burst.forget_idle(), 0);
    }

    #[test]
    fn a_storm_of_distinct_senders_stays_bounded() {
        let limit = Limit::new(10, Duration::from_secs(1)).unwrap();
        let burst = BurstLimiter::new(limit, Clock::Manual(ManualClock::default()), 5_000);
        for i in 0..50_000 {
            burst.check(SenderKey::of(&format!("storm{i}"))).unwrap();
            assert!(burst.tracked_senders() <= 5_000 + SIZE_CHECK_EVERY as usize);
        }
    }
}
