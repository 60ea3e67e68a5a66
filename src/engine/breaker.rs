//! Whether the shared store is trusted right now: a circuit breaker in front of it.
//!
//! While it is closed, decisions go to the store. After [`TRIP_AFTER`] failures in a row
//! (timeouts, refused connections, script errors) it opens: decisions stop paying the budget on
//! every request and go straight to the fail mode, `/readyz` answers 503, and the background
//! probe (the app's maintenance loop) closes it again as soon as the store answers.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use prometheus::IntGauge;

/// Failures in a row that open the breaker: one slow answer does not degrade a replica.
pub(super) const TRIP_AFTER: u32 = 3;

pub(super) struct Breaker {
    open: AtomicBool,
    failures_in_a_row: AtomicU32,
    /// `floodgate_degraded`.
    degraded: IntGauge,
}

impl Breaker {
    pub(super) fn new(degraded: IntGauge) -> Breaker {
        degraded.set(0);
        Breaker {
            open: AtomicBool::new(false),
            failures_in_a_row: AtomicU32::new(0),
            degraded,
        }
    }

    pub(super) fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    pub(super) fn record_success(&self) {
        self.failures_in_a_row.store(0, Ordering::Relaxed);
    }

    /// Counts a failure; `true` when this one opened the breaker.
    pub(super) fn record_failure(&self) -> bool {
        let failures = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < TRIP_AFTER {
            return false;
        }
        let opened = !self.open.swap(true, Ordering::AcqRel);
        if opened {
            self.degraded.set(1);
        }
        opened
    }

    /// Opens the breaker at once (a store that could not be reached at start).
    pub(super) fn trip(&self) {
        if !self.open.swap(true, Ordering::AcqRel) {
            self.degraded.set(1);
        }
    }

    /// The store answered a probe; `true` when this closed the breaker.
    pub(super) fn close(&self) -> bool {
        self.failures_in_a_row.store(0, Ordering::Relaxed);
        let closed = self.open.swap(false, Ordering::AcqRel);
        if closed {
            self.degraded.set(0);
        }
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_closes_on_a_probe() {
        let gauge = IntGauge::new("g", "g").unwrap();
        let breaker = Breaker::new(gauge.clone());
        assert!(!breaker.record_failure());
        breaker.record_success();
        assert!(!breaker.record_failure());
        assert!(!breaker.record_failure());
        assert!(breaker.record_failure(), "the third in a row opens it");
        assert!(breaker.is_open() && gauge.get() == 1);
        assert!(
            !breaker.record_failure(),
            "already open: no second transition"
        );
        assert!(breaker.close());
        assert!(!breaker.is_open() && gauge.get() == 0);
        assert!(!breaker.close());
    }
}
