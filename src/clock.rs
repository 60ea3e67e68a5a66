//! Time as the engine sees it: milliseconds since the Unix epoch, read through a [`Clock`].
//!
//! Everything that measures windows (the stores, the Lua scripts through `now_ms`) reads the same
//! injected clock, so tests move a [`ManualClock`] instead of sleeping. The burst limiter, which
//! is the replica's own and never compares times with another replica, reads the clock's
//! monotonic side ([`MonotonicClock`]) instead: a step of the wall clock must not move it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
///
/// It keeps a wall clock and a monotonic one: [`ManualClock::advance`] moves both (time
/// passes), [`ManualClock::set_wall_ms`] only the wall clock (an NTP step, an operator).
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<ManualTimes>);

#[derive(Debug)]
struct ManualTimes {
    wall_ms: AtomicU64,
    monotonic_ms: AtomicU64,
}

impl ManualClock {
    /// Starts at `start_ms` (ms since the epoch).
    pub fn starting_at(start_ms: u64) -> Self {
        ManualClock(Arc::new(ManualTimes {
            wall_ms: AtomicU64::new(start_ms),
            monotonic_ms: AtomicU64::new(start_ms),
        }))
    }

    /// The wall clock: ms since the epoch.
    pub fn now_ms(&self) -> u64 {
        self.0.wall_ms.load(Ordering::SeqCst)
    }

    /// The monotonic clock, in ms from an arbitrary origin; never goes back.
    pub fn monotonic_ms(&self) -> u64 {
        self.0.monotonic_ms.load(Ordering::SeqCst)
    }

    pub fn advance(&self, by: Duration) {
        let by = by.as_millis() as u64;
        self.0.wall_ms.fetch_add(by, Ordering::SeqCst);
        self.0.monotonic_ms.fetch_add(by, Ordering::SeqCst);
    }

    /// Sets the wall clock, back or forward, without any time passing.
    pub fn set_wall_ms(&self, wall_ms: u64) {
        self.0.wall_ms.store(wall_ms, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    /// 2026-01-01T00:00:00Z: a realistic epoch, so window arithmetic sees real magnitudes.
    fn default() -> Self {
        ManualClock::starting_at(1_767_225_600_000)
    }
}

/// The monotonic side of a [`Clock`], for governor: the system's `Instant` since this clock
/// was made, or a [`ManualClock`]'s monotonic time. With the wall clock here, a step back of Δ
/// made governor refuse every sender active in the last Δ (their next cell lay Δ ahead).
#[derive(Clone, Debug)]
pub struct MonotonicClock {
    clock: Clock,
    origin: Instant,
}

impl MonotonicClock {
    pub fn new(clock: Clock) -> MonotonicClock {
        MonotonicClock {
            clock,
            origin: Instant::now(),
        }
    }
}

impl governor::clock::Clock for MonotonicClock {
    type Instant = governor::nanos::Nanos;

    fn now(&self) -> Self::Instant {
        match &self.clock {
            Clock::System => governor::nanos::Nanos::from(self.origin.elapsed()),
            Clock::Manual(manual) => {
                governor::nanos::Nanos::from(manual.monotonic_ms().saturating_mul(1_000_000))
            }
        }
    }
}
