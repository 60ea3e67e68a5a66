//! The per-replica burst limiter (rule 5001): governor's GCRA keyed by sender.
//!
//! It runs before any shared-store call, so a flooding sender is turned away at no cost to
//! Redis. Its memory follows the active senders: [`BurstLimiter::forget_idle`] drops every
//! sender whose bucket has refilled, since such a sender is indistinguishable from a new one.

use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::clock::Clock;
use crate::policy::{Limit, Rule, Violation};
use crate::store::SenderKey;

pub struct BurstLimiter {
    limit: Limit,
    clock: Clock,
    limiter: RateLimiter<u128, DashMapStateStore<u128>, Clock, NoOpMiddleware<Nanos>>,
}

impl BurstLimiter {
    /// `limit` is `burst size / refill period for the whole burst` (`10/1s`).
    pub fn new(limit: Limit, clock: Clock) -> BurstLimiter {
        let per_cell = (limit.window / limit.count.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(per_cell)
            .expect("a positive period")
            .allow_burst(limit.count);
        let limiter = RateLimiter::new(quota, DashMapStateStore::default(), clock.clone());
        BurstLimiter {
            limit,
            clock,
            limiter,
        }
    }

    /// Takes one cell for `sender`, or says how long until one is free.
    ///
    /// governor has no refund, so a message admitted here and rejected by a later rule has
    /// still used its cell: burst is stricter, never looser, for senders already over a limit.
    pub fn check(&self, sender: SenderKey) -> Result<(), Violation> {
        self.limiter.check_key(&sender.0).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Violation::new(Rule::Burst, Some(self.limit), wait)
        })
    }

    /// Drops senders whose bucket is full again; returns how many remain.
    pub fn forget_idle(&self) -> usize {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.limiter.len()
    }

    pub fn tracked_senders(&self) -> usize {
        self.limiter.len()
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
        let burst = BurstLimiter::new(limit, Clock::Manual(manual.clone()));
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
    fn idle_senders_are_forgotten() {
        let manual = ManualClock::default();
        let limit = Limit::new(10, Duration::from_secs(1)).unwrap();
        let burst = BurstLimiter::new(limit, Clock::Manual(manual.clone()));
        for i in 0..1000 {
            burst.check(SenderKey::of(&format!("user{i}"))).unwrap();
        }
        assert_eq!(burst.tracked_senders(), 1000);
        manual.advance(Duration::from_secs(2));
        assert_eq!(burst.forget_idle(), 0);
    }
}
