//! Time as the engine sees it: milliseconds since the Unix epoch, read through a [`Clock`].
//!
//! Everything that measures windows (the burst limiter, the stores, the Lua scripts through `now_ms`)
//! reads the same injected clock, so tests move a [`ManualClock`] instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The real system clock.
    System,
    /// A clock that only moves when told to (tests, replays).
    Manual(ManualClock),
}

impl Clock {
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            Clock::Manual(manual) => manual.now_ms(),
        }
    }
}

/// A clock shared by a test and the app it drives; cloning shares the same time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// Starts at `start_ms` (ms since the epoch).
    pub fn starting_at(start_ms: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(start_ms)))
    }

    pub fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    /// 2026-01-01T00:00:00Z: a realistic epoch, so window arithmetic sees real magnitudes.
    fn default() -> Self {
        ManualClock::starting_at(1_767_225_600_000)
    }
}

/// governor reads time through its own trait; this adapter feeds it the same clock.
impl governor::clock::Clock for Clock {
    type Instant = governor::nanos::Nanos;

    fn now(&self) -> Self::Instant {
        governor::nanos::Nanos::from(self.now_ms().saturating_mul(1_000_000))
    }
}
