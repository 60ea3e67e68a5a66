//! The conversation memory of the embedded store: who wrote to each user, and the groups each
//! user posts in — what makes a message *established* (README, "Established conversations").
//!
//! Bounded like the Redis layout (`lua/sender.lua`, the `:m` hash): a user remembers at most
//! [`MEMORY_CAP`] conversations; one more forgets the least recently active down to
//! [`MEMORY_KEPT`], so the trim is paid once per [`MEMORY_CAP`] − [`MEMORY_KEPT`] new entries.
//!
//! A cold message (the recipient never wrote to its sender) is remembered by its recipient only
//! as *pending*, for [`pending_ms`] (the `:p` hash in Redis), capped by [`PENDING_CAP`]: it
//! matters only if the recipient answers soon, and a stranger must not make anyone hold a month
//! of state. An answer within that time is established, and from then on both sides remember each
//! other for the whole memory.

use super::shards::{KeyMap, LastSeen};
use super::{GroupKey, RecipientKey};

/// Conversations one user remembers at most (people who wrote to them, and groups).
pub(crate) const MEMORY_CAP: usize = 128;
/// What a trim keeps: the most recently active conversations.
pub(crate) const MEMORY_KEPT: usize = 96;
/// A user is *known* once this many different people have written to them within the memory:
/// the campaign rule does not count their messages (see README, "Established conversations").
pub(crate) const KNOWN_WRITERS: usize = 3;
/// A conversation going on is rewritten once per this part of the memory, not per message.
pub(crate) const MEMORY_SLACK_PARTS: u64 = 32;

/// Pending strangers one user remembers at most: a support desk hears from up to a few hundred
/// customers in a rush, and each one it forgets makes its answer to them cold.
pub(crate) const PENDING_CAP: usize = 512;
/// What a trim of the pending memory keeps: the most recent strangers.
pub(crate) const PENDING_KEPT: usize = 384;
/// The shortest pending time: people answer strangers within the hour, not within a rule's
/// window (a support desk in a rush answers after 10–40 minutes).
pub(crate) const PENDING_MIN_MS: u64 = 3_600_000;

/// How long a cold message's sender stays *pending* in its recipient's memory: the longest of
/// the fanout and campaign windows (the rules an answer within it skips) and
/// [`PENDING_MIN_MS`], never longer than the memory itself. One account can then have at most
/// about one fanout limit per window of recipients holding it at a time, one entry each
/// (docs/redis.md, "Sizing").
pub(crate) fn pending_ms(policy: &crate::policy::Policy) -> u64 {
    let memory = policy.contact_memory.map_or(0, |d| d.as_millis() as u64);
    let windows = [policy.limit(crate::policy::Rule::Fanout), policy.campaign]
        .into_iter()
        .flatten()
        .map(|limit| limit.window_ms())
        .max()
        .unwrap_or(0);
    windows.max(PENDING_MIN_MS).min(memory)
}

/// One user's conversations.
#[derive(Default)]
pub(super) struct Memory {
    /// A user who wrote to this one → when they last did (an admitted message).
    wrote_to_me: KeyMap<RecipientKey, u64>,
    /// A group → (first post, last post) of this user there.
    groups: KeyMap<GroupKey, (u64, u64)>,
    /// The last [`KNOWN_WRITERS`] different people who wrote to this user, latest first, kept
    /// apart from `wrote_to_me` so that "known" is one lookup, and is never trimmed.
    recent_writers: Vec<(RecipientKey, u64)>,
    last_seen_ms: u64,
    /// Strangers who wrote to this user (cold) → when, while it is pending: capped by
    /// [`PENDING_CAP`], and forgotten after [`pending_ms`].
    pending: KeyMap<RecipientKey, u64>,
    pending_seen_ms: u64,
}

impl Memory {
    /// Whether `peer` has written to this user within `memory_ms` of `now`.
    pub(super) fn heard_from(&self, peer: RecipientKey, now: u64, memory_ms: u64) -> bool {
        self.wrote_to_me
            .get(&peer)
            .is_some_and(|&at| at + memory_ms > now)
    }

    /// Whether this user has been posting in `group` for `seasoning_ms`, the last time within
    /// `memory_ms` of `now`.
    pub(super) fn seasoned_in(
        &self,
        group: GroupKey,
        now: u64,
        memory_ms: u64,
        seasoning_ms: u64,
    ) -> bool {
        self.groups.get(&group).is_some_and(|&(first, last)| {
            last + memory_ms > now && first.saturating_add(seasoning_ms) <= now
        })
    }

    /// When `peer` wrote to this user cold, if that is still pending at `now`.
    pub(super) fn pending_from(
        &self,
        peer: RecipientKey,
        now: u64,
        pending_ms: u64,
    ) -> Option<u64> {
        self.pending
            .get(&peer)
            .copied()
            .filter(|&at| at + pending_ms > now)
    }

    /// Remembers that a stranger wrote to this user at `now`, as pending.
    pub(super) fn record_pending(&mut self, peer: RecipientKey, now: u64) {
        self.pending.insert(peer, now);
        self.pending_seen_ms = self.pending_seen_ms.max(now);
        if self.pending.len() > PENDING_CAP {
            trim_times(&mut self.pending, PENDING_KEPT);
        }
    }

    /// Whether [`KNOWN_WRITERS`] different people wrote to this user within `memory_ms`.
    pub(super) fn is_known(&self, now: u64, memory_ms: u64) -> bool {
        self.recent_writers.len() == KNOWN_WRITERS
            && self
                .recent_writers
                .iter()
                .all(|&(_, at)| at + memory_ms > now)
    }

    /// Remembers that `peer` wrote to this user, unless they did within a slack of the memory:
    /// a conversation going on is refreshed once per that slack, not per message (in Redis
    /// each refresh is a write).
    pub(super) fn record_heard_from(&mut self, peer: RecipientKey, now: u64, memory_ms: u64) {
        if self
            .wrote_to_me
            .get(&peer)
            .is_some_and(|&at| at + memory_ms / MEMORY_SLACK_PARTS > now)
        {
            return;
        }
        self.wrote_to_me.insert(peer, now);
        self.recent_writers.retain(|&(writer, _)| writer != peer);
        self.recent_writers.insert(0, (peer, now));
        self.recent_writers.truncate(KNOWN_WRITERS);
        self.touched(now);
    }

    pub(super) fn record_post(&mut self, group: GroupKey, now: u64, memory_ms: u64) {
        let entry = self.groups.entry(group).or_insert((now, now));
        if entry.1 + memory_ms <= now {
            entry.0 = now; // forgotten: posting starts anew
        }
        entry.1 = now;
        self.touched(now);
    }

    fn touched(&mut self, now: u64) {
        self.last_seen_ms = self.last_seen_ms.max(now);
        if self.wrote_to_me.len() + self.groups.len() > MEMORY_CAP {
            self.trim();
        }
    }

    /// Forgets the least recently active conversations down to [`MEMORY_KEPT`].
    fn trim(&mut self) {
        let mut times: Vec<u64> = self
            .wrote_to_me
            .values()
            .copied()
            .chain(self.groups.values().map(|&(_, last)| last))
            .collect();
        times.sort_unstable();
        let drop = times.len() - MEMORY_KEPT;
        // Entries at the cut's time are all kept (or all dropped): no order among equals.
        let cut = times[drop - 1];
        self.wrote_to_me.retain(|_, at| *at > cut);
        self.groups.retain(|_, (_, last)| *last > cut);
    }

    /// Entries still inside the memory at `now`: (people, groups, of which seasoned). People
    /// count once whether they wrote in a conversation or are pending.
    pub(super) fn counts(
        &self,
        now: u64,
        memory_ms: u64,
        seasoning_ms: u64,
        pending_ms: u64,
    ) -> (u64, u64) {
        let people = self
            .wrote_to_me
            .values()
            .filter(|&&at| at + memory_ms > now)
            .count()
            + self
                .pending
                .iter()
                .filter(|&(peer, &at)| {
                    at + pending_ms > now && !self.heard_from(*peer, now, memory_ms)
                })
                .count();
        let groups = self
            .groups
            .keys()
            .filter(|&&group| self.seasoned_in(group, now, memory_ms, seasoning_ms))
            .count();
        (people as u64, groups as u64)
    }

    /// Whether anything is still remembered at `now`. Pending entries are dropped once they
    /// lapse, so a user only strangers wrote to is forgotten after [`pending_ms`].
    pub(super) fn is_live(&mut self, now: u64, memory_ms: u64, pending_ms: u64) -> bool {
        if self.pending_seen_ms + pending_ms <= now {
            self.pending = KeyMap::default();
        }
        self.last_seen_ms + memory_ms > now || !self.pending.is_empty()
    }
}

/// Forgets the least recently active entries of one map down to `kept` (every entry at the
/// cut's time goes: no order among equals).
fn trim_times(entries: &mut KeyMap<RecipientKey, u64>, kept: usize) {
    let mut times: Vec<u64> = entries.values().copied().collect();
    if times.len() <= kept {
        return;
    }
    times.sort_unstable();
    let cut = times[times.len() - kept - 1];
    entries.retain(|_, at| *at > cut);
}

impl LastSeen for Memory {
    fn last_seen(&self) -> u64 {
        self.last_seen_ms.max(self.pending_seen_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    #[test]
    fn memory_is_capped_and_forgets_the_least_recently_active_first() {
        let mut memory = Memory::default();
        let now = 100 * DAY;
        for i in 0..200u64 {
            if i % 10 == 0 {
                memory.record_post(GroupKey(i), now + i, 30 * DAY);
            } else {
                memory.record_heard_from(RecipientKey(i), now + i, 30 * DAY);
            }
            assert!(memory.wrote_to_me.len() + memory.groups.len() <= MEMORY_CAP);
        }
        let later = now + 1000;
        // The most recent 96 or more are kept (each trim keeps the newest MEMORY_KEPT).
        assert!(memory.heard_from(RecipientKey(199), later, 30 * DAY));
        assert!(!memory.heard_from(RecipientKey(1), later, 30 * DAY));
        assert!(memory.groups.contains_key(&GroupKey(190)));
        assert!(!memory.groups.contains_key(&GroupKey(0)));
    }

    #[test]
    fn strangers_are_pending_briefly_and_capped() {
        let mut memory = Memory::default();
        let (month, pending) = (30 * DAY, 600_000);
        for i in 0..600u64 {
            memory.record_pending(RecipientKey(i), 100 * DAY + i);
            assert!(memory.pending.len() <= PENDING_CAP);
        }
        assert!(
            memory
                .pending_from(RecipientKey(599), 100 * DAY + 1000, pending)
                .is_some()
        );
        assert!(
            memory
                .pending_from(RecipientKey(0), 100 * DAY + 1000, pending)
                .is_none()
        );
        // Nothing of them is remembered for the month, and the user is forgotten with them.
        let (people, _) = memory.counts(100 * DAY + 1000, month, 0, pending);
        assert!(
            (PENDING_KEPT as u64..=PENDING_CAP as u64).contains(&people),
            "{people}"
        );
        assert!(memory.is_live(100 * DAY + 599 + pending - 1, month, pending));
        assert!(!memory.is_live(100 * DAY + 599 + pending, month, pending));
    }

    #[test]
    fn a_conversation_going_on_is_refreshed_once_per_slack() {
        let mut memory = Memory::default();
        let month = 30 * DAY;
        let slack = month / MEMORY_SLACK_PARTS;
        memory.record_heard_from(RecipientKey(1), DAY, month);
        memory.record_heard_from(RecipientKey(1), DAY + slack - 1, month);
        assert_eq!(memory.wrote_to_me[&RecipientKey(1)], DAY);
        memory.record_heard_from(RecipientKey(1), DAY + slack, month);
        assert_eq!(memory.wrote_to_me[&RecipientKey(1)], DAY + slack);
        // Remembered a memory from the last refresh, so at most a slack less than from the
        // last message.
        assert!(memory.heard_from(RecipientKey(1), DAY + slack + month - 1, month));
    }

    #[test]
    fn a_group_is_seasoned_after_posting_for_the_seasoning_and_restarts_when_forgotten() {
        let mut memory = Memory::default();
        let (month, hour) = (30 * DAY, 3_600_000);
        let group = GroupKey(7);
        memory.record_post(group, DAY, month);
        assert!(!memory.seasoned_in(group, DAY + hour - 1, month, hour));
        assert!(memory.seasoned_in(group, DAY + hour, month, hour));
        assert_eq!(memory.counts(DAY + hour, month, hour, 0), (0, 1));
        // A post after the memory lapsed starts the seasoning anew.
        memory.record_post(group, DAY + month + 1, month);
        assert!(!memory.seasoned_in(group, DAY + month + 2, month, hour));
    }
}
