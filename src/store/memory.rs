//! The embedded store: the same rules as Redis, in this process's memory.
//!
//! It is the default when no Redis is configured and the fallback when Redis is unreachable.
//! State is sharded behind `parking_lot` mutexes (never held across an `.await`: every method is
//! synchronous), and [`MemoryStore::sweep`] drops senders and fingerprints once nothing about
//! them counts any more, so memory follows the active population, not history. Past
//! `max_entries` senders (or fingerprints), a new one displaces the least recently seen of a
//! small sample, so a storm of distinct IDs cannot grow memory without bound.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::conversations::{self, Memory};
use super::shards::{KeyMap, LastSeen, Shards};
use super::window::{SlidingCounter, counts};
use super::{
    ActCheck, CAMPAIGN_RECIPIENTS, CampaignKey, Conversation, GroupKey, KeyOutcome, Peer, Recorded,
    Replay, Reservation, SenderCheck, SenderKey, SenderOutcome, SenderStatus, StoreError,
    StrikeOutcome, StrikeRequest, VET_SHARERS,
};
use crate::catalogue::{CATALOGUE, Primitive, Scope};
use crate::policy::{Act, ByMode, Limit, Mode, Policy, Rule, RuleModes, Violation};

pub struct MemoryStore {
    policy: Arc<Policy>,
    /// The sender's stored rules that are on, from the catalogue: each sender's `counters`.
    counting: Vec<Counting>,
    senders: Shards<u128, SenderState>,
    campaigns: Shards<u64, CampaignState>,
    /// Each domain key's vouchers (as the `:v` strings of `lua/campaign_check.lua`).
    vouchers: Shards<u64, Vouchers>,
    /// Each user's conversations (`conversations`), apart from the senders' windows: a
    /// message to B is remembered in B's memory, and it lasts days, not a window.
    memories: Shards<u128, Memory>,
    /// Invitees into each group (`FLOODGATE_GROUP_INVITE_LIMIT`).
    groups: Shards<u64, GroupState>,
    /// Each sender's recent decisions, for retried callbacks (`FLOODGATE_REPLAY_WINDOW`).
    replays: Shards<u128, Replays>,
}

/// Decisions a retry must get again (as `lua/sender.lua`'s `:d` hash): at most [`REPLAY_CAP`]
/// per sender; past it those whose window ended go, and if none did, all of them (a retry of
/// a forgotten one counts again, which only a sender deciding that fast can cause).
#[derive(Default)]
struct Replays {
    decided: KeyMap<u64, (u64, Remembered)>,
    expires_ms: u64,
}

/// What a retry gets again: a check's or act's outcome, or a strike's (under its own id,
/// `Replay::of_strike`).
#[derive(Clone)]
enum Remembered {
    Decided(SenderOutcome),
    Struck(StrikeOutcome),
}

/// Decisions remembered per sender at most (both stores): above every default rate limit's
/// admissions in a minute, and the strikes before a block.
pub(crate) const REPLAY_CAP: usize = 256;

impl LastSeen for Replays {
    fn last_seen(&self) -> u64 {
        self.expires_ms
    }
}

/// A group's invitees, counted like a rate window.
#[derive(Default)]
struct GroupState {
    invitees: SlidingCounter,
    last_seen_ms: u64,
}

/// A user's acts other than messages, counted apart from messages: most users never make one,
/// and their windows last a day where a message's last an hour.
#[derive(Default)]
struct ActWindows {
    /// Per act (`Act::index`), one counter per configured window.
    counters: [Vec<SlidingCounter>; Act::ALL.len()],
    last_ms: u64,
}

/// A stored rule of the sender, as the catalogue has it: its primitive and its windows.
struct Counting {
    rule: Rule,
    primitive: Primitive,
    /// Never empty (a rule without windows is off, and not counted).
    limits: Vec<Limit>,
}

impl Counting {
    /// Every stored rule of the sender that is on, in catalogue order.
    fn all(policy: &Policy) -> Vec<Counting> {
        CATALOGUE
            .iter()
            .filter(|entry| entry.scope == Scope::Sender)
            .filter(|entry| {
                matches!(
                    entry.primitive,
                    Primitive::Window | Primitive::CountPerKey | Primitive::DistinctSet
                )
            })
            .map(|entry| Counting {
                rule: entry.rule,
                primitive: entry.primitive,
                limits: policy.windows(entry.rule).to_vec(),
            })
            .filter(|counting| !counting.limits.is_empty())
            .collect()
    }
}

/// One stored rule's state, by its primitive. A per-key count and a distinct set have one
/// window (their first).
enum Counter {
    /// A counter per window.
    Window(Vec<SlidingCounter>),
    /// A counter per key (a content).
    PerKey(KeyMap<u64, SlidingCounter>),
    /// Key → when last counted (admitted), while that time still counts; and the keys' last
    /// times, bucketed like a window: the count of distinct keys.
    Distinct {
        seen: KeyMap<u64, u64>,
        ring: SlidingCounter,
    },
}

impl Counter {
    fn of(counting: &Counting) -> Counter {
        match counting.primitive {
            Primitive::CountPerKey => Counter::PerKey(KeyMap::default()),
            Primitive::DistinctSet => Counter::Distinct {
                seen: KeyMap::default(),
                ring: SlidingCounter::default(),
            },
            _ => Counter::Window(vec![SlidingCounter::default(); counting.limits.len()]),
        }
    }

    /// Whether one more event under `key` breaks `counting`'s limits: each violation to `found`.
    fn check(
        &mut self,
        counting: &Counting,
        key: u64,
        now: u64,
        modes: &RuleModes,
        found: &mut ByMode,
    ) {
        let rule = counting.rule;
        let mut note = |limit: Limit, retry| found.note(modes, over(rule, limit, retry));
        match self {
            Counter::Window(counters) => {
                for (limit, counter) in counting.limits.iter().zip(counters) {
                    let window = limit.window_ms();
                    if counter.count(now, window) >= limit.count() {
                        note(*limit, counter.retry_after(now, window, limit.count()));
                    }
                }
            }
            Counter::PerKey(counters) => {
                let Some(&limit) = counting.limits.first() else {
                    return;
                };
                let window = limit.window_ms();
                if let Some(counter) = counters.get_mut(&key)
                    && counter.count(now, window) >= limit.count()
                {
                    note(limit, counter.retry_after(now, window, limit.count()));
                }
            }
            Counter::Distinct { seen, ring } => {
                let Some(&limit) = counting.limits.first() else {
                    return;
                };
                let window = limit.window_ms();
                seen.retain(|_, &mut at| counts(at, now, window));
                let distinct = ring.count(now, window);
                if !seen.contains_key(&key) && distinct >= limit.count() {
                    note(limit, ring.retry_after(now, window, limit.count()));
                }
            }
        }
    }

    /// Counts an admitted event under `key`; for a distinct set, what that did to the key (a
    /// known key's time moves from its old bucket to now; a new one adds one).
    fn record(&mut self, counting: &Counting, key: u64, now: u64) -> Option<Recorded> {
        let window = counting.limits.first().map_or(0, Limit::window_ms);
        match self {
            Counter::Window(counters) => {
                for (limit, counter) in counting.limits.iter().zip(counters) {
                    counter.add(now, limit.window_ms(), 1);
                }
                None
            }
            Counter::PerKey(counters) => {
                counters.entry(key).or_default().add(now, window, 1);
                None
            }
            Counter::Distinct { seen, ring } => {
                let previous = seen.insert(key, now).filter(|&at| counts(at, now, window));
                if let Some(at) = previous {
                    ring.remove(at, window, 1);
                }
                ring.add(now, window, 1);
                Some(
                    previous.map_or(Recorded::New, |previous_ms| Recorded::Refreshed {
                        previous_ms,
                    }),
                )
            }
        }
    }

    /// Takes back an event counted under `key` at `at` (`recorded`: what it did to a distinct
    /// set's key), unless a distinct set's key has moved on since.
    fn release(
        &mut self,
        counting: &Counting,
        key: u64,
        at: u64,
        recorded: Option<Recorded>,
        now: u64,
    ) {
        let window = counting.limits.first().map_or(0, Limit::window_ms);
        match self {
            Counter::Window(counters) => {
                for (limit, counter) in counting.limits.iter().zip(counters) {
                    counter.remove(at, limit.window_ms(), 1);
                }
            }
            Counter::PerKey(counters) => {
                if let Some(counter) = counters.get_mut(&key) {
                    counter.remove(at, window, 1);
                }
            }
            Counter::Distinct { seen, ring } => {
                if seen.get(&key) != Some(&at) {
                    return;
                }
                ring.remove(at, window, 1);
                match recorded {
                    Some(Recorded::Refreshed { previous_ms }) => {
                        seen.insert(key, previous_ms);
                        if counts(previous_ms, now, window) {
                            ring.add(previous_ms, window, 1);
                        }
                    }
                    _ => {
                        seen.remove(&key);
                    }
                }
            }
        }
    }

    /// Forgets keys no longer in the window, amortised: only when a per-key map has grown.
    fn forget(&mut self, counting: &Counting, now: u64) {
        let window = counting.limits.first().map_or(0, Limit::window_ms);
        if let Counter::PerKey(counters) = self
            && counters.len() >= 64
            && counters.len().is_power_of_two()
        {
            counters.retain(|_, counter| counter.count(now, window) > 0);
        }
    }
}

#[derive(Default)]
struct SenderState {
    /// One per stored rule that is on (`MemoryStore::counting`), in its order.
    counters: Vec<Counter>,
    /// Friend requests, groups created and joined: only for users who made one.
    acts: Option<Box<ActWindows>>,
    strikes: VecDeque<u64>,
    blocked_until: u64,
    block_length_ms: u64,
    blocks: u32,
    last_seen_ms: u64,
}

/// Distinct senders of one campaign key, with when each last sent it (admitted): a map to
/// find a sender and an ordered set to find the oldest, so a message costs O(log n) however
/// many senders a viral text has.
#[derive(Default)]
struct CampaignState {
    senders: KeyMap<SenderKey, u64>,
    by_time: BTreeSet<(u64, u128)>,
    /// The recipients the copies reached, at most [`CAMPAIGN_RECIPIENTS`], with when (in the
    /// key's copies string of `lua/campaign_check.lua`, which decides alike).
    recipients: Latest,
    /// A domain key's pages its copies carried, at most [`page_cap`](super::page_cap) (after
    /// the recipients in the copies string).
    pages: Latest,
}

/// A few distinct members with when each was last recorded, in the order first recorded: the
/// recipients or pages of a campaign key.
#[derive(Default)]
struct Latest(Vec<(u64, u64)>);

impl Latest {
    fn forget_until(&mut self, horizon: u64) {
        self.0.retain(|&(_, at)| at > horizon);
    }

    /// Whether `member` makes the members reach `cap` distinct ones (`None`: an unknown
    /// member, which holds nothing back).
    fn reaches(&self, member: Option<u64>, cap: u64) -> bool {
        let Some(member) = member else {
            return true;
        };
        let others = self.0.iter().filter(|&&(m, _)| m != member);
        1 + others.count() as u64 >= cap
    }

    /// Whether a domain key's pages hold back a copy on `page`: a page its copies have not
    /// carried yet, while they and it are fewer than `cap` (a copy repeating a page, as a run
    /// spread over a few pages does, or on an unknown page, is held back by nothing).
    fn holds_back(&self, page: Option<u64>, cap: u64) -> bool {
        page.is_some_and(|page| {
            // The members are distinct: a new page makes one more.
            !self.0.iter().any(|&(p, _)| p == page) && self.0.len() as u64 + 1 < cap
        })
    }

    /// Records `member`: its earlier time, `Some(0)` when added, `None` when nothing was
    /// recorded (no member, or the list is full of others).
    fn record(&mut self, member: Option<u64>, now: u64, cap: u64) -> Option<u64> {
        let member = member?;
        if let Some(entry) = self.0.iter_mut().find(|(m, _)| *m == member) {
            return Some(std::mem::replace(&mut entry.1, now));
        }
        if self.0.len() as u64 >= cap {
            return None;
        }
        self.0.push((member, now));
        Some(0)
    }

    /// Takes back [`Latest::record`] at `at` (`previous` as it returned).
    fn undo(&mut self, member: Option<u64>, at: u64, previous: Option<u64>) {
        let (Some(member), Some(previous)) = (member, previous) else {
            return;
        };
        if let Some(entry) = self.0.iter().position(|&e| e == (member, at)) {
            if previous == 0 {
                self.0.remove(entry);
            } else {
                self.0[entry].1 = previous;
            }
        }
    }
}

/// The last [`VET_SHARERS`] distinct senders who carried a domain in an established
/// conversation, oldest first, with when.
#[derive(Default)]
struct Vouchers(Vec<(u128, u64)>);

impl LastSeen for Vouchers {
    fn last_seen(&self) -> u64 {
        self.0.last().map_or(0, |&(_, at)| at)
    }
}

impl CampaignState {
    /// Forgets senders last seen at or before `horizon`.
    fn forget_until(&mut self, horizon: u64) {
        while let Some(&(seen, sender)) = self.by_time.first() {
            if seen > horizon {
                break;
            }
            self.by_time.pop_first();
            self.senders.remove(&SenderKey(sender));
        }
    }

    fn set(&mut self, sender: SenderKey, at: u64) -> Option<u64> {
        let previous = self.senders.insert(sender, at);
        if let Some(previous) = previous {
            self.by_time.remove(&(previous, sender.0));
        }
        self.by_time.insert((at, sender.0));
        previous
    }

    fn remove(&mut self, sender: SenderKey) {
        if let Some(seen) = self.senders.remove(&sender) {
            self.by_time.remove(&(seen, sender.0));
        }
    }

    fn oldest(&self) -> Option<u64> {
        self.by_time.first().map(|&(seen, _)| seen)
    }

    /// Whether a key at its limit of senders holds this copy back (not a campaign yet, and its
    /// sender is not recorded): its copies, this one included, reach fewer than
    /// [`CAMPAIGN_RECIPIENTS`] recipients, or (a domain key) it brings a new page
    /// (`lua/campaign_check.lua` `held_back`).
    fn holds_back(&self, recipient: Option<u64>, page: Option<u64>, page_cap: u64) -> bool {
        !self.recipients.reaches(recipient, CAMPAIGN_RECIPIENTS)
            || self.pages.holds_back(page, page_cap)
    }

    /// Records a copy's recipient and page (a domain key's), held back or not: a few senders on
    /// one page cannot hold a domain open for a run that rotates paths after them. Their
    /// earlier times, as [`Latest::record`] answers (`lua/campaign_check.lua` `campaign_record`).
    fn record_copy(
        &mut self,
        recipient: Option<u64>,
        page: Option<u64>,
        now: u64,
        page_cap: u64,
    ) -> (Option<u64>, Option<u64>) {
        (
            self.recipients.record(recipient, now, CAMPAIGN_RECIPIENTS),
            self.pages.record(page, now, page_cap),
        )
    }
}

impl MemoryStore {
    pub fn new(policy: Arc<Policy>, max_entries: usize) -> MemoryStore {
        MemoryStore {
            counting: Counting::all(&policy),
            policy,
            senders: Shards::new(max_entries),
            campaigns: Shards::new(max_entries),
            vouchers: Shards::new(max_entries),
            memories: Shards::new(max_entries),
            groups: Shards::new(max_entries),
            replays: Shards::new(max_entries),
        }
    }

    /// The first outcome of a callback decided within its replay window.
    pub fn replayed(&self, sender: SenderKey, replay: Replay, now: u64) -> Option<SenderOutcome> {
        match self.remembered(sender, replay, now)? {
            Remembered::Decided(outcome) => Some(outcome),
            Remembered::Struck(_) => None,
        }
    }

    /// The first strike of a callback struck within its replay window, as a retry gets it.
    pub fn replayed_strike(
        &self,
        sender: SenderKey,
        replay: Replay,
        now: u64,
    ) -> Option<StrikeOutcome> {
        match self.remembered(sender, replay, now)? {
            Remembered::Struck(outcome) => Some(StrikeOutcome {
                replayed: true,
                ..outcome
            }),
            Remembered::Decided(_) => None,
        }
    }

    fn remembered(&self, sender: SenderKey, replay: Replay, now: u64) -> Option<Remembered> {
        self.replays.peek(sender.0, |log| {
            let (expires, remembered) = log?.decided.get(&replay.id)?;
            (*expires > now).then(|| remembered.clone())
        })
    }

    /// Remembers a callback's outcome for its replay window.
    pub fn record_replay(
        &self,
        sender: SenderKey,
        replay: Replay,
        now: u64,
        outcome: &SenderOutcome,
    ) {
        self.remember_replay(sender, replay, now, Remembered::Decided(outcome.clone()));
    }

    /// Remembers a strike's outcome for its replay window.
    pub fn record_strike(
        &self,
        sender: SenderKey,
        replay: Replay,
        now: u64,
        outcome: &StrikeOutcome,
    ) {
        self.remember_replay(sender, replay, now, Remembered::Struck(outcome.clone()));
    }

    fn remember_replay(&self, sender: SenderKey, replay: Replay, now: u64, remembered: Remembered) {
        let expires = now + replay.window_ms;
        self.replays.with(sender.0, |log| {
            if log.decided.len() >= REPLAY_CAP {
                log.decided.retain(|_, (at, _)| *at > now);
                if log.decided.len() >= REPLAY_CAP {
                    log.decided.clear();
                }
            }
            log.decided.insert(replay.id, (expires, remembered));
            log.expires_ms = log.expires_ms.max(expires);
        })
    }

    /// `FLOODGATE_CONTACT_MEMORY` and `FLOODGATE_GROUP_SEASONING` in ms, when the memory is on.
    fn memory_ms(&self) -> Option<(u64, u64)> {
        let memory = self.policy.contact_memory?;
        let seasoning = self.policy.group_seasoning;
        Some((memory.as_millis() as u64, seasoning.as_millis() as u64))
    }

    /// Whether `conversation` is established for `sender` at `now`, whether the sender is known
    /// (see `conversations`), and, when only a pending entry establishes it (the sender answers
    /// a stranger's cold message), when that stranger wrote.
    fn standing(
        &self,
        sender: SenderKey,
        conversation: &Conversation,
        now: u64,
    ) -> (bool, bool, Option<u64>) {
        let Some((memory_ms, seasoning_ms)) = self.memory_ms() else {
            return (false, false, None);
        };
        let pending_ms = conversations::pending_ms(&self.policy);
        self.memories.peek(sender.0, |memory| {
            let Some(memory) = memory else {
                return (false, false, None);
            };
            let (established, answering) = match conversation.peer {
                Peer::User { recipient, .. } if memory.heard_from(recipient, now, memory_ms) => {
                    (true, None)
                }
                Peer::User { recipient, .. } => {
                    let pending = memory.pending_from(recipient, now, pending_ms);
                    (pending.is_some(), pending)
                }
                Peer::Group(group) => (
                    memory.seasoned_in(group, now, memory_ms, seasoning_ms),
                    None,
                ),
            };
            (established, memory.is_known(now, memory_ms), answering)
        })
    }

    /// Remembers an admitted message: in the recipient's memory (one-to-one: for the whole
    /// memory when the conversation is established, else as pending), or as a post of the
    /// sender in the group. A sender answering a pending stranger (`answering`: when they
    /// wrote) now remembers them for the whole memory too.
    fn remember(
        &self,
        sender: SenderKey,
        conversation: &Conversation,
        now: u64,
        established: bool,
        answering: Option<u64>,
    ) {
        let Some((memory_ms, _)) = self.memory_ms() else {
            return;
        };
        match conversation.peer {
            Peer::User {
                recipient,
                recipient_state,
                me,
            } => {
                if let Some(wrote_at) = answering {
                    self.memories.with(sender.0, |memory| {
                        memory.record_heard_from(recipient, wrote_at, memory_ms)
                    });
                }
                self.memories.with(recipient_state.0, |memory| {
                    if established {
                        memory.record_heard_from(me, now, memory_ms)
                    } else {
                        memory.record_pending(me, now)
                    }
                })
            }
            Peer::Group(group) => self
                .memories
                .with(sender.0, |memory| memory.record_post(group, now, memory_ms)),
        }
    }

    pub fn check_sender(&self, check: &SenderCheck) -> SenderOutcome {
        let policy = &*self.policy;
        let counting = &self.counting;
        let now = check.now_ms;
        let (established, known, answering) =
            check.conversation.map_or((false, false, None), |c| {
                self.standing(check.sender, &c, now)
            });
        let outcome = self.senders.with(check.sender.0, |state| {
            state.touch(counting, now);
            let mut found = ByMode::default();
            if let Some(rejected) = state.check_block(policy, now, &mut found) {
                return rejected;
            }
            for (counting, counter) in counting.iter().zip(&mut state.counters) {
                if let Some(key) = check.counted_under(counting.rule, established) {
                    counter.check(counting, key, now, &policy.modes, &mut found);
                }
            }
            if let Some(violation) = found.enforced {
                return SenderOutcome::Rejected {
                    violation: state.add_strike(policy, violation, now),
                    shadow: found.shadow,
                };
            }
            let mut reservation = Reservation {
                established,
                skips_campaign: established || known,
                ..Reservation::of_act(now, None, false)
            };
            for (counting, counter) in counting.iter().zip(&mut state.counters) {
                if let Some(key) = check.counted_under(counting.rule, established) {
                    let recorded = counter.record(counting, key, now);
                    reservation.count(counting.rule, key, recorded);
                }
            }
            SenderOutcome::Admitted {
                reservation,
                shadow: found.shadow,
            }
        });
        if let (SenderOutcome::Admitted { .. }, Some(conversation)) = (&outcome, check.conversation)
        {
            self.remember(check.sender, &conversation, now, established, answering);
        }
        outcome
    }

    /// See [`Store::check_act`](super::Store::check_act): the actor's block and the act's
    /// windows, in one step.
    pub fn check_act(&self, check: &ActCheck) -> SenderOutcome {
        let policy = &*self.policy;
        let now = check.now_ms;
        // Only the campaign rule reads it (as in sender.lua, which reads it only then).
        let known = policy.campaign.is_some() && self.is_known(check.actor, now);
        self.senders.with(check.actor.0, |state| {
            state.touch(&self.counting, now);
            let mut found = ByMode::default();
            if let Some(rejected) = state.check_block(policy, now, &mut found) {
                return rejected;
            }
            // Each window the act counts in, with its weight: one per act, and a creation's
            // initial members in its owner's members windows.
            let members = u32::try_from(check.members).unwrap_or(u32::MAX);
            let weighed = [(check.act, 1), (Some(Act::GroupMembers), members)];
            let weighed = weighed.map(|(act, n)| {
                let act = act.filter(|act| n > 0 && !act.limits(policy).is_empty());
                (act, n)
            });
            for (act, n) in weighed {
                let Some(act) = act else { continue };
                let counters = state.act_counters(policy, act, now);
                for (limit, counter) in act.limits(policy).iter().zip(counters) {
                    let window = limit.window_ms();
                    let (count, n) = (counter.count(now, window), u64::from(n));
                    if count + n > limit.count() {
                        // Until enough leave the window for `n` to fit (never: more at once).
                        let room = (limit.count() + 1).saturating_sub(n);
                        let retry = match room {
                            0 => 0,
                            room => counter.retry_after(now, window, room),
                        };
                        found.note(&policy.modes, over(act.rule(), *limit, retry));
                    }
                }
            }
            if let Some(violation) = found.enforced {
                let strikes = check.act.is_none_or(Act::strikes);
                let violation = if strikes {
                    state.add_strike(policy, violation, now)
                } else {
                    violation
                };
                return SenderOutcome::Rejected {
                    violation,
                    shadow: found.shadow,
                };
            }
            for (act, n) in weighed {
                let Some(act) = act else { continue };
                let counters = state.act_counters(policy, act, now);
                for (limit, counter) in act.limits(policy).iter().zip(counters) {
                    counter.add(now, limit.window_ms(), n);
                }
            }
            SenderOutcome::Admitted {
                reservation: Reservation::of_act(now, check.act, known),
                shadow: found.shadow,
            }
        })
    }

    /// Whether enough people wrote to `user` lately that the campaign rule trusts them.
    fn is_known(&self, user: SenderKey, now: u64) -> bool {
        let Some((memory_ms, _)) = self.memory_ms() else {
            return false;
        };
        self.memories
            .peek(user.0, |m| m.is_some_and(|m| m.is_known(now, memory_ms)))
    }

    /// See [`Store::check_invite`](super::Store::check_invite).
    pub fn check_invite(&self, group: GroupKey, now: u64, invitees: u64) -> Option<Violation> {
        let limit = self.policy.group_invite?;
        let n = u32::try_from(invitees).unwrap_or(u32::MAX);
        if n == 0 {
            return None;
        }
        let enforced = self.policy.modes.of(Rule::Group) == Mode::Enforce;
        self.groups.with(group.0, |state| {
            state.last_seen_ms = state.last_seen_ms.max(now);
            let window = limit.window_ms();
            let count = state.invitees.count(now, window);
            let over = (count + u64::from(n) > limit.count()).then(|| {
                // Until enough earlier invitees leave the window for these to fit (never, for
                // more than the limit at once).
                let room = (limit.count() + 1).saturating_sub(u64::from(n));
                let retry = match room {
                    0 => 0,
                    room => state.invitees.retry_after(now, window, room),
                };
                Violation::invitees(limit, n, Duration::from_millis(retry))
            });
            if over.is_none() || !enforced {
                state.invitees.add(now, window, n);
            }
            over
        })
    }

    pub fn block_mode(&self) -> Mode {
        self.policy.modes.of(Rule::Blocked)
    }

    pub fn strike(&self, request: &StrikeRequest) -> StrikeOutcome {
        let policy = &*self.policy;
        let now = request.now_ms;
        self.senders.with(request.sender.0, |state| {
            state.touch(&self.counting, now);
            if let Some(reservation) = &request.release {
                state.release(&self.counting, policy, reservation, now);
            }
            // An act that strikes nobody (an application) only hands its reservation back.
            if request
                .release
                .and_then(|r| r.act)
                .is_some_and(|act| !act.strikes())
            {
                return StrikeOutcome::default();
            }
            if state.blocked_until > now {
                return StrikeOutcome {
                    blocked: Some(state.block_violation(now)),
                    ..StrikeOutcome::default()
                };
            }
            let violation = Violation::new(request.rule, None, Duration::ZERO);
            let struck = state.add_strike(policy, violation, now);
            StrikeOutcome {
                started_block: struck.started_block,
                ..StrikeOutcome::default()
            }
        })
    }

    /// The campaign rule on one key: records the sender unless the key is over the limit in
    /// enforce mode (see [`KeyOutcome`]); [`MemoryStore::undo_campaign`] takes it back. A
    /// vetted domain's key counts nothing; a key whose copies, this one included, reach fewer
    /// than [`CAMPAIGN_RECIPIENTS`] recipients — or a domain key whose copies carried no more
    /// pages than the limit (`page`: this copy's, see [`CopyKeys`](super::CopyKeys)) — is never
    /// over (and, full, takes no more senders; its recipients and pages are still recorded).
    pub fn check_campaign_key(
        &self,
        key: CampaignKey,
        page: Option<u64>,
        sender: SenderKey,
        recipient: Option<u64>,
        now: u64,
    ) -> KeyOutcome {
        let Some(limit) = self.policy.campaign else {
            return KeyOutcome::NOTHING;
        };
        if key.is_domain() && self.is_vetted(key, now) {
            return KeyOutcome::NOTHING;
        }
        let horizon = now.saturating_sub(limit.window_ms());
        let page_cap = super::page_cap(limit);
        self.campaigns.with(key.0, |state| {
            state.forget_until(horizon);
            state.recipients.forget_until(horizon);
            state.pages.forget_until(horizon);
            if state.senders.contains_key(&sender) {
                let (recipient_previous_ms, page_previous_ms) =
                    state.record_copy(recipient, page, now, page_cap);
                let previous_ms = state.set(sender, now);
                return KeyOutcome::Recorded {
                    previous_ms: Some(previous_ms.unwrap_or(0)),
                    recipient_previous_ms,
                    page_previous_ms,
                    over: None,
                };
            }
            let mut over = None;
            if state.senders.len() as u64 >= limit.count() {
                if state.holds_back(recipient, page, page_cap) {
                    let (recipient_previous_ms, page_previous_ms) =
                        state.record_copy(recipient, page, now, page_cap);
                    return KeyOutcome::Recorded {
                        previous_ms: None,
                        recipient_previous_ms,
                        page_previous_ms,
                        over: None,
                    };
                }
                let oldest = state.oldest().unwrap_or(now);
                let retry = Duration::from_millis(oldest + limit.window_ms() - now);
                let violation = Violation::new(Rule::Campaign, Some(limit), retry);
                if self.policy.modes.of(Rule::Campaign) == Mode::Enforce {
                    return KeyOutcome::Full(violation);
                }
                // In shadow the set stays capped at the limit (the most recent senders): enough to
                // answer "is it over the limit" exactly, without growing for a viral message.
                if let Some((_, oldest)) = state.by_time.first().copied() {
                    state.remove(SenderKey(oldest));
                }
                over = Some(violation);
            }
            let (recipient_previous_ms, page_previous_ms) =
                state.record_copy(recipient, page, now, page_cap);
            state.set(sender, now);
            KeyOutcome::Recorded {
                previous_ms: Some(0),
                recipient_previous_ms,
                page_previous_ms,
                over,
            }
        })
    }

    /// Takes back what [`MemoryStore::check_campaign_key`] recorded at `at`.
    pub fn undo_campaign(
        &self,
        record: super::KeyRecord,
        sender: SenderKey,
        recipient: Option<u64>,
        at: u64,
    ) {
        self.campaigns.with(record.key.0, |state| {
            state
                .recipients
                .undo(recipient, at, record.recipient_previous_ms);
            state.pages.undo(record.page, at, record.page_previous_ms);
            let Some(previous_ms) = record.previous_ms else {
                return;
            };
            if state.senders.get(&sender) != Some(&at) {
                return; // moved on since
            }
            if previous_ms == 0 {
                state.remove(sender);
            } else {
                state.set(sender, previous_ms);
            }
        })
    }

    /// Whether enough people carried the domain of `key` in established conversations within
    /// the contact memory (without the memory nothing is vetted, and a domain key counts
    /// nothing: nobody could ever vouch for a domain).
    fn is_vetted(&self, key: CampaignKey, now: u64) -> bool {
        let Some((memory_ms, _)) = self.memory_ms() else {
            return true;
        };
        let horizon = now.saturating_sub(memory_ms);
        self.vouchers.peek(key.0, |vouchers| {
            vouchers.is_some_and(|v| {
                v.0.iter().filter(|&&(_, at)| at > horizon).count() as u64 >= VET_SHARERS
            })
        })
    }

    /// An established message the sender's rules admitted vouches for its domains.
    pub fn vouch_domains(&self, keys: &[CampaignKey], sender: SenderKey, now: u64) {
        let Some((memory_ms, _)) = self.memory_ms() else {
            return;
        };
        if self.policy.campaign.is_none() {
            return;
        }
        let horizon = now.saturating_sub(memory_ms);
        // Refreshed once per slack of the memory, as a conversation is (`lua/campaign_check.lua`
        // `vouch`).
        let slack = memory_ms / conversations::MEMORY_SLACK_PARTS;
        for key in keys.iter().filter(|key| key.is_domain()) {
            self.vouchers.with(key.0, |vouchers| {
                let recent =
                    |&(who, at): &(u128, u64)| who == sender.0 && at > horizon && at + slack > now;
                if vouchers.0.iter().any(recent) {
                    return;
                }
                // Vetted already by others who all vouched within the slack: not rewritten by
                // every message that carries a domain many people share. Not when one vouched
                // in the future (a replica whose clock ran ahead): it would stay unreplaced.
                let mut others = vouchers
                    .0
                    .iter()
                    .filter(|&&(who, at)| at > horizon && who != sender.0);
                if others.clone().count() as u64 >= VET_SHARERS
                    && others.all(|&(_, at)| at + slack > now && at <= now)
                {
                    return;
                }
                vouchers
                    .0
                    .retain(|&(who, at)| at > horizon && who != sender.0);
                vouchers.0.push((sender.0, now));
                let excess = vouchers.0.len().saturating_sub(VET_SHARERS as usize);
                vouchers.0.drain(..excess);
            });
        }
    }

    pub fn status(&self, sender: SenderKey, now: u64) -> SenderStatus {
        let policy = &*self.policy;
        let (established_contacts, established_groups) = match self.memory_ms() {
            Some((memory_ms, seasoning_ms)) => self.memories.peek(sender.0, |m| {
                let pending_ms = conversations::pending_ms(policy);
                m.map_or((0, 0), |m| {
                    m.counts(now, memory_ms, seasoning_ms, pending_ms)
                })
            }),
            None => (0, 0),
        };
        let status = self.senders.peek(sender.0, |state| {
            let Some(state) = state else {
                let windows = policy.windows(Rule::Rate).iter().map(|&l| (l, 0)).collect();
                let acts = Act::ALL
                    .iter()
                    .map(|&act| (act, act.limits(policy).iter().map(|&l| (l, 0)).collect()))
                    .collect();
                return SenderStatus {
                    windows,
                    acts,
                    ..SenderStatus::default()
                };
            };
            // A sender that only ever had a block lifted has no counters yet: zeros.
            let rate = self
                .counting
                .iter()
                .position(|counting| counting.rule == Rule::Rate)
                .and_then(|i| state.counters.get(i));
            let windows = policy
                .windows(Rule::Rate)
                .iter()
                .enumerate()
                .map(|(i, limit)| {
                    let counter = match rate {
                        Some(Counter::Window(counters)) => counters.get(i),
                        _ => None,
                    };
                    let count =
                        counter.map_or(0, |counter| counter.clone().count(now, limit.window_ms()));
                    (*limit, count)
                })
                .collect();
            let strike_horizon = policy
                .limit(Rule::Blocked)
                .map(|l| now.saturating_sub(l.window_ms()));
            let acts = Act::ALL
                .iter()
                .map(|&act| {
                    let counters = state.acts.as_ref().map(|acts| &acts.counters[act.index()]);
                    let counts = act
                        .limits(policy)
                        .iter()
                        .enumerate()
                        .map(|(i, limit)| {
                            let counter = counters.and_then(|counters| counters.get(i));
                            let count = counter
                                .map_or(0, |counter| counter.clone().count(now, limit.window_ms()));
                            (*limit, count)
                        })
                        .collect();
                    (act, counts)
                })
                .collect();
            SenderStatus {
                windows,
                acts,
                strikes: state
                    .strikes
                    .iter()
                    .filter(|&&t| Some(t) > strike_horizon)
                    .count() as u64,
                blocked_for: Duration::from_millis(state.blocked_until.saturating_sub(now)),
                blocks: state.blocks,
                ..SenderStatus::default()
            }
        });
        SenderStatus {
            established_contacts,
            established_groups,
            ..status
        }
    }

    pub fn lift_block(&self, sender: SenderKey, now: u64) -> bool {
        self.senders.with(sender.0, |state| {
            let was_blocked = state.blocked_until > now;
            state.blocked_until = 0;
            state.strikes.clear();
            was_blocked
        })
    }

    /// A moderator's block of `length_ms` from `now` (`PUT /v1/senders/{id}/block`), set as a
    /// block the rules start: it counts as one, strikes are cleared. Returns the blocks so far.
    pub fn block_by_hand(&self, sender: SenderKey, now: u64, length_ms: u64) -> u32 {
        self.senders.with(sender.0, |state| {
            state.blocks = state.blocks.saturating_add(1);
            state.blocked_until = now + length_ms;
            state.block_length_ms = length_ms;
            state.strikes.clear();
            state.last_seen_ms = state.last_seen_ms.max(now);
            state.blocks
        })
    }

    /// Drops every sender and fingerprint whose state no longer counts at `now`.
    pub fn sweep(&self, now: u64) {
        let policy = &*self.policy;
        self.senders.retain(|state| state.expires_at(policy) > now);
        let horizon = now.saturating_sub(policy.campaign.map_or(0, |l| l.window_ms()));
        self.campaigns.retain(|state| {
            state.forget_until(horizon);
            state.recipients.forget_until(horizon);
            state.pages.forget_until(horizon);
            !state.senders.is_empty() || !state.recipients.0.is_empty() || !state.pages.0.is_empty()
        });
        if let Some((memory_ms, _)) = self.memory_ms() {
            let horizon = now.saturating_sub(memory_ms);
            self.vouchers
                .retain(|v| v.0.last().is_some_and(|&(_, at)| at > horizon));
        }
        if let Some((memory_ms, _)) = self.memory_ms() {
            let pending_ms = conversations::pending_ms(policy);
            self.memories
                .retain(|memory| memory.is_live(now, memory_ms, pending_ms));
        }
        self.replays.retain(|log| log.expires_ms > now);
        let invite_window = policy.group_invite.map_or(0, |l| l.window_ms());
        let invite_expiry = invite_window + super::window::bucket_width(invite_window);
        self.groups
            .retain(|group| group.last_seen_ms + invite_expiry > now);
    }

    /// Senders currently held (for the memory measurements and the storm test).
    pub fn tracked_senders(&self) -> usize {
        self.senders.len()
    }
}

impl MemoryStore {
    /// The campaign rule after the sender's or actor's own rules (see `campaign_after_sender`).
    pub(super) async fn campaign_in_steps(
        &self,
        outcome: SenderOutcome,
        sender: SenderKey,
        recipient: Option<u64>,
        now: u64,
        campaign_keys: super::CopyKeys<'_>,
    ) -> Result<SenderOutcome, StoreError> {
        let store = self;
        super::campaign_after_sender(
            outcome,
            sender,
            now,
            campaign_keys,
            || async move {
                let keys = campaign_keys.iter();
                Ok(keys
                    .map(|(key, page)| store.check_campaign_key(key, page, sender, recipient, now))
                    .collect())
            },
            |recorded| async move {
                for record in recorded {
                    store.undo_campaign(record, sender, recipient, now);
                }
                Ok(())
            },
            |strike| async move { Ok(store.strike(&strike)) },
            store.block_mode(),
        )
        .await
    }
}

/// A window's violation as the store finds it: the rule, its limit, when to retry (ms).
fn over(rule: Rule, limit: Limit, retry_ms: u64) -> Violation {
    Violation::new(rule, Some(limit), Duration::from_millis(retry_ms))
}

impl SenderState {
    /// A block being served: the rejection (blocks enforced), or a shadow violation in `found`.
    fn check_block(&self, policy: &Policy, now: u64, found: &mut ByMode) -> Option<SenderOutcome> {
        if self.blocked_until <= now {
            return None;
        }
        let violation = self.block_violation(now);
        if policy.modes.of(Rule::Blocked) == Mode::Enforce {
            return Some(SenderOutcome::Rejected {
                violation,
                shadow: std::mem::take(&mut found.shadow),
            });
        }
        found.shadow.push(violation);
        None
    }

    /// The counters of one act's windows, created on the user's first act.
    fn act_counters(&mut self, policy: &Policy, act: Act, now: u64) -> &mut [SlidingCounter] {
        let acts = self.acts.get_or_insert_with(Box::default);
        acts.last_ms = acts.last_ms.max(now);
        let counters = &mut acts.counters[act.index()];
        counters.resize_with(act.limits(policy).len(), SlidingCounter::default);
        counters
    }

    fn touch(&mut self, counting: &[Counting], now: u64) {
        if self.counters.len() != counting.len() {
            self.counters = counting.iter().map(Counter::of).collect();
        }
        self.last_seen_ms = self.last_seen_ms.max(now);
        for (counting, counter) in counting.iter().zip(&mut self.counters) {
            counter.forget(counting, now);
        }
    }

    fn block_violation(&self, now: u64) -> Violation {
        let length = Duration::from_millis(self.block_length_ms);
        let retry = Duration::from_millis(self.blocked_until.saturating_sub(now));
        Violation::new(Rule::Blocked, Limit::new(self.blocks.max(1), length), retry)
    }

    /// Records a strike for `violation` (none during a block); the one that reaches the strike
    /// limit starts a block, announced on the violation it answers.
    fn add_strike(&mut self, policy: &Policy, mut violation: Violation, now: u64) -> Violation {
        let Some(limit) = policy.limit(Rule::Blocked) else {
            return violation;
        };
        if self.blocked_until > now {
            return violation;
        }
        let horizon = now.saturating_sub(limit.window_ms());
        self.strikes.retain(|&t| t > horizon);
        self.strikes.push_back(now);
        if self.strikes.len() as u64 >= limit.count() {
            let length = policy.block_duration(self.blocks);
            self.blocks = self.blocks.saturating_add(1);
            self.blocked_until = now + length.as_millis() as u64;
            self.block_length_ms = length.as_millis() as u64;
            self.strikes.clear();
            violation.started_block = Some(length);
            if policy.modes.of(Rule::Blocked) == Mode::Enforce {
                violation.retry_after = violation.retry_after.max(length);
            }
        }
        violation
    }

    fn release(
        &mut self,
        counting: &[Counting],
        policy: &Policy,
        reservation: &Reservation,
        now: u64,
    ) {
        let at = reservation.at_ms;
        if let Some(act) = reservation.act {
            if act.limits(policy).is_empty() {
                return;
            }
            let counters = self.act_counters(policy, act, now);
            for (limit, counter) in act.limits(policy).iter().zip(counters) {
                counter.remove(at, limit.window_ms(), 1);
            }
            return;
        }
        for (counting, counter) in counting.iter().zip(&mut self.counters) {
            if let Some((key, recorded)) = reservation.counted_under(counting.rule) {
                counter.release(counting, key, at, recorded, now);
            }
        }
    }

    /// When nothing about this sender counts any more: windows passed, and the memory of its
    /// blocks (which makes the next one longer) kept for `block_max` after the last one ends.
    fn expires_at(&self, policy: &Policy) -> u64 {
        let longest = policy.longest_window_ms();
        let activity = self.last_seen_ms + longest + super::window::bucket_width(longest);
        let block_memory = if self.blocks > 0 {
            self.blocked_until + policy.block_max.as_millis() as u64
        } else {
            0
        };
        let acts = self.acts.as_ref().map_or(0, |acts| {
            let longest = policy.longest_act_window_ms();
            acts.last_ms + longest + super::window::bucket_width(longest)
        });
        activity.max(block_memory).max(acts)
    }
}

impl LastSeen for SenderState {
    fn last_seen(&self) -> u64 {
        self.last_seen_ms
    }
}

impl LastSeen for GroupState {
    fn last_seen(&self) -> u64 {
        self.last_seen_ms
    }
}

impl LastSeen for CampaignState {
    fn last_seen(&self) -> u64 {
        self.by_time.last().map_or(0, |&(seen, _)| seen)
    }
}
