//! The store seam: where per-sender and per-fingerprint state lives and how it is decided on.
//!
//! [`Store::check_message`] decides a whole message: the sender's rules (windows, repeat,
//! fanout, strikes, block), then — only for a message they admit — the content's campaign rule,
//! recording the message's quota or a strike, so only admitted messages consume quota.
//! Standalone Redis does it in one Lua script call. A Redis Cluster cannot (the sender's and
//! the content's keys live on different hash slots) and the embedded store keeps them in
//! separate maps: they decide in steps (`campaign_after_sender`), each step atomic on its own
//! state, a campaign rejection handing the sender's quota back with its strike. Over-limit is a
//! value ([`Violation`]), never an error: a [`StoreError`] means the store could not answer.

pub(crate) mod conversations;
mod memory;
pub mod moderation;
mod redis;
mod shards;
pub mod window;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use self::redis::{RedisStore, UnblockNotices};
pub use memory::MemoryStore;

use crate::catalogue::{CATALOGUE, Primitive, Scope};
use crate::policy::{Act, Limit, Mode, Policy, Rule, Violation};

/// A sender as the stores know it: a 128-bit hash of the sendID, so that an untrusted ID of any
/// length or character set costs the same memory and cannot steer a Redis key's hash slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SenderKey(pub u128);

impl SenderKey {
    pub fn of(send_id: &str) -> SenderKey {
        SenderKey(xxhash_rust::xxh3::xxh3_128_with_seed(
            send_id.as_bytes(),
            KEY_SEED,
        ))
    }
}

/// A one-to-one recipient, hashed for the same reasons as [`SenderKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecipientKey(pub u64);

impl RecipientKey {
    pub fn of(recv_id: &str) -> RecipientKey {
        RecipientKey(xxhash_rust::xxh3::xxh3_64_with_seed(
            recv_id.as_bytes(),
            KEY_SEED,
        ))
    }
}

/// A group, hashed for the same reasons as [`SenderKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupKey(pub u64);

impl GroupKey {
    pub fn of(group_id: &str) -> GroupKey {
        GroupKey(xxhash_rust::xxh3::xxh3_64_with_seed(
            group_id.as_bytes(),
            KEY_SEED ^ 0x67,
        ))
    }
}

/// Whom a message is for, as the conversation memory knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A one-to-one message. It is established when the recipient has written to the sender:
    /// the sender's memory holds `recipient`. Once admitted, it is remembered in the memory of
    /// the recipient (`recipient_state`), where the sender is `me`.
    User {
        recipient: RecipientKey,
        recipient_state: SenderKey,
        me: RecipientKey,
    },
    /// A group message, established once the sender has been posting there for a while.
    Group(GroupKey),
}

impl Peer {
    /// The recipient's or the group's hash.
    pub fn id(self) -> u64 {
        match self {
            Peer::User { recipient, .. } => recipient.0,
            Peer::Group(group) => group.0,
        }
    }
}

/// The conversation a message belongs to (set when `FLOODGATE_CONTACT_MEMORY` is on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub peer: Peer,
    /// The repeat rule's key for an established message: this content to this one peer.
    pub fingerprint: Option<Fingerprint>,
}

/// The hash of a message's normalised text (see `engine::fingerprint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

/// A campaign key: the hash the store counts distinct cold senders under. The engine derives it
/// from a message's payloads and near-duplicate bands (see `engine::campaign_keys`); the store
/// owns the type because it keys its sets by it, as with [`Fingerprint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CampaignKey(pub u64);

impl CampaignKey {
    /// A domain key: it counts only while the domain is unvetted (not shared by several
    /// people in established conversations within the contact memory), and is what an
    /// established message carrying the link vouches for. Its lowest bit says so, so the stores
    /// tell the kinds apart without another argument on every call.
    pub fn is_domain(self) -> bool {
        self.0 & 1 == 1
    }
}

/// The campaign keys of one copy (a message, or a request's text) as the stores count them.
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyKeys<'a> {
    pub keys: &'a [CampaignKey],
    /// Beside each key, its page: for a domain key, the link key of the page this copy links to
    /// on that domain; 0 for other kinds, and when unknown (`pages` may then be empty). A domain
    /// key full of senders still admits a copy that brings a page its copies have not carried,
    /// while they carried no more pages than the limit: a run repeating one page of a big site
    /// (which that page's own key catches) cannot make the domain catch other people's pages of
    /// it. A copy repeating a page is not held back — a run spread over a few pages is caught
    /// from the sender past the limit as before — and a run rotating a path per copy is caught
    /// once it carried more pages than the limit.
    pub pages: &'a [u64],
}

impl<'a> CopyKeys<'a> {
    /// No keys: the campaign rule has nothing to count.
    pub const NONE: CopyKeys<'static> = CopyKeys {
        keys: &[],
        pages: &[],
    };

    /// Keys whose pages are unknown: a domain key among them is held back by nothing but its
    /// senders and recipients.
    pub fn without_pages(keys: &'a [CampaignKey]) -> CopyKeys<'a> {
        CopyKeys { keys, pages: &[] }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Each key with its page (`None`: not a domain key, or unknown).
    pub fn iter(&self) -> impl Iterator<Item = (CampaignKey, Option<u64>)> + 'a {
        let pages = self.pages;
        self.keys.iter().enumerate().map(move |(i, &key)| {
            let page = pages.get(i).copied().filter(|&page| page != 0);
            (key, page.filter(|_| key.is_domain()))
        })
    }
}

/// The pages a domain key keeps, and one more than the pages that hold it back: the campaign
/// limit + 1, at most [`MAX_PAGES`] + 1 (so that a large limit does not make every cold
/// message linking the domain parse and rewrite a long list).
pub fn page_cap(limit: crate::policy::Limit) -> u64 {
    limit.count().min(MAX_PAGES) + 1
}

/// The most pages a domain key's copies may carry and still be held back (when the campaign
/// limit is larger).
pub const MAX_PAGES: u64 = 15;

/// A campaign key is over its limit only when its copies, the one being decided included,
/// reached this many distinct recipients (one-to-one recipients or groups) within the window:
/// many strangers writing alike to ONE account — a support desk, a seller, a public figure —
/// are not a campaign, which reaches many people.
pub const CAMPAIGN_RECIPIENTS: u64 = 2;

/// Distinct senders who carried a domain in established conversations within
/// `FLOODGATE_CONTACT_MEMORY` for it to be vetted: its domain key then counts nothing. More than
/// two, so that two accounts of one spammer writing to each other vet nothing.
pub const VET_SHARERS: u64 = 3;

/// Fixed so that every replica derives the same keys for the same IDs.
const KEY_SEED: u64 = 0x6667_5f6b_6579_7321; // "fg_keys!"

/// Everything the sender half of a decision needs: the windows, repeat and fanout inputs.
#[derive(Clone, Copy, Debug)]
pub struct SenderCheck {
    pub sender: SenderKey,
    pub now_ms: u64,
    /// Set when the content is long enough to be fingerprinted (repeat rule).
    pub fingerprint: Option<Fingerprint>,
    /// Set for one-to-one messages (fanout rule).
    pub recipient: Option<RecipientKey>,
    /// The sender's windowed rules whose predicate (in the engine) counts this message: see
    /// [`Counted`].
    pub counted: Counted,
    /// Established messages skip fanout and campaign and count repeat per conversation.
    pub conversation: Option<Conversation>,
    /// Set when a retry of this callback must get its first decision (`FLOODGATE_REPLAY_WINDOW`).
    pub replay: Option<Replay>,
}

/// A callback's identity for retries: the hash of its sender, `clientMsgID` and what the message
/// says to whom, remembered with its decision on the sender's own slot for `window_ms`. The
/// `clientMsgID` is the client's own word: bound to the message, a reused one replays only the
/// very same message to the same peer (which the recipient's app shows once), never another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replay {
    pub id: u64,
    pub window_ms: u64,
}

impl Replay {
    /// The id a strike's outcome is remembered under, apart from a check's: a retry that a
    /// reloaded keyword list now rejects before the store never reads an admission as a strike.
    pub(crate) fn of_strike(self) -> Replay {
        Replay {
            id: self.id ^ 0x7374_7269_6b65_2121, // "strike!!"
            ..self
        }
    }

    /// `None` without a `clientMsgID` (nothing tells a retry from a new message) or a window.
    pub fn of(
        send_id: &str,
        client_msg_id: &str,
        message: &[&[u8]],
        window_ms: u64,
    ) -> Option<Replay> {
        if client_msg_id.is_empty() || window_ms == 0 {
            return None;
        }
        let mut hasher = xxhash_rust::xxh3::Xxh3::with_seed(KEY_SEED ^ 0x72);
        for part in [send_id.as_bytes(), client_msg_id.as_bytes()]
            .into_iter()
            .chain(message.iter().copied())
        {
            // Each part's length first: no two different messages hash the same bytes.
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        Some(Replay {
            id: hasher.digest(),
            window_ms,
        })
    }
}

impl SenderCheck {
    /// Whom the campaign rule counts this message as reaching: the one-to-one recipient, as far
    /// as the check names them (`None`: no recipient holds a key back). A group message has
    /// none: a group is many people, so copies from many fresh accounts into one group (a
    /// raid) stay a campaign; only many strangers writing alike to one account are not.
    pub fn campaign_recipient(&self) -> Option<u64> {
        match self.conversation.map(|c| c.peer) {
            Some(Peer::Group(_)) => None,
            Some(peer) => Some(peer.id()),
            None => self.recipient.map(|r| r.0),
        }
    }

    /// The repeat rule's key: the content to this one peer when the conversation is
    /// `established`, else the message's own.
    pub fn repeat_fingerprint(&self, established: bool) -> Option<Fingerprint> {
        match (established, self.conversation) {
            (true, Some(conversation)) => conversation.fingerprint,
            _ => self.fingerprint,
        }
    }
    /// The key a stored rule of the sender (`catalogue::Scope::Sender`) counts this message
    /// under (`None`: it does not count in it): the one place those rules meet this check's
    /// fields. An established message counts repeat per conversation and skips fanout.
    pub fn counted_under(&self, rule: Rule, established: bool) -> Option<u64> {
        match rule {
            Rule::Rate => Some(0),
            Rule::Repeat => self.repeat_fingerprint(established).map(|f| f.0),
            Rule::Fanout => self.recipient.filter(|_| !established).map(|r| r.0),
            rule => self.counted.has(rule).then_some(0),
        }
    }
}

/// A set of the sender's windowed rules (`Scope::Sender`, `Primitive::Window`) that count a
/// message under its sender alone, beyond the rate rule every message counts in: data, so that
/// the seam between the engine and the stores names no rule. The engine's predicates fill it
/// from the message; a rule of another kind is never in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counted(u32);

// One bit per catalogue entry.
const _: () = assert!(CATALOGUE.len() <= u32::BITS as usize);

impl Counted {
    /// Whether `rule` counts with such a set: a windowed rule of the sender's, stored under a
    /// tag, other than the rate rule (which counts every message).
    pub fn holds(rule: Rule) -> bool {
        let entry = rule.entry();
        entry.scope == Scope::Sender
            && entry.primitive == Primitive::Window
            && entry.tag.is_some()
            && rule != Rule::Rate
    }

    /// This set, with `rule` in it when `counts` (and `rule` is one a set holds).
    #[must_use]
    pub fn with(self, rule: Rule, counts: bool) -> Counted {
        match counts && Counted::holds(rule) {
            true => Counted(self.0 | 1 << rule.index()),
            false => self,
        }
    }

    pub fn has(self, rule: Rule) -> bool {
        self.0 & 1 << rule.index() != 0
    }

    /// The rules in this set, in catalogue order.
    pub fn rules(self) -> impl Iterator<Item = Rule> {
        Rule::ALL.into_iter().filter(move |&rule| self.has(rule))
    }

    /// Those of its rules that `policy` has windows for: what a store counts.
    #[must_use]
    pub fn configured(self, policy: &Policy) -> Counted {
        self.rules().fold(Counted::default(), |set, rule| {
            set.with(rule, !policy.windows(rule).is_empty())
        })
    }
}

/// An act other than a message (README, "Friend requests, groups and profiles"), judged on its
/// actor's own record: the block that messages also serve, and the act's windows. Its request
/// text's campaign keys are decided after it, as a message's are.
#[derive(Clone, Copy, Debug)]
pub struct ActCheck {
    pub actor: SenderKey,
    pub now_ms: u64,
    /// The windows it counts against; `None` checks only the block (a profile edit).
    pub act: Option<Act>,
    /// A creation's initial members (owner excluded), weighed in its owner's
    /// `Act::GroupMembers` windows; 0 for every other act. A creation carries no request text,
    /// so the campaign rule never hands its reservation back: only its one count per window
    /// would be.
    pub members: u64,
    /// Set when a retry of this callback must get its first decision, as for a message.
    pub replay: Option<Replay>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderOutcome {
    /// Nothing enforced was broken; the message's quota is recorded in `reservation`.
    Admitted {
        reservation: Reservation,
        shadow: Vec<Violation>,
    },
    /// An enforced rule was broken; a strike was recorded (maybe starting a block).
    Rejected {
        violation: Violation,
        shadow: Vec<Violation>,
    },
    /// A retry of a callback decided within the replay window: its first outcome, nothing
    /// recorded again.
    Replayed(Box<SenderOutcome>),
}

/// What an admitted sender check recorded, so it can be handed back exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub at_ms: u64,
    pub fingerprint: Option<Fingerprint>,
    /// The recipient, and what writing to them changed.
    pub recipient: Option<(RecipientKey, Recorded)>,
    /// The windowed rules it was counted in (see [`Counted`]).
    pub counted: Counted,
    /// The message is part of an established conversation: repeat counted it per peer.
    pub established: bool,
    /// The campaign rule skips the message: it is established, or its sender is known (enough
    /// people wrote to them, `conversations::KNOWN_WRITERS`).
    pub skips_campaign: bool,
    /// An act's windows counted it (and nothing of a message's).
    pub act: Option<Act>,
}

impl Reservation {
    /// The key a stored rule of the sender counted this reservation under, and what it did to
    /// a distinct set's key (see [`SenderCheck::counted_under`]).
    pub fn counted_under(&self, rule: Rule) -> Option<(u64, Option<Recorded>)> {
        match rule {
            Rule::Rate => Some((0, None)),
            Rule::Repeat => self.fingerprint.map(|f| (f.0, None)),
            Rule::Fanout => self.recipient.map(|(to, recorded)| (to.0, Some(recorded))),
            rule => self.counted.has(rule).then_some((0, None)),
        }
    }

    /// Notes that `rule` counted the message under `key` (`recorded`: what a distinct set did).
    pub(crate) fn count(&mut self, rule: Rule, key: u64, recorded: Option<Recorded>) {
        match rule {
            Rule::Repeat => self.fingerprint = Some(Fingerprint(key)),
            Rule::Fanout => self.recipient = recorded.map(|r| (RecipientKey(key), r)),
            rule => self.counted = self.counted.with(rule, true),
        }
    }

    /// What an admitted act recorded: one in each of its windows.
    pub fn of_act(at_ms: u64, act: Option<Act>, skips_campaign: bool) -> Reservation {
        Reservation {
            at_ms,
            fingerprint: None,
            recipient: None,
            counted: Counted::default(),
            established: false,
            skips_campaign,
            act,
        }
    }
}

/// A violation found outside the sender check (mentions, campaign) to be counted as a strike,
/// releasing what the sender check had reserved for the same message.
#[derive(Clone, Copy, Debug)]
pub struct StrikeRequest {
    pub sender: SenderKey,
    pub now_ms: u64,
    pub rule: Rule,
    pub release: Option<Reservation>,
    /// A violation found before the store (a content rule) on a callback that may be retried:
    /// a retry within the window gets the first strike's outcome and strikes nothing. (A
    /// strike that releases a reservation is answered through its check's replay.)
    pub replay: Option<Replay>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrikeOutcome {
    /// The sender is serving a block (no strike was added).
    pub blocked: Option<Violation>,
    /// This strike reached the limit and started a block of this length.
    pub started_block: Option<Duration>,
    /// A retry's: the first strike's outcome, nothing struck again.
    pub replayed: bool,
}

/// What checking one campaign key did, so that a rejection by another key can undo it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOutcome {
    /// Over the limit, in enforce mode: nothing recorded.
    Full(Violation),
    /// The message was counted: `previous_ms` is the sender's earlier time (0 if they were new;
    /// `None`: the sender was not recorded — a vetted domain, or a key whose copies all went to
    /// one recipient or carried too few pages), `recipient_previous_ms` and `page_previous_ms`
    /// the same for the recipient and the page; `over` when the key was over the limit in
    /// shadow.
    Recorded {
        previous_ms: Option<u64>,
        recipient_previous_ms: Option<u64>,
        page_previous_ms: Option<u64>,
        over: Option<Violation>,
    },
}

impl KeyOutcome {
    /// Nothing recorded and nothing over (a rule that is off, a vetted domain).
    pub const NOTHING: KeyOutcome = KeyOutcome::Recorded {
        previous_ms: None,
        recipient_previous_ms: None,
        page_previous_ms: None,
        over: None,
    };
}

/// What one key recorded, for `undo`: the key and its page, the sender's, the recipient's and
/// the page's earlier times (see [`KeyOutcome::Recorded`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub key: CampaignKey,
    pub page: Option<u64>,
    pub previous_ms: Option<u64>,
    pub recipient_previous_ms: Option<u64>,
    pub page_previous_ms: Option<u64>,
}

/// What a sender check did to the recipient's entry, so that handing the reservation back undoes
/// exactly that: a rejected message must not even keep a known recipient fresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A new entry, at the check's time.
    New,
    /// A known entry, moved from `previous_ms` to the check's time.
    Refreshed { previous_ms: u64 },
}

impl Recorded {
    /// As the scripts pass it: the previous time, 0 for a new entry.
    pub fn previous_ms(self) -> u64 {
        match self {
            Recorded::New => 0,
            Recorded::Refreshed { previous_ms } => previous_ms,
        }
    }
}

/// What the admin API shows of one sender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SenderStatus {
    pub windows: Vec<(Limit, u64)>,
    /// Each act's windows and counts (friend requests, groups created, applications).
    pub acts: Vec<(Act, Vec<(Limit, u64)>)>,
    /// Users who wrote to this sender within `FLOODGATE_CONTACT_MEMORY`: its messages to them
    /// are established.
    pub established_contacts: u64,
    /// Groups where this sender's messages are established.
    pub established_groups: u64,
    pub strikes: u64,
    pub blocked_for: Duration,
    pub blocks: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store did not answer in time")]
    Timeout,
    #[error("cannot reach the store: {0}")]
    Connection(#[source] ::redis::RedisError),
    #[error("not connected to the store: {0}")]
    NotConnected(&'static str),
    /// The server refused the call (`READONLY`, `OOM`, `BUSY`, a script error, …).
    #[error("the store refused a call: {0}")]
    Server(#[source] ::redis::RedisError),
    /// The script answered something the protocol does not know.
    #[error("a store script answered {0}")]
    Reply(String),
    #[error("store error: {0}")]
    Other(String),
}

impl StoreError {
    /// The `kind` label of `floodgate_store_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Timeout => "timeout",
            StoreError::Connection(_) | StoreError::NotConnected(_) => "connection",
            StoreError::Server(_) | StoreError::Reply(_) => "script",
            StoreError::Other(_) => "other",
        }
    }
}

/// The configured backend. An enum rather than a trait object: two backends, no allocation per
/// call, and `match` shows every place a new backend must be handled.
#[derive(Clone)]
pub enum Store {
    Memory(Arc<MemoryStore>),
    Redis(Arc<RedisStore>),
}

impl Store {
    /// The `backend` label of the store metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }

    /// Whether other replicas share this store (and a local cache of it can go stale).
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Redis(_))
    }

    /// A whole message: the sender's rules and, when they admit a cold message (not part of an
    /// established conversation, nor from a known sender), the campaign rule on the content's
    /// `campaign_keys` (none: the rule is off or the content has no key). A campaign rejection records nothing for
    /// the message and counts as a strike, like the sender's own rules.
    pub async fn check_message(
        &self,
        check: &SenderCheck,
        campaign_keys: CopyKeys<'_>,
    ) -> Result<SenderOutcome, StoreError> {
        match self {
            Store::Memory(store) => {
                if let Some(first) = check
                    .replay
                    .and_then(|r| store.replayed(check.sender, r, check.now_ms))
                {
                    return Ok(SenderOutcome::Replayed(Box::new(first)));
                }
                let outcome = store.check_sender(check);
                if let SenderOutcome::Admitted { reservation, .. } = &outcome
                    && reservation.established
                {
                    store.vouch_domains(campaign_keys.keys, check.sender, check.now_ms);
                }
                let recipient = check.campaign_recipient();
                let outcome = store
                    .campaign_in_steps(
                        outcome,
                        check.sender,
                        recipient,
                        check.now_ms,
                        campaign_keys,
                    )
                    .await?;
                // A block being served strikes nothing and is not recorded (as in sender.lua).
                let serving_block = matches!(&outcome, SenderOutcome::Rejected { violation, .. }
                    if violation.rule == Rule::Blocked);
                if let Some(replay) = check.replay.filter(|_| !serving_block) {
                    store.record_replay(check.sender, replay, check.now_ms, &outcome);
                }
                Ok(outcome)
            }
            Store::Redis(store) => store.check_message(check, campaign_keys).await,
        }
    }

    /// An act (README, "Friend requests, groups and profiles"): the actor's block and the act's
    /// windows, then — when they admit it and the actor is not known — the campaign rule on its
    /// request text's keys, exactly as for a message. A rejection is a strike on the actor's one
    /// record. A retry within the replay window gets the first outcome, as a message's does.
    pub async fn check_act(
        &self,
        check: &ActCheck,
        campaign_keys: CopyKeys<'_>,
    ) -> Result<SenderOutcome, StoreError> {
        match self {
            Store::Memory(store) => {
                if let Some(first) = check
                    .replay
                    .and_then(|r| store.replayed(check.actor, r, check.now_ms))
                {
                    return Ok(SenderOutcome::Replayed(Box::new(first)));
                }
                let outcome = store.check_act(check);
                let outcome = store
                    .campaign_in_steps(outcome, check.actor, None, check.now_ms, campaign_keys)
                    .await?;
                // As for a message: a block being served is not recorded.
                let serving_block = matches!(&outcome, SenderOutcome::Rejected { violation, .. }
                    if violation.rule == Rule::Blocked);
                if let Some(replay) = check.replay.filter(|_| !serving_block) {
                    store.record_replay(check.actor, replay, check.now_ms, &outcome);
                }
                Ok(outcome)
            }
            Store::Redis(store) => store.check_act(check, campaign_keys).await,
        }
    }

    /// Invitees into one group (`FLOODGATE_GROUP_INVITE_LIMIT`): the violation when they are
    /// over the limit. They are recorded unless the rule, in enforce mode, rejects them; an
    /// invitation names no inviter, so nobody is struck.
    pub async fn check_invite(
        &self,
        group: GroupKey,
        now_ms: u64,
        invitees: u64,
    ) -> Result<Option<Violation>, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.check_invite(group, now_ms, invitees)),
            Store::Redis(store) => store.check_invite(group, now_ms, invitees).await,
        }
    }
}

impl Store {
    /// Whether the store can make a decision now (the breaker's probe and `/readyz`).
    pub async fn ping(&self, now_ms: u64) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(store) => store.ping(now_ms).await,
        }
    }

    /// Whether the store has a connection to try now (see `RedisStore::is_connected`).
    pub fn is_connected(&self) -> bool {
        match self {
            Store::Memory(_) => true,
            Store::Redis(store) => store.is_connected(),
        }
    }

    pub async fn strike(&self, request: &StrikeRequest) -> Result<StrikeOutcome, StoreError> {
        match self {
            Store::Memory(store) => {
                let replay = request.replay.map(Replay::of_strike);
                if let Some(first) =
                    replay.and_then(|r| store.replayed_strike(request.sender, r, request.now_ms))
                {
                    return Ok(first);
                }
                let outcome = store.strike(request);
                // A block being served strikes nothing and is not remembered (as in sender.lua).
                if let Some(replay) = replay.filter(|_| outcome.blocked.is_none()) {
                    store.record_strike(request.sender, replay, request.now_ms, &outcome);
                }
                Ok(outcome)
            }
            Store::Redis(store) => store.strike(request).await,
        }
    }

    pub async fn status(&self, sender: SenderKey, now_ms: u64) -> Result<SenderStatus, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.status(sender, now_ms)),
            Store::Redis(store) => store.status(sender, now_ms).await,
        }
    }

    /// Drops state that no longer counts (the embedded store; Redis expires keys itself).
    pub fn forget_idle(&self, now_ms: u64) {
        match self {
            Store::Memory(store) => store.sweep(now_ms),
            Store::Redis(_) => {}
        }
    }

    /// Lifts announced by any replica sharing the store (`None`: no other replica shares it).
    /// Each subscription lasts until it is lost; ask again then.
    pub async fn unblock_notices(&self) -> Option<Result<UnblockNotices, StoreError>> {
        match self {
            Store::Memory(_) => None,
            Store::Redis(store) => Some(store.unblock_notices().await),
        }
    }

    /// Lifts a block and clears strikes; `true` if the sender was blocked.
    pub async fn lift_block(&self, sender: SenderKey, now_ms: u64) -> Result<bool, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.lift_block(sender, now_ms)),
            Store::Redis(store) => store.lift_block(sender, now_ms).await,
        }
    }
}

/// The campaign rule after the sender's, for a store that decides a message in steps: only a
/// cold message the sender's rules admitted (`outcome`) is checked against its campaign keys
/// (`check_keys` answers for each, in order); a key over the limit rejects, taking back what
/// the other keys recorded (`undo`) and striking the sender, which hands back the quota the
/// sender check recorded. Standalone Redis decides the same in one script, all keys checked
/// before any is recorded.
#[allow(clippy::too_many_arguments)] // the steps, each a closure the store supplies
async fn campaign_after_sender<KeysFuture, UndoFuture, StrikeFuture>(
    outcome: SenderOutcome,
    sender: SenderKey,
    now_ms: u64,
    campaign_keys: CopyKeys<'_>,
    check_keys: impl FnOnce() -> KeysFuture,
    undo: impl FnOnce(Vec<KeyRecord>) -> UndoFuture,
    strike: impl FnOnce(StrikeRequest) -> StrikeFuture,
    block_mode: Mode,
) -> Result<SenderOutcome, StoreError>
where
    KeysFuture: Future<Output = Result<Vec<KeyOutcome>, StoreError>>,
    UndoFuture: Future<Output = Result<(), StoreError>>,
    StrikeFuture: Future<Output = Result<StrikeOutcome, StoreError>>,
{
    let SenderOutcome::Admitted {
        reservation,
        mut shadow,
    } = outcome
    else {
        return Ok(outcome);
    };
    if reservation.skips_campaign || campaign_keys.is_empty() {
        return Ok(SenderOutcome::Admitted {
            reservation,
            shadow,
        });
    }
    let outcomes = check_keys().await?;
    let mut full = None;
    let mut over = None;
    let mut recorded = Vec::new();
    for ((key, page), outcome) in campaign_keys.iter().zip(outcomes) {
        match outcome {
            KeyOutcome::Full(violation) => {
                full.get_or_insert(violation);
            }
            KeyOutcome::Recorded {
                previous_ms,
                recipient_previous_ms,
                page_previous_ms,
                over: over_here,
            } => {
                let record = KeyRecord {
                    key,
                    page,
                    previous_ms,
                    recipient_previous_ms,
                    page_previous_ms,
                };
                if previous_ms.is_some()
                    || recipient_previous_ms.is_some()
                    || page_previous_ms.is_some()
                {
                    recorded.push(record);
                }
                over = over.or(over_here);
            }
        }
    }
    let Some(violation) = full else {
        shadow.extend(over);
        return Ok(SenderOutcome::Admitted {
            reservation,
            shadow,
        });
    };
    if !recorded.is_empty() {
        undo(recorded).await?;
    }
    let struck = strike(StrikeRequest {
        sender,
        now_ms,
        rule: Rule::Campaign,
        release: Some(reservation),
        replay: None,
    })
    .await?;
    // A block being served was answered by the sender's rules already.
    let violation = violation.with_block_started(struck.started_block, block_mode);
    Ok(SenderOutcome::Rejected { violation, shadow })
}
