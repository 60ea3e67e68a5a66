//! The decision: which rule, if any, a message breaks, as a value ([`Decision`]).
//!
//! Knows nothing of HTTP or Redis. Local rules (exemptions, burst, mentions) are judged here;
//! the cluster-wide ones go to the [`Store`] as one check of the whole message (the sender's
//! rules, then the content's campaign rule), which records only what it admits.

mod acts;
mod blocks;
mod breaker;
pub mod burst;
pub mod campaign_keys;
pub mod content;
mod content_rules;
mod decision;
pub mod fingerprint;
pub mod folded;
mod homoglyph;
pub mod keywords;
pub mod links;
mod moderating;
pub mod moderation;

pub use acts::{ActKind, ActRequest};
pub use content_rules::ContentRules;
pub use decision::{Chat, Decision, Message, NOTIFICATION_TYPES, Verdict};
pub use moderating::{BlockView, Caller, CampaignView, Taught};
pub use moderation::Moderation;

use std::borrow::Cow;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::{Config, FailMode};
use crate::metrics::Metrics;
use crate::policy::{ByMode, Limit, Mode, Policy, Rule, Violation};
use crate::store::{
    Conversation, CopyKeys, GroupKey, MemoryStore, Peer, RecipientKey, Replay, SenderCheck,
    SenderKey, SenderOutcome, SenderStatus, Store, StoreError, StrikeOutcome, StrikeRequest,
};
use blocks::KnownBlocks;
use breaker::Breaker;
use burst::BurstLimiter;
use campaign_keys::{Audience, CampaignKeys};
use folded::Folded;
use links::{DomainList, LinkRules};

/// What the engine takes from the configuration besides the policy.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    pub fail_mode: FailMode,
    /// The shared store's part of one decision (`FLOODGATE_REDIS_TIMEOUT`).
    pub budget: Duration,
    pub exempt_senders: HashSet<String>,
    pub check_system: bool,
    /// Senders the burst limiter holds at most.
    pub local_max_senders: usize,
    pub links: LinkRules,
    /// The longest stretch of one text the rules read (`FLOODGATE_MAX_TEXT`).
    pub max_text: usize,
    /// `FLOODGATE_REPLAY_WINDOW` (`None`: retries are decided anew).
    pub replay_window: Option<Duration>,
    /// Whether decisions hand records to the moderators' lists (off for benchmarks).
    pub recording: bool,
    /// `FLOODGATE_SAMPLES`.
    pub samples: bool,
    /// `FLOODGATE_REPORT_TTL`.
    pub report_ttl: Duration,
}

impl From<&Config> for EngineSettings {
    fn from(config: &Config) -> EngineSettings {
        EngineSettings {
            fail_mode: config.fail_mode,
            budget: config.redis_timeout,
            exempt_senders: config.exempt_senders.clone(),
            check_system: config.check_system,
            local_max_senders: config.local_max_senders,
            links: LinkRules {
                deny: config.link_deny.clone(),
                allow: config.link_allow.clone(),
            },
            max_text: config.max_text,
            replay_window: config.replay_window,
            recording: true,
            samples: config.samples,
            report_ttl: config.report_ttl,
        }
    }
}

/// A message's text as the rules read it.
struct Judged<'m> {
    text: Cow<'m, str>,
    /// Folded when the fingerprint or the keyword list reads it.
    folded: Option<Folded>,
}

pub struct Engine {
    policy: Arc<Policy>,
    store: Store,
    /// Decides when `store` cannot, in fail-open mode (the replica's own windows).
    fallback: Option<Store>,
    fail_mode: FailMode,
    budget: Duration,
    burst: Option<BurstLimiter>,
    clock: Clock,
    exempt: HashSet<String>,
    check_system: bool,
    /// Keywords and links (the app replaces the keyword list when its file changes).
    content_rules: Arc<ContentRules>,
    /// Link domains that never make a campaign key (`FLOODGATE_LINK_ALLOW`).
    link_allow: DomainList,
    metrics: Metrics,
    /// Senders known to be blocked: with a shared store, a blocked sender's flood costs no
    /// store call at all.
    known_blocks: Option<KnownBlocks>,
    breaker: Breaker,
    /// No rule reads past this many bytes of a text (`FLOODGATE_MAX_TEXT`).
    max_text: usize,
    replay_window_ms: u64,
    /// The moderators' lists, and the reported and allowed keys.
    moderation: Moderation,
}

impl Engine {
    /// An engine on an embedded store of its own, without Redis or metrics series: for
    /// benchmarks and memory measurements. The store is returned too, to look inside it.
    pub fn embedded(config: &Config, clock: Clock) -> (Engine, Arc<MemoryStore>) {
        Engine::embedded_recording(config, clock, false)
    }

    /// As [`Engine::embedded`], handing records to the moderators' lists when `recording`
    /// (written by [`Engine::write_records`]).
    pub fn embedded_recording(
        config: &Config,
        clock: Clock,
        recording: bool,
    ) -> (Engine, Arc<MemoryStore>) {
        let policy = Arc::new(config.policy.clone());
        let memory = Arc::new(MemoryStore::new(policy.clone(), config.local_max_senders));
        let store = Store::Memory(memory.clone());
        let mut settings = EngineSettings::from(config);
        settings.recording = recording;
        let engine = Engine::new(
            &settings,
            policy,
            store,
            None,
            clock,
            Metrics::new(&[], &[]),
        );
        (engine, memory)
    }

    pub fn new(
        settings: &EngineSettings,
        policy: Arc<Policy>,
        store: Store,
        fallback: Option<Store>,
        clock: Clock,
        metrics: Metrics,
    ) -> Engine {
        let breaker = Breaker::new(metrics.degraded.clone());
        if !store.is_connected() {
            // Unreachable since start (a cluster): degraded until the probe connects.
            breaker.trip();
        }
        let moderation = Moderation::new(
            crate::store::moderation::ModerationStore::of(&store),
            settings.recording,
            settings.samples,
            settings.report_ttl,
            policy.campaign.map(|limit| limit.window),
            policy.modes.of(Rule::Blocked),
            metrics.clone(),
        );
        Engine {
            moderation,
            known_blocks: store.is_shared().then(KnownBlocks::new),
            breaker,
            burst: policy
                .limit(Rule::Burst)
                .map(|limit| BurstLimiter::new(limit, clock.clone(), settings.local_max_senders)),
            policy,
            store,
            fallback,
            fail_mode: settings.fail_mode,
            budget: settings.budget,
            clock,
            exempt: settings.exempt_senders.clone(),
            check_system: settings.check_system,
            content_rules: Arc::new(ContentRules::new(settings.links.clone())),
            link_allow: settings.links.allow.clone(),
            metrics,
            max_text: settings.max_text,
            replay_window_ms: settings.replay_window.map_or(0, |w| w.as_millis() as u64),
        }
    }

    pub async fn decide(&self, message: &Message<'_>) -> Decision {
        self.decide_as(message, None).await
    }

    /// A message callback OpenIM may send again (a load balancer's retry, a client's replay):
    /// the same sender and `client_msg_id` within `FLOODGATE_REPLAY_WINDOW` get the first
    /// decision, counted once (`Decision::replayed`).
    pub async fn decide_once(&self, message: &Message<'_>, client_msg_id: &str) -> Decision {
        let content_type = message.content_type.to_le_bytes();
        // `atUserList` sits beside the content, and the mention and @all rules read it: a
        // reused clientMsgID that adds @all to an admitted text is another message, not a retry.
        let mentions = (message.mentions as u64).to_le_bytes();
        let at_all = [u8::from(message.at_all)];
        let said = [
            message.recv_id.as_bytes(),
            message.group_id.as_bytes(),
            &content_type,
            message.content.as_bytes(),
            &mentions,
            &at_all,
        ];
        let replay = Replay::of(message.send_id, client_msg_id, &said, self.replay_window_ms);
        self.decide_as(message, replay).await
    }

    async fn decide_as(&self, message: &Message<'_>, replay: Option<Replay>) -> Decision {
        let mut shadow = Vec::new();
        if self.is_exempt(message) {
            return Decision::allow(shadow);
        }
        let sender = SenderKey::of(message.send_id);
        let now_ms = self.clock.now_ms();
        if let Some(burst) = &self.burst
            && let Err(violation) = burst.check(sender)
        {
            match self.policy.modes.of(Rule::Burst) {
                // Not recorded for the moderators, like a known block below: what a replica
                // turns away on its own costs the store nothing, even in a flood.
                Mode::Enforce => return Decision::reject(violation, shadow),
                Mode::Shadow => shadow.push(violation),
            }
        }
        // A block this replica knows of answers without a store call, and exactly as the store
        // would: after burst, with what the rules in shadow found before the store.
        if let Some(violation) = self
            .known_blocks
            .as_ref()
            .and_then(|k| k.get(sender, now_ms))
        {
            let text = self.text_to_judge(message, false);
            shadow.extend(self.message_rules(message, text.as_ref()).shadow);
            return Decision::reject(violation, shadow);
        }
        let decide =
            |store, shadow| self.decide_shared(store, message, sender, now_ms, replay, shadow);
        self.on_store(Some(sender), now_ms, shadow, decide).await
    }

    /// A decision that needs the store (`decide`): on the shared store within the budget, else
    /// on the fail mode's answer — the replica's own store (open) or 5099 (closed). `sender`'s
    /// block, when the decision reports one, is remembered for the next call.
    async fn on_store<'a, F, Fut>(
        &'a self,
        sender: Option<SenderKey>,
        now_ms: u64,
        shadow: Vec<Violation>,
        decide: F,
    ) -> Decision
    where
        F: Fn(&'a Store, Vec<Violation>) -> Fut,
        Fut: Future<Output = Result<Decision, StoreError>> + 'a,
    {
        if !self.store.is_shared() {
            // The embedded store answers in microseconds and cannot fail: no budget timer.
            return decide(&self.store, shadow).await.unwrap_or_else(|error| {
                tracing::error!(%error, "the embedded store failed");
                Decision::allow(Vec::new())
            });
        }
        if self.breaker.is_open() {
            return self.without_store(shadow, &decide).await;
        }
        let lifts_seen = self.known_blocks.as_ref().map(KnownBlocks::lifts_seen);
        let shared = tokio::time::timeout(self.budget, decide(&self.store, shadow.clone())).await;
        let error = match shared {
            Ok(Ok(decision)) => {
                self.breaker.record_success();
                if let (Some(seen), Some(sender)) = (lifts_seen, sender) {
                    self.remember_block(sender, now_ms, &decision, seen);
                }
                return decision;
            }
            Ok(Err(error)) => error,
            Err(_elapsed) => StoreError::Timeout,
        };
        self.store_failed(&error);
        self.without_store(shadow, &decide).await
    }

    /// The fail mode: the replica's own store (open), or 5099 (closed).
    async fn without_store<'a, F, Fut>(&'a self, shadow: Vec<Violation>, decide: &F) -> Decision
    where
        F: Fn(&'a Store, Vec<Violation>) -> Fut,
        Fut: Future<Output = Result<Decision, StoreError>> + 'a,
    {
        match (self.fail_mode, &self.fallback) {
            (FailMode::Open, Some(fallback)) => decide(fallback, shadow.clone())
                .await
                .unwrap_or(Decision::allow(shadow)),
            (FailMode::Open, None) => Decision::allow(shadow),
            (FailMode::Closed, _) => {
                let retry = Duration::from_secs(1);
                Decision::reject(Violation::new(Rule::Unavailable, None, retry), shadow)
            }
        }
    }

    fn store_failed(&self, error: &StoreError) {
        self.metrics.store_error(self.store.backend(), error.kind());
        if self.breaker.record_failure() {
            let fail_mode = match self.fail_mode {
                FailMode::Open => "open: deciding on this replica's local store",
                FailMode::Closed => "closed: rejecting with 5099",
            };
            tracing::warn!(%error, fail_mode, "shared store unreachable; degraded");
        } else {
            tracing::debug!(%error, "shared store call failed");
        }
    }

    /// Checks the shared store (the maintenance loop calls this); closes or opens the breaker.
    pub async fn probe(&self) {
        if !self.store.is_shared() {
            return;
        }
        match self.store.ping(self.clock.now_ms()).await {
            Ok(()) => {
                if self.breaker.close() {
                    tracing::info!("shared store reachable again; deciding cluster-wide");
                }
            }
            Err(error) => self.store_failed(&error),
        }
    }

    /// Whether this replica currently decides on its shared store.
    pub fn is_degraded(&self) -> bool {
        self.breaker.is_open()
    }

    /// Remembers a block the store reported (enforced blocks only: a shadow block rejects nothing).
    fn remember_block(
        &self,
        sender: SenderKey,
        now_ms: u64,
        decision: &Decision,
        seen: blocks::LiftsSeen,
    ) {
        let (Some(known), Verdict::Reject(violation)) = (&self.known_blocks, &decision.verdict)
        else {
            return;
        };
        if self.policy.modes.of(Rule::Blocked) != Mode::Enforce {
            return;
        }
        let block = match (violation.rule, violation.started_block) {
            (Rule::Blocked, _) => Some((violation.retry_after, violation.limit)),
            (_, Some(length)) => Some((length, None)),
            _ => None,
        };
        if let Some((remaining, limit)) = block {
            let limit = limit.or_else(|| Limit::new(1, remaining));
            known.remember(sender, now_ms, remaining, limit, seen);
        }
    }

    fn is_exempt(&self, message: &Message<'_>) -> bool {
        message.send_id.is_empty()
            || (NOTIFICATION_TYPES.contains(&message.content_type) && !self.check_system)
            || self.exempt.contains(message.send_id)
    }

    /// The rules that need state shared by the cluster (or the fallback's local state).
    async fn decide_shared(
        &self,
        store: &Store,
        message: &Message<'_>,
        sender: SenderKey,
        now_ms: u64,
        replay: Option<Replay>,
        mut shadow: Vec<Violation>,
    ) -> Result<Decision, StoreError> {
        let fingerprinted =
            self.policy.limit(Rule::Repeat).is_some() || self.policy.campaign.is_some();
        let text = self.text_to_judge(message, fingerprinted);
        let ByMode {
            enforced,
            shadow: found,
        } = self.message_rules(message, text.as_ref());
        shadow.extend(found);
        if let Some(violation) = enforced {
            let decision = self
                .strike(store, (sender, replay), now_ms, violation, shadow)
                .await?;
            self.note_message(message, now_ms, text.as_ref(), None, false, &decision);
            return Ok(decision);
        }

        let folded = text.as_ref().and_then(|judged| judged.folded.as_ref());
        // Normalised once, for the fingerprint and the campaign keys.
        let normalised = folded
            .filter(|_| fingerprinted)
            .map(fingerprint::normalise_folded);
        let fingerprint = normalised
            .as_deref()
            .and_then(|n| fingerprint::of_normalised(n, self.policy.repeat_min_chars));
        // The campaign keys also tell a pitch (it carries a payload) from small talk, which the
        // repeat rule counts per conversation even when it is cold: one greeting to many people
        // is not spam, one pitch to many people is.
        let mut campaign_keys = match (&text, &normalised) {
            (Some(judged), Some(normalised)) if fingerprint.is_some() => {
                let audience = match message.chat {
                    Chat::Single => Audience::OneToOne,
                    Chat::Group => Audience::Group,
                };
                let allow = &self.link_allow;
                campaign_keys::campaign_keys(&judged.text, normalised, allow, audience)
            }
            _ => CampaignKeys::default(),
        };
        self.moderation.drop_allowed(&mut campaign_keys);
        let peer = Self::peer(message);
        let per_peer = fingerprint
            .zip(peer)
            .map(|(f, peer)| fingerprint::per_peer(f, peer.id()));
        let repeat_key = if !campaign_keys.has_payload() && per_peer.is_some() {
            per_peer
        } else {
            fingerprint
        };
        // No recipient (a body read only in part) is no recipient to count.
        let recipient = (message.chat == Chat::Single
            && self.policy.limit(Rule::Fanout).is_some()
            && !message.recv_id.is_empty())
        .then(|| RecipientKey::of(message.recv_id));
        let sender_check = SenderCheck {
            sender,
            now_ms,
            fingerprint: repeat_key,
            recipient,
            counted: message.counted(),
            // The conversation, when conversation memory is on.
            conversation: peer
                .filter(|_| self.policy.contact_memory.is_some())
                .map(|peer| Conversation {
                    peer,
                    fingerprint: per_peer,
                }),
            replay,
        };
        let counted_keys = match self.policy.campaign {
            Some(_) => campaign_keys.for_store(),
            None => CopyKeys::NONE,
        };

        let check = store.check_message(&sender_check, counted_keys);
        let outcome = match self.timed(store, "check_message", check).await? {
            SenderOutcome::Replayed(first) => {
                self.metrics.replays.inc();
                let mut decision = outcome_decision(*first, shadow);
                decision.replayed = true;
                return Ok(decision);
            }
            outcome => outcome,
        };
        // Cold (from the campaign rule's point of view): its keys' senders are recorded.
        let cold = match &outcome {
            SenderOutcome::Admitted { reservation, .. } => !reservation.skips_campaign,
            SenderOutcome::Rejected { violation, .. } => violation.rule == Rule::Campaign,
            SenderOutcome::Replayed(_) => false,
        };
        let decision = match outcome {
            SenderOutcome::Admitted {
                reservation,
                shadow: found,
            } if cold
                && self
                    .moderation
                    .any_reported(campaign_keys.as_slice(), now_ms) =>
            {
                shadow.extend(found);
                self.reported(store, sender, now_ms, reservation, shadow)
                    .await?
            }
            outcome => outcome_decision(outcome, shadow),
        };
        let keys = Some(&campaign_keys).filter(|keys| !keys.is_empty());
        self.note_message(message, now_ms, text.as_ref(), keys, cold, &decision);
        Ok(decision)
    }

    /// A cold message from an unknown sender carrying a reported key (5012): struck like the
    /// campaign rule's rejections, handing back what the sender check recorded; in shadow,
    /// admitted and reported.
    async fn reported(
        &self,
        store: &Store,
        sender: SenderKey,
        now_ms: u64,
        reservation: crate::store::Reservation,
        mut shadow: Vec<Violation>,
    ) -> Result<Decision, StoreError> {
        let violation = Violation::new(Rule::Reported, None, Duration::ZERO);
        if self.policy.modes.of(Rule::Reported) == Mode::Shadow {
            shadow.push(violation);
            return Ok(Decision::allow(shadow));
        }
        let request = StrikeRequest {
            sender,
            now_ms,
            rule: Rule::Reported,
            release: Some(reservation),
            replay: None,
        };
        let outcome = self.timed(store, "strike", store.strike(&request)).await?;
        Ok(self.answer_after_strike(violation, outcome, shadow))
    }

    /// What the moderators' lists keep of a decided message (`moderation::Moderation::note`).
    fn note_message(
        &self,
        message: &Message<'_>,
        now_ms: u64,
        text: Option<&Judged<'_>>,
        keys: Option<&CampaignKeys>,
        cold: bool,
        decision: &Decision,
    ) {
        let violation = match &decision.verdict {
            Verdict::Reject(violation) => Some(violation),
            Verdict::Allow => None,
        };
        if violation.is_none() && !(cold && keys.is_some()) {
            return;
        }
        let seen = moderation::Seen {
            command: command_of(message.chat),
            send_id: message.send_id,
            recv_id: message.recv_id,
            group_id: message.group_id,
            text: text.map(|judged| judged.text.as_ref()),
            keys,
            cold,
            now_ms,
        };
        self.moderation.note(&seen, violation);
    }

    /// A violation found before the store's check (mentions, keyword, link) is struck on the
    /// sender's record, and answered as `answer_after_strike` says. A retry of the callback
    /// (`replay`) gets the first strike's answer and strikes nothing again.
    async fn strike(
        &self,
        store: &Store,
        (sender, replay): (SenderKey, Option<Replay>),
        now_ms: u64,
        violation: Violation,
        shadow: Vec<Violation>,
    ) -> Result<Decision, StoreError> {
        let request = StrikeRequest {
            sender,
            now_ms,
            rule: violation.rule,
            release: None,
            replay,
        };
        let outcome = self.timed(store, "strike", store.strike(&request)).await?;
        let replayed = outcome.replayed;
        let mut decision = self.answer_after_strike(violation, outcome, shadow);
        if replayed {
            self.metrics.replays.inc();
            decision.replayed = true;
        }
        Ok(decision)
    }

    /// Whom a message is for (its recipient or its group), when it names them.
    fn peer(message: &Message<'_>) -> Option<Peer> {
        match message.chat {
            Chat::Single if !message.recv_id.is_empty() => Some(Peer::User {
                recipient: RecipientKey::of(message.recv_id),
                recipient_state: SenderKey::of(message.recv_id),
                me: RecipientKey::of(message.send_id),
            }),
            Chat::Group if !message.group_id.is_empty() => {
                Some(Peer::Group(GroupKey::of(message.group_id)))
            }
            _ => None,
        }
    }

    /// The message's text, decoded from its content only when something will read it: the
    /// content rules, or (`fingerprinted`) the repeat and campaign rules; folded once, when the
    /// fingerprint or the keyword list reads it.
    fn text_to_judge<'m>(&self, message: &Message<'m>, fingerprinted: bool) -> Option<Judged<'m>> {
        if !fingerprinted && self.content_rules.is_empty() {
            return None;
        }
        let text = content::judged_text(message.content_type, message.content)?;
        let text = content::judged_part(text, self.max_text);
        let folded =
            (fingerprinted || self.content_rules.has_keywords()).then(|| Folded::of(&text));
        Some(Judged { text, folded })
    }

    /// The rules judged on the message alone — mentions, keywords, links — in that order: the
    /// first enforced violation, and what the rules in shadow found.
    fn message_rules(&self, message: &Message<'_>, text: Option<&Judged<'_>>) -> ByMode {
        let text_violations = text.into_iter().flat_map(|judged| {
            self.content_rules
                .violations(&judged.text, judged.folded.as_ref())
        });
        ByMode::of(
            &self.policy.modes,
            self.mentions_violation(message)
                .into_iter()
                .chain(text_violations),
        )
    }

    /// The content policy, for the app to put a new keyword list in force.
    pub fn content_rules(&self) -> &Arc<ContentRules> {
        &self.content_rules
    }

    fn mentions_violation(&self, message: &Message<'_>) -> Option<Violation> {
        let limit = self.policy.mention_limit?;
        if message.chat != Chat::Group || message.mentions <= limit as usize {
            return None;
        }
        let mut violation = Violation::new(
            Rule::Mentions,
            Limit::new(limit, Duration::from_secs(1)),
            Duration::ZERO,
        );
        violation.observed = Some(message.mentions as u64);
        Some(violation)
    }

    /// A violation found outside the sender check has been struck: a sender already serving a
    /// block gets 5006; the strike that starts a block is answered with its own rule's code.
    fn answer_after_strike(
        &self,
        violation: Violation,
        outcome: StrikeOutcome,
        mut shadow: Vec<Violation>,
    ) -> Decision {
        if let Some(blocked) = outcome.blocked {
            match self.policy.modes.of(Rule::Blocked) {
                Mode::Enforce => return Decision::reject(blocked, shadow),
                Mode::Shadow => shadow.push(blocked),
            }
        }
        let violation = violation
            .with_block_started(outcome.started_block, self.policy.modes.of(Rule::Blocked));
        Decision::reject(violation, shadow)
    }

    async fn timed<T>(
        &self,
        store: &Store,
        op: &str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        // The embedded store as the primary answers within the decision itself, which
        // floodgate_decision_seconds already times; the clock reads are not worth it there.
        if !self.store.is_shared() {
            return call.await;
        }
        let timer = self.metrics.store_time(store.backend(), op).start_timer();
        let result = call.await;
        timer.observe_duration();
        result
    }

    /// For the admin API.
    pub async fn sender_status(&self, send_id: &str) -> Result<SenderStatus, StoreError> {
        let now_ms = self.clock.now_ms();
        self.store.status(SenderKey::of(send_id), now_ms).await
    }

    pub async fn lift_block(&self, send_id: &str) -> Result<bool, StoreError> {
        let now_ms = self.clock.now_ms();
        let sender = SenderKey::of(send_id);
        // Forgotten before and after: a decision in flight may read the block from the store
        // until the lift lands there.
        if let Some(known) = &self.known_blocks {
            known.forget(sender);
        }
        let lifted = self.store.lift_block(sender, now_ms).await;
        if let Some(known) = &self.known_blocks {
            known.forget(sender);
        }
        lifted
    }

    /// Follows the lifts other replicas announce through the shared store (`KnownBlocks::follow`);
    /// returns at once without a shared store.
    pub async fn follow_unblocks(&self) {
        if let Some(known) = &self.known_blocks {
            known.follow(&self.store).await;
        }
    }

    /// Periodic housekeeping: forget idle senders; returns the senders the burst limiter holds.
    pub fn forget_idle(&self) -> usize {
        let now_ms = self.clock.now_ms();
        for store in std::iter::once(&self.store).chain(&self.fallback) {
            store.forget_idle(now_ms);
        }
        self.burst.as_ref().map_or(0, BurstLimiter::forget_idle)
    }

    /// Senders the in-process burst limiter holds now (`floodgate_tracked_senders`, read at
    /// each scrape: a gauge tells the state at the scrape, not at the last housekeeping).
    pub fn tracked_senders(&self) -> usize {
        self.burst.as_ref().map_or(0, BurstLimiter::tracked_senders)
    }
}

/// OpenIM's name of a message callback.
fn command_of(chat: Chat) -> &'static str {
    match chat {
        Chat::Single => "callbackBeforeSendSingleMsgCommand",
        Chat::Group => "callbackBeforeSendGroupMsgCommand",
    }
}

/// The decision a store's outcome makes, with what the rules in shadow found before it.
fn outcome_decision(outcome: SenderOutcome, mut shadow: Vec<Violation>) -> Decision {
    match outcome {
        SenderOutcome::Admitted { shadow: found, .. } => {
            shadow.extend(found);
            Decision::allow(shadow)
        }
        SenderOutcome::Rejected {
            violation,
            shadow: found,
        } => {
            shadow.extend(found);
            Decision::reject(violation, shadow)
        }
        SenderOutcome::Replayed(first) => outcome_decision(*first, shadow),
    }
}
