//! The connections to Redis, which a replica must be able to replace or make late: a
//! standalone connection that hangs or reaches a server that cannot decide is replaced, and a
//! cluster unreachable at start is connected in the background.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;

use super::map_error;
use crate::store::StoreError;

/// The connection to Redis, which a replica must be able to replace: see [`Standalone`] and
/// [`Cluster`].
pub(super) enum Connection {
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
pub(super) struct Standalone {
    client: redis::Client,
    config: ConnectionManagerConfig,
    current: parking_lot::RwLock<ConnectionManager>,
    timeouts_in_a_row: AtomicU32,
    replaced_at: parking_lot::Mutex<Option<std::time::Instant>>,
}

impl Standalone {
    pub(super) fn new(
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

    pub(super) fn connection(&self) -> ConnectionManager {
        self.current.read().clone()
    }

    /// Learns from a call's outcome whether the connection should be replaced.
    pub(super) fn observe(&self, outcome: &Result<(), &StoreError>) {
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
pub(super) struct Cluster {
    client: redis::cluster::ClusterClient,
    current: parking_lot::RwLock<Option<ClusterConnection>>,
    connecting: tokio::sync::Mutex<()>,
    connect_timeout: Duration,
}

impl Cluster {
    pub(super) fn new(client: redis::cluster::ClusterClient, connect_timeout: Duration) -> Cluster {
        Cluster {
            client,
            current: parking_lot::RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
            connect_timeout,
        }
    }

    pub(super) fn is_connected(&self) -> bool {
        self.current.read().is_some()
    }

    pub(super) fn connection(&self) -> Result<ClusterConnection, StoreError> {
        self.current.read().clone().ok_or(StoreError::NotConnected(
            "the Redis Cluster has not answered yet",
        ))
    }

    /// Connects unless connected (or connecting) already.
    pub(super) async fn connect(&self) -> Result<(), StoreError> {
        let Ok(_connecting) = self.connecting.try_lock() else {
            return Err(StoreError::NotConnected("connecting to the Redis Cluster"));
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
    use redis::{ErrorKind, ServerErrorKind};
    let (StoreError::Server(error) | StoreError::Connection(error)) = error else {
        return false;
    };
    matches!(
        error.kind(),
        ErrorKind::Server(
            ServerErrorKind::ReadOnly | ServerErrorKind::BusyLoading | ServerErrorKind::MasterDown
        )
    )
}

/// TCP keepalive (an idle connection to a vanished host is noticed within a minute, not the
/// kernel's two hours) and a user timeout (unacknowledged writes fail after 30 s, not 15 min).
pub(super) fn tcp_settings() -> redis::io::tcp::TcpSettings {
    use redis::io::tcp::socket2::TcpKeepalive;
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(15))
        .with_interval(Duration::from_secs(5))
        .with_retries(3);
    // Nagle's algorithm stays on (the crate's default): with TCP_NODELAY, paired load runs lost
    // 7% of peak throughput to smaller packets (BENCHMARKS.md, "Tried and rejected").
    redis::io::tcp::TcpSettings::default()
        .set_keepalive(keepalive)
        .set_user_timeout(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demoted_loading_or_cut_off_server_needs_a_new_connection() {
        use redis::{ErrorKind, RedisError, ServerErrorKind};
        let server = |kind| StoreError::Server(RedisError::from((ErrorKind::Server(kind), "test")));
        for kind in [
            ServerErrorKind::ReadOnly,
            ServerErrorKind::BusyLoading,
            ServerErrorKind::MasterDown,
        ] {
            assert!(needs_new_connection(&server(kind)), "{kind:?}");
        }
        assert!(!needs_new_connection(&server(ServerErrorKind::NoScript)));
        assert!(!needs_new_connection(&StoreError::Timeout));
    }
}
