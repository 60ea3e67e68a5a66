//! The Redis store: the same decisions as the embedded store, made by the Lua scripts in `lua/`
//! so that every replica shares them. Standalone Redis or Redis Cluster.
//!
//! Each operation is one script call (EVALSHA, reloaded on NOSCRIPT after a restart or
//! failover). On standalone Redis one call decides a whole message (`lua/sender.lua` with the
//! campaign key); on a cluster the campaign script follows on the fingerprint's slot, only for a
//! message the sender script admitted. Connections are the `redis` crate's multiplexed ones:
//! cheap to clone, and concurrent calls are pipelined on one socket. A lift of a block is also
//! announced to every replica (`notices`).

mod keys;
mod notices;
mod prelude;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, Script, ScriptInvocation};

pub use notices::UnblockNotices;

use super::{
    CampaignCheck, CampaignOutcome, Fingerprint, RecipientKey, Recorded, Reservation, SenderCheck,
    SenderKey, SenderOutcome, SenderStatus, StoreError, StrikeOutcome, StrikeRequest,
};
use crate::config::RedisConfig;
use crate::policy::{Limit, Mode, Policy, Rule, Violation};

/// A probe may wait longer than a decision: it runs in the background.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

// Both scripts are built on the campaign rule's function (see the files' headers); the sender
// script also on the policy, as constants (`prelude`).
static SENDER_SCRIPT: &str = concat!(
    include_str!("../../../lua/campaign_check.lua"),
    include_str!("../../../lua/sender.lua")
);
static CAMPAIGN_SCRIPT: &str = concat!(
    include_str!("../../../lua/campaign_check.lua"),
    include_str!("../../../lua/campaign.lua")
);

/// The connection to Redis, which a replica must be able to replace: see [`Standalone`] and
/// [`Cluster`].
enum Connection {
    Single(Standalone),
    Cluster(Cluster),
}

/// Timeouts in a row after which the standalone connection is replaced by a new one.
const REPLACE_AFTER_TIMEOUTS: u32 = 3;
/// A connection is replaced at most this often.
const REPLACE_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// A standalone Redis behind one multiplexed `ConnectionManager`, replaced when it stops being
/// useful: the manager reconnects only on errors the `redis` crate calls unrecoverable, and
/// neither a response timeout (a black-holed connection, a failover that moved the address)
/// nor `READONLY` (a primary demoted to replica), `LOADING` or `MASTERDOWN` is one. Left alone,
/// such a replica would stay degraded until the kernel gave up on the socket (~15 minutes).
struct Standalone {
    client: redis::Client,
    config: ConnectionManagerConfig,
    current: parking_lot::RwLock<ConnectionManager>,
    timeouts_in_a_row: AtomicU32,
    replaced_at: parking_lot::Mutex<Option<std::time::Instant>>,
}

impl Standalone {
    fn new(
        client: redis::Client,
        config: ConnectionManagerConfig,
    ) -> Result<Standalone, StoreError> {
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(map_error)?;
        Ok(Standalone {
            client,
            config,
            current: parking_lot::RwLock::new(manager),
            timeouts_in_a_row: AtomicU32::new(0),
            replaced_at: parking_lot::Mutex::new(None),
        })
    }

    fn connection(&self) -> ConnectionManager {
        self.current.read().clone()
    }

    /// Learns from a call's outcome whether the connection should be replaced.
    fn observe(&self, outcome: &Result<(), &StoreError>) {
        let why = match outcome {
            Ok(()) => {
                self.timeouts_in_a_row.store(0, Ordering::Relaxed);
                return;
            }
            Err(StoreError::Timeout) => {
                let run = self.timeouts_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                if run < REPLACE_AFTER_TIMEOUTS {
                    return;
                }
                "it timed out repeatedly"
            }
            Err(error) if needs_new_connection(error) => "the server cannot serve decisions",
            Err(_) => return,
        };
        self.replace(why);
    }

    fn replace(&self, why: &str) {
        {
            let mut replaced_at = self.replaced_at.lock();
            if replaced_at.is_some_and(|at| at.elapsed() < REPLACE_AT_MOST_EVERY) {
                return;
            }
            *replaced_at = Some(std::time::Instant::now());
        }
        self.timeouts_in_a_row.store(0, Ordering::Relaxed);
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone()) {
            Ok(fresh) => {
                *self.current.write() = fresh;
                tracing::warn!(why, "replaced the Redis connection");
            }
            Err(error) => tracing::warn!(%error, "could not replace the Redis connection"),
        }
    }
}

/// A Redis Cluster connection, made in the background when the cluster cannot be reached at
/// start: a replica starts degraded (deciding on its fail mode) rather than not at all.
struct Cluster {
    client: redis::cluster::ClusterClient,
    current: parking_lot::RwLock<Option<ClusterConnection>>,
    connecting: tokio::sync::Mutex<()>,
    connect_timeout: Duration,
}

impl Cluster {
    fn connection(&self) -> Result<ClusterConnection, StoreError> {
        self.current
            .read()
            .clone()
            .ok_or_else(|| StoreError::Connection("not connected to the Redis Cluster yet".into()))
    }

    /// Connects unless connected (or connecting) already.
    async fn connect(&self) -> Result<(), StoreError> {
        let Ok(_connecting) = self.connecting.try_lock() else {
            return Err(StoreError::Connection(
                "connecting to the Redis Cluster".into(),
            ));
        };
        if self.current.read().is_some() {
            return Ok(());
        }
        let connecting = self.client.get_async_connection();
        let connection = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| StoreError::Timeout)?
            .map_err(map_error)?;
        *self.current.write() = Some(connection);
        Ok(())
    }
}

/// Server errors after which the connection, not the request, is at fault.
fn needs_new_connection(error: &StoreError) -> bool {
    let (StoreError::Script(text) | StoreError::Connection(text)) = error else {
        return false;
    };
    // The redis crate names the codes in its own case (`ReadOnly`, `BusyLoading`, `MasterDown`).
    let text = text.to_ascii_uppercase();
    ["READONLY", "LOADING", "MASTERDOWN"]
        .iter()
        .any(|code| text.contains(code))
}

/// TCP keepalive (an idle connection to a vanished host is noticed within a minute, not the
/// kernel's two hours) and a user timeout (unacknowledged writes fail after 30 s, not 15 min).
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    use redis::io::tcp::socket2::TcpKeepalive;
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(15))
        .with_interval(Duration::from_secs(5))
        .with_retries(3);
    redis::io::tcp::TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(keepalive)
        .set_user_timeout(Duration::from_secs(30))
}

/// The sender the readiness probe decides for: no sendID hashes to 0 in practice, so no user
/// shares its state.
const PROBE_SENDER: SenderKey = SenderKey(0);

pub struct RedisStore {
    connection: Connection,
    sender_script: Script,
    campaign_script: Script,
    prefix: String,
    policy: Arc<Policy>,
    timeout: Duration,
    /// One client per configured URL: the server (whose client also makes the standalone
    /// connection), or each seed node of a cluster. The unblock notices are subscribed to
    /// through them, tried in turn from `next_notice_client`.
    clients: Vec<redis::Client>,
    next_notice_client: AtomicUsize,
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
            let cluster = Cluster {
                client,
                current: parking_lot::RwLock::new(None),
                connecting: tokio::sync::Mutex::new(()),
                connect_timeout: connect_timeout * 5,
            };
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
            sender_script: Script::new(&(prelude::sender_prelude(&policy) + SENDER_SCRIPT)),
            campaign_script: Script::new(CAMPAIGN_SCRIPT),
            prefix: prefix.to_string(),
            policy,
            timeout,
            clients,
            next_notice_client: AtomicUsize::new(0),
        })
    }

    /// Whether the store has a connection to try (a cluster unreachable since start has none).
    pub fn is_connected(&self) -> bool {
        match &self.connection {
            Connection::Single(_) => true,
            Connection::Cluster(cluster) => cluster.current.read().is_some(),
        }
    }

    /// Subscribes to the unblock notices. On a cluster, to the first seed node that answers,
    /// starting after the one tried last: a lost subscription usually means its node went away.
    pub async fn unblock_notices(&self) -> Result<UnblockNotices, StoreError> {
        let channel = notices::channel(&self.prefix);
        let timeout = self.timeout.max(PROBE_TIMEOUT);
        let mut last_error = StoreError::Other("no Redis URL to subscribe to".into());
        for _ in 0..self.clients.len() {
            let i = self.next_notice_client.fetch_add(1, Ordering::Relaxed);
            let client = &self.clients[i % self.clients.len()];
            match UnblockNotices::subscribe(client, &channel, timeout).await {
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
            at_all: false,
        };
        let decide = self.check_in_one_call(&check, None);
        match tokio::time::timeout(self.timeout.max(PROBE_TIMEOUT), decide).await {
            Ok(result) => result.map(drop),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// See [`Store::check_message`](super::Store::check_message): one script call on
    /// standalone Redis; on a cluster, where the fingerprint's key lives on another slot, the
    /// campaign script after the sender script admitted the message.
    pub async fn check_message(
        &self,
        check: &SenderCheck,
        campaign: Option<&CampaignCheck>,
    ) -> Result<SenderOutcome, StoreError> {
        let Some(campaign) = campaign.filter(|_| self.is_cluster()) else {
            return self.check_in_one_call(check, campaign).await;
        };
        let outcome = self.check_in_one_call(check, None).await?;
        super::campaign_after_sender(
            outcome,
            check,
            || self.check_campaign(campaign),
            |strike| async move { self.strike(&strike).await },
            self.policy.modes.block,
        )
        .await
    }

    /// The sender script, with the campaign rule when `campaign` is given (standalone only).
    async fn check_in_one_call(
        &self,
        check: &SenderCheck,
        campaign: Option<&CampaignCheck>,
    ) -> Result<SenderOutcome, StoreError> {
        let mut invocation = self.sender_invocation(
            "check",
            check.sender,
            check.now_ms,
            check.fingerprint,
            check.recipient.map(|to| (to, 0)),
            0,
            check.at_all,
        );
        if let Some(campaign) = campaign {
            invocation.key(keys::campaign_key(&self.prefix, campaign.fingerprint));
        }
        let reply = self.run(&invocation).await?;
        let field = |i: usize| reply.get(i).copied().ok_or_else(|| malformed(&reply));
        if field(0)? == 0 {
            let recorded = match field(3)? {
                1 => Some(Recorded::New),
                2 => Some(Recorded::Refreshed {
                    previous_ms: field(4)? as u64,
                }),
                _ => None,
            };
            let reservation = Reservation {
                at_ms: field(1)? as u64,
                fingerprint: check.fingerprint.filter(|_| reply.get(2) == Some(&1)),
                recipient: check.recipient.zip(recorded),
                at_all: check.at_all && self.policy.at_all.is_some(),
            };
            let shadow = violations(&reply, 5)?;
            Ok(SenderOutcome::Admitted {
                reservation,
                shadow,
            })
        } else {
            let mut violation = reply
                .get(1..5)
                .and_then(violation)
                .ok_or_else(|| malformed(&reply))?;
            violation.started_block = started_block(field(5)?);
            let shadow = violations(&reply, 6)?;
            Ok(SenderOutcome::Rejected { violation, shadow })
        }
    }

    pub async fn strike(&self, request: &StrikeRequest) -> Result<StrikeOutcome, StoreError> {
        let release = request.release;
        let invocation = self.sender_invocation(
            "strike",
            request.sender,
            request.now_ms,
            release.and_then(|r| r.fingerprint),
            release
                .and_then(|r| r.recipient)
                .map(|(to, recorded)| (to, recorded.previous_ms())),
            release.map_or(0, |r| r.at_ms),
            release.is_some_and(|r| r.at_all),
        );
        let reply = self.run(&invocation).await?;
        if reply.len() != 5 {
            return Err(malformed(&reply));
        }
        let blocked = (reply[0] == 1)
            .then(|| violation(&[5006, reply[1], reply[2], reply[3]]))
            .flatten();
        Ok(StrikeOutcome {
            blocked,
            started_block: started_block(reply[4]),
        })
    }

    pub async fn check_campaign(
        &self,
        check: &CampaignCheck,
    ) -> Result<CampaignOutcome, StoreError> {
        let Some(limit) = self.policy.campaign else {
            return Ok(CampaignOutcome::Admitted { shadow: None });
        };
        let mode = if self.policy.modes.campaign == Mode::Enforce {
            "E"
        } else {
            "S"
        };
        let mut invocation = self.campaign_script.prepare_invoke();
        invocation
            .key(keys::campaign_key(&self.prefix, check.fingerprint))
            .arg(check.now_ms)
            .arg(limit.count())
            .arg(limit.window_ms())
            .arg(mode)
            .arg(keys::sender_member(check.sender));
        let reply = self.run(&invocation).await?;
        let [rejected, shadow, retry_ms] =
            <[i64; 3]>::try_from(reply.as_slice()).map_err(|_| malformed(&reply))?;
        let violation = Violation::new(
            Rule::Campaign,
            Some(limit),
            Duration::from_millis(retry_ms.max(0) as u64),
        );
        Ok(match rejected {
            1 => CampaignOutcome::Rejected(violation),
            _ => CampaignOutcome::Admitted {
                shadow: (shadow == 1).then_some(violation),
            },
        })
    }

    pub async fn status(&self, sender: SenderKey, now_ms: u64) -> Result<SenderStatus, StoreError> {
        let invocation = self.sender_invocation("status", sender, now_ms, None, None, 0, false);
        let reply = self.run(&invocation).await?;
        if reply.len() != 3 + self.policy.rate.len() {
            return Err(malformed(&reply));
        }
        Ok(SenderStatus {
            windows: self
                .policy
                .rate
                .iter()
                .zip(&reply[3..])
                .map(|(&l, &c)| (l, c as u64))
                .collect(),
            strikes: reply[0] as u64,
            blocked_for: Duration::from_millis(reply[1].max(0) as u64),
            blocks: reply[2] as u32,
        })
    }

    /// Lifts the block, then announces the lift to every replica. An announcement that fails
    /// is logged, not returned: the block is lifted, and replicas that missed the notice ask
    /// again within `engine::blocks::TRUST_WHILE_FOLLOWING`.
    pub async fn lift_block(&self, sender: SenderKey, now_ms: u64) -> Result<bool, StoreError> {
        let invocation = self.sender_invocation("unblock", sender, now_ms, None, None, 0, false);
        let lifted = self.run_value::<i64>(&invocation).await? == 1;
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

    /// A call of `lua/sender.lua` with its ARGV in the order its header documents; `recipient`
    /// comes with their time before a reservation being released (0 otherwise).
    #[allow(clippy::too_many_arguments)]
    fn sender_invocation(
        &self,
        op: &str,
        sender: SenderKey,
        now_ms: u64,
        fingerprint: Option<Fingerprint>,
        recipient: Option<(RecipientKey, u64)>,
        release_at_ms: u64,
        at_all: bool,
    ) -> ScriptInvocation<'_> {
        let mut invocation = self.sender_script.prepare_invoke();
        invocation.key(keys::sender_key(&self.prefix, sender));
        invocation
            .arg(op)
            .arg(now_ms)
            .arg(
                fingerprint
                    .map(keys::fingerprint_member)
                    .unwrap_or_default(),
            )
            .arg(
                recipient
                    .map(|(to, _)| keys::recipient_member(to))
                    .unwrap_or_default(),
            )
            .arg(keys::sender_member(sender))
            .arg(release_at_ms)
            .arg(recipient.map_or(0, |(_, previous_ms)| previous_ms))
            .arg(if at_all { "1" } else { "" });
        invocation
    }

    /// A plain command, on whichever connection this store has.
    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, StoreError> {
        match &self.connection {
            Connection::Single(single) => command
                .query_async(&mut single.connection())
                .await
                .map_err(map_error),
            Connection::Cluster(cluster) => command
                .query_async(&mut cluster.connection()?)
                .await
                .map_err(map_error),
        }
    }

    async fn run(&self, invocation: &ScriptInvocation<'_>) -> Result<Vec<i64>, StoreError> {
        self.run_value(invocation).await
    }

    async fn run_value<T: redis::FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let call = async {
            match &self.connection {
                Connection::Single(single) => invocation
                    .invoke_async(&mut single.connection())
                    .await
                    .map_err(map_error),
                Connection::Cluster(cluster) => invocation
                    .invoke_async(&mut cluster.connection()?)
                    .await
                    .map_err(map_error),
            }
        };
        let result = tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(StoreError::Timeout));
        if let Connection::Single(single) = &self.connection {
            single.observe(&result.as_ref().map(drop));
        }
        result
    }
}

/// `{code, retry_ms, limit, window_ms}` as the scripts return a violation.
fn violation(fields: &[i64]) -> Option<Violation> {
    let [code, retry, limit, window] = <[i64; 4]>::try_from(fields).ok()?;
    let rule = Rule::ALL
        .into_iter()
        .find(|r| i64::from(r.err_code()) == code)?;
    let limit = Limit::new(
        limit.clamp(0, i64::from(u32::MAX)) as u32,
        Duration::from_millis(window.max(0) as u64),
    );
    Some(Violation::new(
        rule,
        limit,
        Duration::from_millis(retry.max(0) as u64),
    ))
}

/// The shadow violations: a count at `at`, then that many groups of four.
fn violations(reply: &[i64], at: usize) -> Result<Vec<Violation>, StoreError> {
    let count = *reply.get(at).ok_or_else(|| malformed(reply))? as usize;
    let fields = reply.get(at + 1..).ok_or_else(|| malformed(reply))?;
    if fields.len() != count * 4 {
        return Err(malformed(reply));
    }
    fields
        .chunks(4)
        .map(|group| violation(group).ok_or_else(|| malformed(reply)))
        .collect()
}

fn started_block(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

fn malformed(reply: &[i64]) -> StoreError {
    StoreError::Script(format!("unexpected script reply {reply:?}"))
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
        StoreError::Connection(error.to_string())
    } else if matches!(error.kind(), ErrorKind::Server(_)) {
        StoreError::Script(error.to_string())
    } else {
        StoreError::Other(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demoted_loading_or_cut_off_server_needs_a_new_connection() {
        for text in [
            "ReadOnly: You can't write against a read only replica.",
            "BusyLoading: Redis is loading the dataset in memory",
            "MasterDown: Link with MASTER is down",
        ] {
            assert!(
                needs_new_connection(&StoreError::Script(text.into())),
                "{text}"
            );
        }
        assert!(!needs_new_connection(&StoreError::Script(
            "NOSCRIPT".into()
        )));
        assert!(!needs_new_connection(&StoreError::Timeout));
    }
}
