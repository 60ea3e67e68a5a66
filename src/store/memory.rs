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
    ActCheck, CampaignKey, Conversation, Fingerprint, GroupKey, KeyOutcome, Peer, RecipientKey,
    Recorded, Replay, Reservation, SenderCheck, SenderKey, SenderOutcome, SenderStatus, StoreError,
    StrikeOutcome, StrikeRequest,
};
use crate::policy::{Act, ByMode, Limit, Mode, Policy, Rule, Violation};

pub struct MemoryStore {
    policy: Arc<Policy>,
    senders: Shards<u128, SenderState>,
    campaigns: Shards<u64, CampaignState>,
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
    decided: KeyMap<u64, (u64, SenderOutcome)>,
    expires_ms: u64,
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

#[derive(Default)]
struct SenderState {
    /// One counter per configured rate window, in `policy.rate` order.
    windows: Vec<SlidingCounter>,
    repeats: KeyMap<Fingerprint, SlidingCounter>,
    /// Recipient → when last written to (admitted), while that time still counts.
    recipients: KeyMap<RecipientKey, u64>,
    /// The recipients' last-write times, bucketed like a rate window: the fanout count.
    fanout: SlidingCounter,
    /// `AtAllTag` uses (the mentions rule).
    at_all: SlidingCounter,
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
}

impl MemoryStore {
    pub fn new(policy: Arc<Policy>, max_entries: usize) -> MemoryStore {
        MemoryStore {
            policy,
            senders: Shards::new(max_entries),
            campaigns: Shards::new(max_entries),
            memories: Shards::new(max_entries),
            groups: Shards::new(max_entries),
            replays: Shards::new(max_entries),
        }
    }

    /// The first outcome of a callback decided within its replay window.
    pub fn replayed(&self, sender: SenderKey, replay: Replay, now: u64) -> Option<SenderOutcome> {
        self.replays.peek(sender.0, |log| {
            let (expires, outcome) = log?.decided.get(&replay.id)?;
            (*expires > now).then(|| outcome.clone())
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
        let expires = now + replay.window_ms;
        self.replays.with(sender.0, |log| {
            if log.decided.len() >= REPLAY_CAP {
                log.decided.retain(|_, (at, _)| *at > now);
                if log.decided.len() >= REPLAY_CAP {
                    log.decided.clear();
                }
            }
            log.decided.insert(replay.id, (expires, outcome.clone()));
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
        let now = check.now_ms;
        let (established, known, answering) =
            check.conversation.map_or((false, false, None), |c| {
                self.standing(check.sender, &c, now)
            });
        // An established message counts repeat per conversation and skips fanout.
        let check = &SenderCheck {
            fingerprint: check.repeat_fingerprint(established),
            recipient: check.recipient.filter(|_| !established),
            ..*check
        };
        let outcome = self.senders.with(check.sender.0, |state| {
            state.touch(policy, now);
            let mut found = ByMode::default();
            if let Some(rejected) = state.check_block(policy, now, &mut found) {
                return rejected;
            }
            for (limit, counter) in policy.rate.iter().zip(&mut state.windows) {
                let (count, window) = (counter.count(now, limit.window_ms()), limit.window_ms());
                if count >= limit.count() {
                    let retry = counter.retry_after(now, window, limit.count());
                    found.note(&policy.modes, over(Rule::Rate, *limit, retry));
                }
            }
            if let (Some(limit), Some(fp)) = (policy.repeat, check.fingerprint)
                && let Some(counter) = state.repeats.get_mut(&fp)
                && counter.count(now, limit.window_ms()) >= limit.count()
            {
                let retry = counter.retry_after(now, limit.window_ms(), limit.count());
                found.note(&policy.modes, over(Rule::Repeat, limit, retry));
            }
            if let (Some(limit), Some(to)) = (policy.fanout, check.recipient) {
                let window = limit.window_ms();
                state
                    .recipients
                    .retain(|_, &mut seen| counts(seen, now, window));
                let distinct = state.fanout.count(now, window);
                if !state.recipients.contains_key(&to) && distinct >= limit.count() {
                    let retry = state.fanout.retry_after(now, window, limit.count());
                    found.note(&policy.modes, over(Rule::Fanout, limit, retry));
                }
            }
            if let (Some(limit), true) = (policy.at_all, check.at_all) {
                let window = limit.window_ms();
                if state.at_all.count(now, window) >= limit.count() {
                    let retry = state.at_all.retry_after(now, window, limit.count());
                    found.note(&policy.modes, over(Rule::Mentions, limit, retry));
                }
            }
            match found.enforced {
                Some(violation) => SenderOutcome::Rejected {
                    violation: state.add_strike(policy, violation, now),
                    shadow: found.shadow,
                },
                None => SenderOutcome::Admitted {
                    reservation: Reservation {
                        established,
                        skips_campaign: established || known,
                        ..state.consume(policy, check)
                    },
                    shadow: found.shadow,
                },
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
            state.touch(policy, now);
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
        let enforced = self.policy.modes.group == Mode::Enforce;
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
        self.policy.modes.block
    }

    pub fn strike(&self, request: &StrikeRequest) -> StrikeOutcome {
        let policy = &*self.policy;
        let now = request.now_ms;
        self.senders.with(request.sender.0, |state| {
            state.touch(policy, now);
            if let Some(reservation) = &request.release {
                state.release(policy, reservation, now);
            }
            // An act that strikes nobody (an application) only hands its reservation back.
            if request
                .release
                .and_then(|r| r.act)
                .is_some_and(|act| !act.strikes())
            {
                return StrikeOutcome {
                    blocked: None,
                    started_block: None,
                };
            }
            if state.blocked_until > now {
                return StrikeOutcome {
                    blocked: Some(state.block_violation(now)),
                    started_block: None,
                };
            }
            let violation = Violation::new(request.rule, None, Duration::ZERO);
            let struck = state.add_strike(policy, violation, now);
            StrikeOutcome {
                blocked: None,
                started_block: struck.started_block,
            }
        })
    }

    /// The campaign rule on one key: records the sender unless the key is over the limit in
    /// enforce mode (see [`KeyOutcome`]); [`MemoryStore::undo_campaign`] takes it back.
    pub fn check_campaign_key(&self, key: CampaignKey, sender: SenderKey, now: u64) -> KeyOutcome {
        let Some(limit) = self.policy.campaign else {
            return KeyOutcome::Recorded {
                previous_ms: 0,
                over: None,
            };
        };
        self.campaigns.with(key.0, |state| {
            state.forget_until(now.saturating_sub(limit.window_ms()));
            if state.senders.contains_key(&sender) {
                let previous_ms = state.set(sender, now).unwrap_or(0);
                return KeyOutcome::Recorded {
                    previous_ms,
                    over: None,
                };
            }
            let mut over = None;
            if state.senders.len() as u64 >= limit.count() {
                let oldest = state.oldest().unwrap_or(now);
                let retry = Duration::from_millis(oldest + limit.window_ms() - now);
                let violation = Violation::new(Rule::Campaign, Some(limit), retry);
                if self.policy.modes.campaign == Mode::Enforce {
                    return KeyOutcome::Full(violation);
                }
                // In shadow the set stays capped at the limit (the most recent senders): enough to
                // answer "is it over the limit" exactly, without growing for a viral message.
                if let Some((_, oldest)) = state.by_time.first().copied() {
                    state.remove(SenderKey(oldest));
                }
                over = Some(violation);
            }
            state.set(sender, now);
            KeyOutcome::Recorded {
                previous_ms: 0,
                over,
            }
        })
    }

    /// Takes back what [`MemoryStore::check_campaign_key`] recorded at `at`.
    pub fn undo_campaign(&self, key: CampaignKey, sender: SenderKey, at: u64, previous_ms: u64) {
        self.campaigns.with(key.0, |state| {
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
                let windows = policy.rate.iter().map(|&l| (l, 0)).collect();
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
            let windows = policy
                .rate
                .iter()
                .enumerate()
                .map(|(i, limit)| {
                    let count = state
                        .windows
                        .get(i)
                        .map_or(0, |counter| counter.clone().count(now, limit.window_ms()));
                    (*limit, count)
                })
                .collect();
            let strike_horizon = policy.strikes.map(|l| now.saturating_sub(l.window_ms()));
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
            !state.senders.is_empty()
        });
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
        now: u64,
        campaign_keys: &[CampaignKey],
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
                    .map(|&key| store.check_campaign_key(key, sender, now))
                    .collect())
            },
            |recorded| async move {
                for (key, previous_ms) in recorded {
                    store.undo_campaign(key, sender, now, previous_ms);
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
        if policy.modes.block == Mode::Enforce {
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

    fn touch(&mut self, policy: &Policy, now: u64) {
        if self.windows.len() != policy.rate.len() {
            self.windows
                .resize_with(policy.rate.len(), SlidingCounter::default);
        }
        self.last_seen_ms = self.last_seen_ms.max(now);
        if let Some(limit) = policy.repeat {
            // Forget content no longer in the window, amortised: only when the map has grown.
            if self.repeats.len() >= 64 && self.repeats.len().is_power_of_two() {
                self.repeats
                    .retain(|_, counter| counter.count(now, limit.window_ms()) > 0);
            }
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
        let Some(limit) = policy.strikes else {
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
            if policy.modes.block == Mode::Enforce {
                violation.retry_after = violation.retry_after.max(length);
            }
        }
        violation
    }

    fn consume(&mut self, policy: &Policy, check: &SenderCheck) -> Reservation {
        let now = check.now_ms;
        for (limit, counter) in policy.rate.iter().zip(&mut self.windows) {
            counter.add(now, limit.window_ms(), 1);
        }
        let fingerprint = policy.repeat.and(check.fingerprint);
        if let (Some(limit), Some(fp)) = (policy.repeat, fingerprint) {
            self.repeats
                .entry(fp)
                .or_default()
                .add(now, limit.window_ms(), 1);
        }
        let mut recipient = None;
        if let (Some(limit), Some(to)) = (policy.fanout, check.recipient) {
            // A known recipient's time moves from its old bucket to now; a new one adds one.
            let window = limit.window_ms();
            let previous = self
                .recipients
                .insert(to, now)
                .filter(|&seen| counts(seen, now, window));
            if let Some(seen) = previous {
                self.fanout.remove(seen, window, 1);
            }
            self.fanout.add(now, window, 1);
            let recorded = previous.map_or(Recorded::New, |previous_ms| Recorded::Refreshed {
                previous_ms,
            });
            recipient = Some((to, recorded));
        }
        let at_all = check.at_all && policy.at_all.is_some();
        if let (Some(limit), true) = (policy.at_all, at_all) {
            self.at_all.add(now, limit.window_ms(), 1);
        }
        Reservation {
            established: false,
            skips_campaign: false,
            act: None,
            at_ms: now,
            fingerprint,
            recipient,
            at_all,
        }
    }

    fn release(&mut self, policy: &Policy, reservation: &Reservation, now: u64) {
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
        for (limit, counter) in policy.rate.iter().zip(&mut self.windows) {
            counter.remove(at, limit.window_ms(), 1);
        }
        if let (Some(limit), Some(fp)) = (policy.repeat, reservation.fingerprint)
            && let Some(counter) = self.repeats.get_mut(&fp)
        {
            counter.remove(at, limit.window_ms(), 1);
        }
        if let (Some(limit), true) = (policy.at_all, reservation.at_all) {
            self.at_all.remove(at, limit.window_ms(), 1);
        }
        if let (Some(limit), Some((to, recorded))) = (policy.fanout, reservation.recipient)
            && self.recipients.get(&to) == Some(&at)
        {
            let window = limit.window_ms();
            self.fanout.remove(at, window, 1);
            match recorded {
                Recorded::New => {
                    self.recipients.remove(&to);
                }
                Recorded::Refreshed { previous_ms } => {
                    self.recipients.insert(to, previous_ms);
                    if counts(previous_ms, now, window) {
                        self.fanout.add(previous_ms, window, 1);
                    }
                }
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
