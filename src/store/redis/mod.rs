//! The Redis store: the same decisions as the embedded store, made by the Lua scripts in `lua/`
//! so that every replica shares them. Standalone Redis or Redis Cluster.
//!
//! Each operation is one call of a Lua program: a Redis Function (`FCALL`, its library loaded again
//! when a restarted or new node lacks it), or a script (`EVALSHA`, sent whole on `NOSCRIPT`) where
//! the server has no Functions (`program`). On standalone Redis one call decides a whole message
//! (`lua/sender.lua` with the campaign keys and the recipient's conversation memory); on a cluster,
//! once the sender script admitted a message, the campaign script runs on each campaign key's slot
//! and the contact script on the recipient's, all concurrently. Connections are the `redis` crate's
//! multiplexed ones: cheap to clone, and concurrent calls are pipelined on one socket. A lift of a
//! block is also announced to every replica (`notices`).

mod connection;
mod keys;
mod moderation;
mod notices;
mod prelude;
mod program;
mod protocol;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::try_join_all;
use redis::RedisError;
use redis::aio::ConnectionManagerConfig;

pub use notices::UnblockNotices;
use program::{Call, Program};
use protocol::{CheckReply, Op, SenderCall};

use super::{
    ActCheck, CampaignKey, CopyKeys, Counted, GroupKey, KeyOutcome, Peer, Replay, Reservation,
    SenderCheck, SenderKey, SenderOutcome, SenderStatus, StoreError, StrikeOutcome, StrikeRequest,
};
use crate::config::RedisConfig;
use crate::policy::{Mode, Policy, Rule, Violation};
use connection::{Cluster, Connection, Standalone, tcp_settings};

/// A probe may wait longer than a decision: it runs in the background.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

// The programs share helpers (see the files' headers): each is its modules — constants and
// helper functions, after the policy as constants (`prelude`) — and its per-call body.
static SENDER_MODULES: &str = concat!(
    include_str!("../../../lua/reply.lua"),
    include_str!("../../../lua/memory.lua"),
    include_str!("../../../lua/campaign_check.lua"),
    include_str!("../../../lua/ring.lua"),
    include_str!("../../../lua/buckets.lua"),
    include_str!("../../../lua/decision.lua"),
    include_str!("../../../lua/sender.lua"),
);
static SENDER_BODY: &str = include_str!("../../../lua/sender_call.lua");
static CAMPAIGN_MODULES: &str = concat!(
    include_str!("../../../lua/reply.lua"),
    include_str!("../../../lua/campaign_check.lua"),
);
static CAMPAIGN_BODY: &str = include_str!("../../../lua/campaign.lua");
static CONTACT_MODULES: &str = include_str!("../../../lua/memory.lua");
static CONTACT_BODY: &str = include_str!("../../../lua/contact.lua");
static INVITE_MODULES: &str = concat!(
    include_str!("../../../lua/reply.lua"),
    include_str!("../../../lua/ring.lua"),
);
static INVITE_BODY: &str = include_str!("../../../lua/invite.lua");

/// The sender the readiness probe decides for: no sendID hashes to 0 in practice, so no user
/// shares its state.
const PROBE_SENDER: SenderKey = SenderKey(0);

pub struct RedisStore {
    connection: Connection,
    sender_script: Program,
    campaign_script: Program,
    contact_script: Program,
    /// `None` while the invite limit is off.
    invite_script: Option<Program>,
    /// Whether to call the programs as Redis Functions: until the server says it has none.
    functions: AtomicBool,
    prefix: String,
    policy: Arc<Policy>,
    timeout: Duration,
    /// One client per configured URL: the server (whose client also makes the standalone
    /// connection), or each seed node of a cluster. The unblock notices are subscribed to
    /// through them, tried in turn from `next_notice_client`.
    clients: Vec<redis::Client>,
    next_notice_client: AtomicUsize,
    /// `lua/moderation.lua`: the moderators' records and blocks by hand.
    moderation_script: Program,
}

impl RedisStore {
    /// Connects to Redis lazily: a replica starts while Redis (or the cluster) is still coming
    /// up or unreachable, deciding on its fail mode until the probe connects it.
    pub async fn connect(
        config: &RedisConfig,
        prefix: &str,
        policy: Arc<Policy>,
        timeout: Duration,
    ) -> Result<RedisStore, StoreError> {
        // rediss:// needs a TLS crypto provider; installing it twice is harmless (Err ignored).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let clients = config
            .urls
            .iter()
            .map(|url| {
                let info = redis::IntoConnectionInfo::into_connection_info(url.expose())?;
                redis::Client::open(info.set_tcp_settings(tcp_settings()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| StoreError::Other("a URL of FLOODGATE_REDIS_URL cannot be used".into()))?;
        // Connecting may take longer than one decision's budget; requests never wait for it.
        let connect_timeout = timeout.max(Duration::from_secs(1));
        let connection = if config.cluster {
            let urls: Vec<&str> = config.urls.iter().map(|u| u.expose()).collect();
            let client = redis::cluster::ClusterClientBuilder::new(urls)
                .connection_timeout(connect_timeout)
                .response_timeout(timeout)
                .tcp_settings(tcp_settings())
                .retries(2)
                .build()
                .map_err(map_error)?;
            let cluster = Cluster::new(client, connect_timeout * 5);
            if let Err(error) = cluster.connect().await {
                tracing::warn!(
                    %error,
                    "cannot reach the Redis Cluster at start; deciding on the fail mode until it answers"
                );
            }
            Connection::Cluster(cluster)
        } else {
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_secs(1));
            Connection::Single(Standalone::new(clients[0].clone(), manager_config)?)
        };
        Ok(RedisStore {
            connection,
            sender_script: Program::new(
                "sender",
                &(prelude::sender_prelude(&policy) + SENDER_MODULES),
                SENDER_BODY,
            ),
            campaign_script: Program::new("campaign", CAMPAIGN_MODULES, CAMPAIGN_BODY),
            contact_script: Program::new(
                "contact",
                &(prelude::memory_prelude() + CONTACT_MODULES),
                CONTACT_BODY,
            ),
            invite_script: prelude::invite_prelude(&policy)
                .map(|prelude| Program::new("invite", &(prelude + INVITE_MODULES), INVITE_BODY)),
            functions: AtomicBool::new(true),
            prefix: prefix.to_string(),
            policy,
            timeout,
            clients,
            next_notice_client: AtomicUsize::new(0),
            moderation_script: moderation::program(),
        })
    }

    /// Whether the store has a connection to try (a cluster unreachable since start has none).
    pub fn is_connected(&self) -> bool {
        match &self.connection {
            Connection::Single(_) => true,
            Connection::Cluster(cluster) => cluster.is_connected(),
        }
    }

    /// Subscribes to the unblock notices. On a cluster, to the first seed node that answers,
    /// starting after the one tried last: a lost subscription usually means its node went away.
    pub async fn unblock_notices(&self) -> Result<UnblockNotices, StoreError> {
        self.subscribe_to(&notices::channel(&self.prefix)).await
    }

    /// Subscribes to `channel` (see [`RedisStore::unblock_notices`]).
    async fn subscribe_to(&self, channel: &str) -> Result<UnblockNotices, StoreError> {
        let timeout = self.timeout.max(PROBE_TIMEOUT);
        let mut last_error = StoreError::Other("no Redis URL to subscribe to".into());
        for _ in 0..self.clients.len() {
            let i = self.next_notice_client.fetch_add(1, Ordering::Relaxed);
            let client = &self.clients[i % self.clients.len()];
            match UnblockNotices::subscribe(client, channel, timeout).await {
                Ok(notices) => return Ok(notices),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.connection, Connection::Cluster(_))
    }

    /// The readiness probe: a real decision (the sender script, which reads and writes), for a
    /// sender of its own. A PING would answer while every decision fails — a primary demoted
    /// to replica (`READONLY`), out of memory (`OOM`), a script running too long (`BUSY`).
    /// On a cluster it connects first if it never could.
    pub async fn ping(&self, now_ms: u64) -> Result<(), StoreError> {
        if let Connection::Cluster(cluster) = &self.connection {
            cluster.connect().await?;
        }
        let check = SenderCheck {
            sender: PROBE_SENDER,
            now_ms,
            fingerprint: None,
            recipient: None,
            counted: Counted::default(),
            conversation: None,
            replay: None,
        };
        let decide = self.check_in_one_call(&check, CopyKeys::NONE);
        match tokio::time::timeout(self.timeout.max(PROBE_TIMEOUT), decide).await {
            Ok(result) => result.map(drop),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// See [`Store::check_message`](super::Store::check_message): one script call on
    /// standalone Redis. On a cluster, where the campaign keys and the recipient's memory live
    /// on other slots, the sender script first; then, for a message it admitted, the campaign
    /// keys (cold messages only) beside the write to the recipient's memory (one-to-one only).
    pub async fn check_message(
        &self,
        check: &SenderCheck,
        campaign_keys: CopyKeys<'_>,
    ) -> Result<SenderOutcome, StoreError> {
        if !self.is_cluster() {
            return self.check_in_one_call(check, campaign_keys).await;
        }
        let outcome = self.check_in_one_call(check, CopyKeys::NONE).await?;
        if let SenderOutcome::Replayed(first) = outcome {
            let sender = (check.sender, check.campaign_recipient());
            return self
                .replayed_campaign(*first, sender, check.now_ms, campaign_keys)
                .await;
        }
        let admitted = match &outcome {
            SenderOutcome::Admitted { reservation, .. } => Some(reservation.established),
            _ => None,
        };
        let recipient = check.campaign_recipient();
        let campaign = self.campaign_in_steps(
            outcome,
            (check.sender, recipient),
            check.now_ms,
            campaign_keys,
            true,
        );
        let vouched = async {
            match admitted {
                Some(true) => self.vouch_domains(campaign_keys, check).await,
                _ => Ok(()),
            }
        };
        let (decided, remembered, vouched) = tokio::join!(
            campaign,
            async {
                match admitted {
                    Some(established) => self.remember_contact(check, established).await,
                    None => Ok(()),
                }
            },
            vouched
        );
        if let Err(error) = remembered {
            // The decision stands; the conversation is remembered by the next message.
            tracing::warn!(%error, "a conversation was not remembered");
        }
        if let Err(error) = vouched {
            // The decision stands; the next established message with the link vouches again.
            tracing::warn!(%error, "a domain was not vouched for");
        }
        decided
    }

    /// A retry on a cluster (a message or an act): the sender's script replayed its first
    /// decision, which on a cluster
    /// is the sender's rules' alone. An admission meets the campaign rule again, so that a retry
    /// never passes a run the first copy was refused for: a sender already in a key's set adds
    /// nothing to it, and a key over the limit rejects — with nothing struck and no quota handed
    /// back, since the replay consumed none.
    async fn replayed_campaign(
        &self,
        first: SenderOutcome,
        sender: (SenderKey, Option<u64>),
        now_ms: u64,
        campaign_keys: CopyKeys<'_>,
    ) -> Result<SenderOutcome, StoreError> {
        let decided = self
            .campaign_in_steps(first, sender, now_ms, campaign_keys, false)
            .await?;
        Ok(SenderOutcome::Replayed(Box::new(decided)))
    }

    /// The campaign rule after the sender's or actor's own (Redis Cluster): each key on its
    /// own slot, concurrently (see `campaign_after_sender`). A rejection strikes the sender and
    /// hands back its quota, unless `strikes` is false (a replay, which consumed none).
    /// `sender` is the sender and whom the message reaches (`SenderCheck::campaign_recipient`).
    async fn campaign_in_steps(
        &self,
        outcome: SenderOutcome,
        (sender, recipient): (SenderKey, Option<u64>),
        now_ms: u64,
        campaign_keys: CopyKeys<'_>,
        strikes: bool,
    ) -> Result<SenderOutcome, StoreError> {
        super::campaign_after_sender(
            outcome,
            sender,
            now_ms,
            campaign_keys,
            || {
                try_join_all(campaign_keys.iter().map(|(key, page)| {
                    self.check_campaign_key(key, page, sender, recipient, now_ms)
                }))
            },
            |recorded| async move {
                let undo = recorded
                    .into_iter()
                    .map(|record| self.undo_campaign_key(record, sender, recipient, now_ms));
                try_join_all(undo).await.map(drop)
            },
            |strike| async move {
                match strikes {
                    true => self.strike(&strike).await,
                    false => Ok(StrikeOutcome::default()),
                }
            },
            self.policy.modes.of(Rule::Blocked),
        )
        .await
    }

    /// See [`Store::check_act`](super::Store::check_act): one script call on standalone Redis
    /// (the campaign keys in it); on a cluster the campaign keys after, on their own slots.
    pub async fn check_act(
        &self,
        check: &ActCheck,
        campaign_keys: CopyKeys<'_>,
    ) -> Result<SenderOutcome, StoreError> {
        let in_call = if self.is_cluster() {
            CopyKeys::NONE
        } else {
            campaign_keys
        };
        let call = SenderCall {
            campaign_keys: in_call,
            act: check.act,
            members: check.members,
            replay: check.replay,
            ..SenderCall::bare(Op::Act, check.actor, check.now_ms)
        };
        let reply = self
            .run(&self.sender_script, &call.call(&self.prefix))
            .await?;
        let (replayed, reply) = protocol::replayed(&reply);
        let outcome = match CheckReply::decode(reply)? {
            CheckReply::Admitted {
                at_ms,
                known_sender,
                shadow,
                ..
            } => SenderOutcome::Admitted {
                reservation: Reservation::of_act(at_ms, check.act, known_sender),
                shadow,
            },
            CheckReply::Rejected { violation, shadow } => {
                SenderOutcome::Rejected { violation, shadow }
            }
        };
        match (replayed, self.is_cluster()) {
            (true, false) => Ok(SenderOutcome::Replayed(Box::new(outcome))),
            (false, false) => Ok(outcome),
            (true, true) => {
                self.replayed_campaign(outcome, (check.actor, None), check.now_ms, campaign_keys)
                    .await
            }
            (false, true) => {
                let actor = (check.actor, None);
                self.campaign_in_steps(outcome, actor, check.now_ms, campaign_keys, true)
                    .await
            }
        }
    }

    /// See [`Store::check_invite`](super::Store::check_invite): `lua/invite.lua` on the group's
    /// slot.
    pub async fn check_invite(
        &self,
        group: GroupKey,
        now_ms: u64,
        invitees: u64,
    ) -> Result<Option<Violation>, StoreError> {
        let (Some(script), Some(limit)) = (&self.invite_script, self.policy.group_invite) else {
            return Ok(None);
        };
        let invitees = u32::try_from(invitees).unwrap_or(u32::MAX);
        if invitees == 0 {
            return Ok(None);
        }
        let mut call = Call::default();
        call.key(keys::invite_key(&self.prefix, group))
            .arg(invitees)
            .arg(now_ms);
        let reply = self.run(script, &call).await?;
        protocol::decode_invite(&reply, limit, invitees)
    }

    /// The sender script, with the campaign keys and the recipient's memory on standalone Redis.
    async fn check_in_one_call(
        &self,
        check: &SenderCheck,
        campaign_keys: CopyKeys<'_>,
    ) -> Result<SenderOutcome, StoreError> {
        let call = SenderCall {
            fingerprint: check.fingerprint,
            recipient: check.recipient,
            counted: check.counted,
            conversation: check.conversation,
            remembers_contact: !self.is_cluster(),
            campaign_keys,
            campaign_recipient: check.campaign_recipient(),
            replay: check.replay,
            ..SenderCall::bare(Op::Check, check.sender, check.now_ms)
        };
        let reply = self
            .run(&self.sender_script, &call.call(&self.prefix))
            .await?;
        let (replayed, reply) = protocol::replayed(&reply);
        let outcome = self.sender_outcome(check, CheckReply::decode(reply)?);
        Ok(match replayed {
            true => SenderOutcome::Replayed(Box::new(outcome)),
            false => outcome,
        })
    }

    /// What a check reply says of `check`.
    fn sender_outcome(&self, check: &SenderCheck, reply: CheckReply) -> SenderOutcome {
        match reply {
            CheckReply::Admitted {
                at_ms,
                repeat_recorded,
                recipient,
                established,
                known_sender,
                shadow,
            } => {
                let fingerprint = check.repeat_fingerprint(established);
                SenderOutcome::Admitted {
                    reservation: Reservation {
                        at_ms,
                        fingerprint: fingerprint.filter(|_| repeat_recorded),
                        recipient: check.recipient.zip(recipient),
                        counted: check.counted.configured(&self.policy),
                        established,
                        skips_campaign: established || known_sender,
                        act: None,
                    },
                    shadow,
                }
            }
            CheckReply::Rejected { violation, shadow } => {
                SenderOutcome::Rejected { violation, shadow }
            }
        }
    }

    pub async fn strike(&self, request: &StrikeRequest) -> Result<StrikeOutcome, StoreError> {
        let release = request.release;
        let recipient = release.and_then(|r| r.recipient);
        let call = SenderCall {
            fingerprint: release.and_then(|r| r.fingerprint),
            recipient: recipient.map(|(to, _)| to),
            release_at_ms: release.map_or(0, |r| r.at_ms),
            recipient_previous_ms: recipient.map_or(0, |(_, recorded)| recorded.previous_ms()),
            counted: release.map_or(Counted::default(), |r| r.counted),
            act: release.and_then(|r| r.act),
            replay: request.replay.map(Replay::of_strike),
            ..SenderCall::bare(Op::Strike, request.sender, request.now_ms)
        };
        let reply = self
            .run(&self.sender_script, &call.call(&self.prefix))
            .await?;
        let (replayed, reply) = protocol::replayed(&reply);
        let outcome = protocol::decode_strike(reply)?;
        Ok(StrikeOutcome {
            replayed,
            ..outcome
        })
    }

    /// The campaign rule on one key's slot (Redis Cluster): see `lua/campaign.lua`.
    async fn check_campaign_key(
        &self,
        key: CampaignKey,
        page: Option<u64>,
        sender: SenderKey,
        recipient: Option<u64>,
        now_ms: u64,
    ) -> Result<KeyOutcome, StoreError> {
        let Some(limit) = self.policy.campaign else {
            return Ok(KeyOutcome::NOTHING);
        };
        let mode = if self.policy.modes.of(Rule::Campaign) == Mode::Enforce {
            "E"
        } else {
            "S"
        };
        let mut call = Call::default();
        call.key(keys::campaign_key(&self.prefix, key))
            .key(keys::vouchers_key(&self.prefix, key))
            .arg("check")
            .arg(now_ms)
            .arg(limit.count())
            .arg(limit.window_ms())
            .arg(mode)
            .arg(keys::sender_member(sender))
            .arg(recipient.map_or(Vec::new(), |r| r.to_be_bytes().to_vec()))
            .arg(super::CAMPAIGN_RECIPIENTS)
            .arg(if key.is_domain() { "d" } else { "k" })
            .arg(self.contact_memory_ms())
            .arg(super::VET_SHARERS)
            .arg(page.map_or(Vec::new(), |p| p.to_be_bytes().to_vec()))
            .arg(super::page_cap(limit));
        let reply = self.run(&self.campaign_script, &call).await?;
        protocol::decode_campaign_key(&reply, limit)
    }

    /// Takes back what `check_campaign_key` recorded for a message another key rejected.
    async fn undo_campaign_key(
        &self,
        record: super::KeyRecord,
        sender: SenderKey,
        recipient: Option<u64>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let window_ms = self.policy.campaign.map_or(0, |l| l.window_ms());
        let time = |t: Option<u64>| t.map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX));
        let bytes = |m: Option<u64>| m.map_or(Vec::new(), |m| m.to_be_bytes().to_vec());
        let key = record.key;
        let mut call = Call::default();
        call.key(keys::campaign_key(&self.prefix, key))
            .arg("undo")
            .arg(now_ms)
            .arg(time(record.previous_ms))
            .arg(keys::sender_member(sender))
            .arg(bytes(recipient))
            .arg(time(record.recipient_previous_ms))
            .arg(window_ms)
            .arg(bytes(record.page))
            .arg(time(record.page_previous_ms));
        self.run_value::<i64>(&self.campaign_script, &call)
            .await
            .map(drop)
    }

    /// `FLOODGATE_CONTACT_MEMORY` in ms, 0 when off.
    fn contact_memory_ms(&self) -> u64 {
        self.policy
            .contact_memory
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// An established message the sender's rules admitted vouches for its domains (Redis
    /// Cluster: each domain key's vouchers on its own slot; standalone Redis does it in the
    /// sender's call).
    async fn vouch_domains(
        &self,
        campaign_keys: CopyKeys<'_>,
        check: &SenderCheck,
    ) -> Result<(), StoreError> {
        let memory_ms = self.contact_memory_ms();
        if memory_ms == 0 || self.policy.campaign.is_none() {
            return Ok(());
        }
        let domains = campaign_keys.keys.iter().filter(|k| k.is_domain());
        let calls = domains.map(|&key| {
            let mut call = Call::default();
            call.key(keys::vouchers_key(&self.prefix, key))
                .arg("vouch")
                .arg(check.now_ms)
                .arg(keys::sender_member(check.sender))
                .arg(memory_ms)
                .arg(super::VET_SHARERS);
            async move {
                self.run_value::<i64>(&self.campaign_script, &call)
                    .await
                    .map(drop)
            }
        });
        try_join_all(calls).await.map(drop)
    }

    /// Remembers in the recipient's memory (its own slot) that the sender wrote to them (a
    /// one-to-one message; nothing for a group's): as pending unless `established`.
    async fn remember_contact(
        &self,
        check: &SenderCheck,
        established: bool,
    ) -> Result<(), StoreError> {
        let (Some(memory), Some(conversation)) = (self.policy.contact_memory, check.conversation)
        else {
            return Ok(());
        };
        let Peer::User {
            recipient_state,
            me,
            ..
        } = conversation.peer
        else {
            return Ok(());
        };
        let mut call = Call::default();
        call.key(keys::memory_key(&self.prefix, recipient_state))
            .key(keys::pending_key(&self.prefix, recipient_state))
            .arg(check.now_ms)
            .arg(keys::recipient_member(me))
            .arg(memory.as_millis() as u64)
            .arg(if established { "1" } else { "" })
            .arg(super::conversations::pending_ms(&self.policy));
        self.run_value::<i64>(&self.contact_script, &call)
            .await
            .map(drop)
    }

    pub async fn status(&self, sender: SenderKey, now_ms: u64) -> Result<SenderStatus, StoreError> {
        let call = SenderCall::bare(Op::Status, sender, now_ms);
        let reply = self
            .run(&self.sender_script, &call.call(&self.prefix))
            .await?;
        protocol::decode_status(&reply, &self.policy)
    }

    /// Lifts the block, then announces the lift to every replica. An announcement that fails
    /// is logged, not returned: the block is lifted, and replicas that missed the notice ask
    /// again within `engine::blocks::TRUST_WHILE_FOLLOWING`.
    pub async fn lift_block(&self, sender: SenderKey, now_ms: u64) -> Result<bool, StoreError> {
        let call = SenderCall::bare(Op::Unblock, sender, now_ms);
        let lifted = self
            .run_value::<i64>(&self.sender_script, &call.call(&self.prefix))
            .await?
            == 1;
        let mut publish = redis::cmd("PUBLISH");
        publish
            .arg(notices::channel(&self.prefix))
            .arg(notices::payload(sender));
        match tokio::time::timeout(self.timeout, self.query::<i64>(&publish)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "a lifted block was not announced"),
            Err(_) => tracing::warn!("a lifted block was not announced: timed out"),
        }
        Ok(lifted)
    }

    /// A plain command, on whichever connection this store has.
    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, StoreError> {
        self.query_raw(command).await.map_err(map_error)
    }

    /// A call whose reply is integers, packed by `lua/reply.lua`.
    async fn run(&self, program: &Program, call: &Call) -> Result<Vec<i64>, StoreError> {
        let packed: Vec<u8> = self.run_value(program, call).await?;
        protocol::unpack_reply(&packed)
    }

    /// One call of `program`, within the store's budget: as a Redis Function, loading its
    /// library when the server lacks it (a restarted node, a new one) — or as a script, for
    /// good, once the server turns out to have no Functions.
    async fn run_value<T: redis::FromRedisValue>(
        &self,
        program: &Program,
        call: &Call,
    ) -> Result<T, StoreError> {
        let result = tokio::time::timeout(self.timeout, self.call_program(program, call))
            .await
            .unwrap_or(Err(StoreError::Timeout));
        if let Connection::Single(single) = &self.connection {
            single.observe(&result.as_ref().map(drop));
        }
        result
    }

    async fn call_program<T: redis::FromRedisValue>(
        &self,
        program: &Program,
        call: &Call,
    ) -> Result<T, StoreError> {
        if self.functions.load(Ordering::Relaxed) {
            let loads = program.loads();
            match self.query_raw::<T>(&program.fcall(call)).await {
                Err(error) if program::function_missing(&error) => {
                    program
                        .load_once(loads, || async {
                            self.query_raw::<redis::Value>(&program.load()).await
                        })
                        .await
                        .map_err(map_error)?;
                    return self
                        .query_raw::<T>(&program.fcall(call))
                        .await
                        .map_err(map_error);
                }
                Err(error) if program::lacks_functions(&error) => {
                    tracing::info!("Redis has no Functions (FCALL): calling the scripts instead");
                    self.functions.store(false, Ordering::Relaxed);
                }
                result => return result.map_err(map_error),
            }
        }
        match self.query_raw::<T>(&program.evalsha(call)).await {
            Err(error) if program::script_missing(&error) => {
                self.query_raw::<T>(&program.eval(call)).await
            }
            result => result,
        }
        .map_err(map_error)
    }

    /// A command on whichever connection this store has, its error as the client gave it.
    async fn query_raw<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, RedisError> {
        match &self.connection {
            Connection::Single(single) => command.query_async(&mut single.connection()).await,
            Connection::Cluster(cluster) => match cluster.connection() {
                Ok(mut connection) => command.query_async(&mut connection).await,
                Err(_) => Err(RedisError::from((
                    redis::ErrorKind::Io,
                    "not connected to the Redis Cluster",
                ))),
            },
        }
    }
}

fn map_error(error: RedisError) -> StoreError {
    use redis::ErrorKind;
    if error.is_timeout() {
        StoreError::Timeout
    } else if error.is_io_error()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.kind() == ErrorKind::ClusterConnectionNotFound
    {
        StoreError::Connection(error)
    } else if matches!(error.kind(), ErrorKind::Server(_)) {
        StoreError::Server(error)
    } else {
        StoreError::Other(error.to_string())
    }
}
