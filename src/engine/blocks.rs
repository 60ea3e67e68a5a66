//! Blocks this replica learned from the shared store, so that a blocked sender's flood costs no
//! store call: how long each is trusted before the store is asked again.
//!
//! A block is lifted early only through the admin API, which announces every lift on the store
//! (`Store::unblock_notices`). While this replica follows those notices, a known block is
//! trusted until it ends, checked again at most every [`TRUST_WHILE_FOLLOWING`] (an edit made
//! to Redis by hand, or a subscription that died without a word, is seen within that); without
//! a live subscription, for [`TRUST_UNFOLLOWED`] only — the longest a lift made through another
//! replica goes unseen here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::policy::{Limit, Rule, Violation};
use crate::store::{SenderKey, Store};

/// A pause before subscribing to the unblock notices again, after a failure or a loss.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

pub(super) const TRUST_WHILE_FOLLOWING: Duration = Duration::from_secs(10);
pub(super) const TRUST_UNFOLLOWED: Duration = Duration::from_secs(1);

/// Enough for a storm of blocked senders; beyond it the oldest are asked about again.
const CAPACITY: u64 = 100_000;

#[derive(Clone)]
struct Entry {
    until_ms: u64,
    remembered_ms: u64,
    /// The subscription's epoch when the store was asked.
    epoch: u64,
    violation: Violation,
}

pub(super) struct KnownBlocks {
    blocks: moka::sync::Cache<u128, Entry>,
    /// Counts lifts seen (here or as notices), so that a block read from the store before a
    /// lift is not remembered after it.
    lifts: AtomicU64,
    /// Odd while the unblock notices are followed; every start and every loss moves it on, so
    /// a block remembered under an earlier subscription (whose notices may have been missed in
    /// between) is trusted only briefly.
    epoch: AtomicU64,
}

/// Read before asking the store; hand back to [`KnownBlocks::remember`] with its answer. The
/// answer is as fresh as this moment, not as the moment it arrives: a notice missed while it
/// was in flight must not be trusted away.
#[derive(Clone, Copy)]
pub(super) struct LiftsSeen {
    lifts: u64,
    epoch: u64,
}

impl KnownBlocks {
    pub(super) fn new() -> KnownBlocks {
        KnownBlocks {
            blocks: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                // Memory only: trust is judged below, by the engine's clock.
                .time_to_live(TRUST_WHILE_FOLLOWING)
                .build(),
            lifts: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
        }
    }

    /// The block to answer with, if `sender` is known to be blocked and the knowledge is fresh.
    pub(super) fn get(&self, sender: SenderKey, now_ms: u64) -> Option<Violation> {
        let entry = self.blocks.get(&sender.0)?;
        let followed = entry.epoch % 2 == 1 && entry.epoch == self.epoch.load(Ordering::Acquire);
        let trust = if followed {
            TRUST_WHILE_FOLLOWING
        } else {
            TRUST_UNFOLLOWED
        };
        let trusted_until = entry.remembered_ms + trust.as_millis() as u64;
        if now_ms >= entry.until_ms.min(trusted_until) {
            return None;
        }
        let mut violation = entry.violation;
        violation.retry_after = Duration::from_millis(entry.until_ms - now_ms);
        Some(violation)
    }

    pub(super) fn lifts_seen(&self) -> LiftsSeen {
        LiftsSeen {
            lifts: self.lifts.load(Ordering::Acquire),
            epoch: self.epoch.load(Ordering::Acquire),
        }
    }

    /// Remembers that `sender` is blocked for `remaining` from `now_ms`, unless a lift was seen
    /// since `seen` was read (the store's answer may predate it).
    pub(super) fn remember(
        &self,
        sender: SenderKey,
        now_ms: u64,
        remaining: Duration,
        limit: Option<Limit>,
        seen: LiftsSeen,
    ) {
        if self.lifts.load(Ordering::Acquire) != seen.lifts {
            return;
        }
        let entry = Entry {
            until_ms: now_ms + remaining.as_millis() as u64,
            remembered_ms: now_ms,
            epoch: seen.epoch,
            violation: Violation::new(Rule::Blocked, limit, remaining),
        };
        self.blocks.insert(sender.0, entry);
        // A lift counted between the check above and the insert did its invalidation too
        // early: undo the insert rather than keep a lifted block.
        if self.lifts.load(Ordering::Acquire) != seen.lifts {
            self.blocks.invalidate(&sender.0);
        }
    }

    /// A lift, made here or announced by another replica.
    pub(super) fn forget(&self, sender: SenderKey) {
        self.lifts.fetch_add(1, Ordering::AcqRel);
        self.blocks.invalidate(&sender.0);
    }

    /// The unblock notices are followed from now on.
    /// Follows the lifts announced through `store`, forgetting each lifted block at once;
    /// subscribes again whenever the subscription is lost. Returns only if `store` has no
    /// notices (no other replica shares it).
    pub(super) async fn follow(&self, store: &Store) {
        // One warning per outage, not one per retry (a proxy without Pub/Sub fails every time).
        let mut warned = false;
        loop {
            match store.unblock_notices().await {
                Some(Ok(mut notices)) => {
                    self.following();
                    if warned {
                        tracing::info!("following the unblock notices again");
                    }
                    while let Some(sender) = notices.next().await {
                        self.forget(sender);
                    }
                    self.not_following();
                    tracing::warn!(
                        "lost the unblock notices; known blocks are checked every second until they are back"
                    );
                    warned = true;
                }
                Some(Err(error)) if !warned => {
                    tracing::warn!(
                        %error,
                        "cannot follow the unblock notices (Redis Pub/Sub); known blocks are checked every second until it can"
                    );
                    warned = true;
                }
                Some(Err(error)) => {
                    tracing::debug!(%error, "cannot follow the unblock notices yet");
                }
                None => return,
            }
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
        }
    }

    pub(super) fn following(&self) {
        let _ = self
            .epoch
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |e| {
                Some(if e % 2 == 0 { e + 1 } else { e + 2 })
            });
    }

    /// The subscription to the notices was lost: notices may be missed until it is back.
    pub(super) fn not_following(&self) {
        let _ = self
            .epoch
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |e| {
                Some(if e % 2 == 1 { e + 1 } else { e })
            });
    }

    #[cfg(test)]
    fn is_following(&self) -> bool {
        self.epoch.load(Ordering::Acquire) % 2 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const T0: u64 = 1_000_000;

    fn sender(n: u128) -> SenderKey {
        SenderKey(n)
    }

    fn remember_hour(blocks: &KnownBlocks, n: u128, now_ms: u64) {
        let seen = blocks.lifts_seen();
        blocks.remember(sender(n), now_ms, HOUR, Limit::new(1, HOUR), seen);
    }

    #[test]
    fn without_notices_a_block_is_trusted_for_a_second() {
        let blocks = KnownBlocks::new();
        remember_hour(&blocks, 1, T0);
        let violation = blocks.get(sender(1), T0 + 999).expect("still trusted");
        assert_eq!(violation.rule, Rule::Blocked);
        assert_eq!(violation.retry_after, HOUR - Duration::from_millis(999));
        assert!(blocks.get(sender(1), T0 + 1000).is_none());
        assert!(blocks.get(sender(2), T0).is_none());
    }

    #[test]
    fn while_notices_are_followed_a_block_is_trusted_longer() {
        let blocks = KnownBlocks::new();
        blocks.following();
        remember_hour(&blocks, 1, T0);
        let long = TRUST_WHILE_FOLLOWING.as_millis() as u64;
        assert!(blocks.get(sender(1), T0 + long - 1).is_some());
        assert!(blocks.get(sender(1), T0 + long).is_none());
    }

    #[test]
    fn a_block_is_never_trusted_past_its_end() {
        let blocks = KnownBlocks::new();
        blocks.following();
        let seen = blocks.lifts_seen();
        blocks.remember(sender(1), T0, Duration::from_millis(300), None, seen);
        assert!(blocks.get(sender(1), T0 + 299).is_some());
        assert!(blocks.get(sender(1), T0 + 300).is_none());
    }

    #[test]
    fn losing_the_subscription_shortens_the_trust_of_what_was_known_even_once_it_is_back() {
        let blocks = KnownBlocks::new();
        blocks.following();
        remember_hour(&blocks, 1, T0);
        blocks.not_following();
        assert!(!blocks.is_following());
        assert!(blocks.get(sender(1), T0 + 1000).is_none());
        blocks.following();
        assert!(blocks.is_following());
        assert!(
            blocks.get(sender(1), T0 + 1000).is_none(),
            "a lift may have been missed while the subscription was down"
        );
        remember_hour(&blocks, 2, T0);
        assert!(blocks.get(sender(2), T0 + 5000).is_some());
    }

    #[test]
    fn an_answer_asked_for_before_the_subscription_was_lost_is_trusted_briefly() {
        let blocks = KnownBlocks::new();
        blocks.following();
        let seen = blocks.lifts_seen();
        // While the answer is in flight the subscription drops and comes back: a lift's
        // notice may have been missed in between.
        blocks.not_following();
        blocks.following();
        blocks.remember(sender(1), T0, HOUR, None, seen);
        assert!(blocks.get(sender(1), T0 + 999).is_some());
        assert!(blocks.get(sender(1), T0 + 1000).is_none());
    }

    #[test]
    fn a_lift_forgets_the_block() {
        let blocks = KnownBlocks::new();
        blocks.following();
        remember_hour(&blocks, 1, T0);
        remember_hour(&blocks, 2, T0);
        blocks.forget(sender(1));
        assert!(blocks.get(sender(1), T0).is_none());
        assert!(blocks.get(sender(2), T0).is_some());
    }

    #[test]
    fn an_answer_read_before_a_lift_is_not_remembered_after_it() {
        let blocks = KnownBlocks::new();
        blocks.following();
        let seen = blocks.lifts_seen();
        // The store said "blocked"; the lift's notice arrives before the answer is handled.
        blocks.forget(sender(1));
        blocks.remember(sender(1), T0, HOUR, None, seen);
        assert!(blocks.get(sender(1), T0).is_none());
    }
}
