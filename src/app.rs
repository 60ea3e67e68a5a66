//! Wiring: builds the store, engine and both listeners from a [`Config`], and runs them until a
//! shutdown future resolves. `main` and the tests use the same [`Application::build`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::engine::{Engine, EngineSettings};
use crate::http::connections::ServerLimits;
use crate::http::{self, AppState, wire};
use crate::keywords_file::KeywordFile;
use crate::metrics::Metrics;
use crate::store::{MemoryStore, RedisStore, Store};

/// How often idle senders are forgotten.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(10);
/// How often the shared store is probed: while healthy (so `/readyz` turns 503 within a few
/// seconds of Redis going away, traffic or not), and while degraded (to recover quickly).
const PROBE_HEALTHY_EVERY: Duration = Duration::from_secs(1);
const PROBE_DEGRADED_EVERY: Duration = Duration::from_millis(250);

/// File descriptors kept out of the connection cap: stdio, the two listeners, the runtime's
/// epoll and wake-up descriptors, the Redis sockets (one per node, plus one being replaced),
/// the keyword file while it is reloaded, the `/proc` files read at each scrape, the refused
/// connections still being answered (`REFUSING_AT_ONCE`, 32 per listener) and idle connections
/// shed at the cap that have not closed yet.
pub const RESERVED_FILES: u64 = 128;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr} ({variable}): {source}")]
    Listen {
        variable: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot use the Redis of FLOODGATE_REDIS_URL: {0}")]
    Redis(crate::store::StoreError),
    #[error("cannot use FLOODGATE_KEYWORDS_FILE={path}: {reason}")]
    Keywords { path: String, reason: String },
    #[error(transparent)]
    Upstream(#[from] http::upstream::SetupError),
}

pub struct Application {
    webhook: TcpListener,
    admin: TcpListener,
    state: Arc<AppState>,
    limits: ServerLimits,
    keywords: Option<Arc<KeywordFile>>,
}

impl Application {
    pub async fn build(config: Config, clock: Clock) -> Result<Application, StartError> {
        let policy = Arc::new(config.policy.clone());
        let backends: &[&str] = if config.redis.is_some() {
            &["redis", "memory"]
        } else {
            &["memory"]
        };
        let metrics = Metrics::new(&wire::JUDGED_COMMANDS, backends);
        let memory = Store::Memory(Arc::new(MemoryStore::new(
            policy.clone(),
            config.local_max_senders,
        )));
        // With Redis, the embedded store becomes the fail-open fallback: the replica's own windows.
        let (store, fallback) = match &config.redis {
            None => (memory, None),
            Some(redis) => {
                let prefix = &config.key_prefix;
                let store =
                    RedisStore::connect(redis, prefix, policy.clone(), config.redis_timeout)
                        .await
                        .map_err(StartError::Redis)?;
                (Store::Redis(Arc::new(store)), Some(memory))
            }
        };
        let settings = EngineSettings::from(&config);
        let engine = Engine::new(&settings, policy, store, fallback, clock, metrics.clone());
        let keywords = match &config.keywords_file {
            None => None,
            Some(path) => {
                let rules = engine.content_rules().clone();
                let file =
                    KeywordFile::load_at_start(path, rules, metrics.clone()).map_err(|reason| {
                        StartError::Keywords {
                            path: path.display().to_string(),
                            reason,
                        }
                    })?;
                Some(Arc::new(file))
            }
        };
        let bind = |variable, addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Listen {
                    variable,
                    addr,
                    source,
                })
        };
        let webhook = bind("FLOODGATE_LISTEN", config.listen).await?;
        let admin = bind("FLOODGATE_ADMIN_LISTEN", config.admin_listen).await?;
        let state = Arc::new(AppState {
            engine: Arc::new(engine),
            metrics: metrics.clone(),
            auth_token: config.auth_token.clone(),
            admin_token: config.admin_token.clone(),
            max_body: config.max_body,
            upstream: config
                .upstream
                .as_ref()
                .map(|upstream| http::upstream::Upstream::new(upstream, metrics.clone()))
                .transpose()?,
        });
        let open_files = rlimit::Resource::NOFILE.get().map(|(soft, _)| soft).ok();
        let max_connections = match open_files {
            Some(open_files) => connection_cap(
                config.max_connections,
                open_files,
                config.upstream.is_some(),
            ),
            None => config.max_connections,
        };
        tracing::info!(max_connections, open_files, "connection cap per listener");
        if max_connections < config.max_connections {
            tracing::warn!(
                configured = config.max_connections,
                max_connections,
                open_files,
                "FLOODGATE_MAX_CONNECTIONS lowered to fit the open-file limit (raise the hard \
                 limit: ulimit -Hn, LimitNOFILE=, docker --ulimit nofile=)"
            );
        }
        Ok(Application {
            webhook,
            admin,
            state,
            limits: ServerLimits::new(config.idle_timeout, max_connections),
            keywords,
        })
    }

    /// The deadlines and connection cap each listener applies.
    pub fn limits(&self) -> ServerLimits {
        self.limits
    }

    /// Replaces the deadlines and cap (tests shorten the deadlines this way).
    pub fn with_limits(mut self, limits: ServerLimits) -> Application {
        self.limits = limits;
        self
    }

    /// The keyword list's file, if one is configured (to reload it on SIGHUP).
    pub fn keyword_file(&self) -> Option<Arc<KeywordFile>> {
        self.keywords.clone()
    }

    /// Counts the log lines `dropped` reports in `floodgate_log_lines_dropped_total`.
    pub fn count_dropped_logs(&self, dropped: impl Fn() -> u64 + Send + Sync + 'static) {
        self.state.metrics.count_dropped_logs(dropped);
    }

    pub fn webhook_addr(&self) -> SocketAddr {
        self.webhook
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then stops accepting and finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|&stop| stop).await;
        };

        tokio::spawn(maintain(self.state.engine.clone(), stopped.clone()));
        if let Some(keywords) = self.keywords.clone() {
            tokio::spawn(keywords.watch(until_stopped(stopped.clone())));
        }
        let engine = self.state.engine.clone();
        let follower_stopped = until_stopped(stopped.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = engine.follow_unblocks() => {}
                () = follower_stopped => {}
            }
        });

        // The moderators' lists: records written beside the decisions, and the reported and
        // allowed keys followed across replicas.
        for task in [Task::WriteRecords, Task::FollowModeration] {
            let engine = self.state.engine.clone();
            let task_stopped = until_stopped(stopped.clone());
            tokio::spawn(async move {
                let run = async {
                    match task {
                        Task::WriteRecords => engine.write_records().await,
                        Task::FollowModeration => engine.follow_moderation().await,
                    }
                };
                tokio::select! {
                    () = run => {}
                    () = task_stopped => {}
                }
            });
        }

        let connections = self.state.metrics.connections.clone();
        let webhook = http::server::serve(
            self.webhook,
            http::webhook_router(self.state.clone()),
            self.limits,
            connections.clone(),
            until_stopped(stopped.clone()),
        );
        let admin = http::server::serve(
            self.admin,
            http::admin::router(self.state),
            self.limits,
            connections,
            until_stopped(stopped),
        );
        tokio::join!(webhook, admin);
    }
}

/// The moderation tasks `run_until` spawns.
#[derive(Clone, Copy)]
enum Task {
    WriteRecords,
    FollowModeration,
}

/// The open-file soft limit raised to the hard limit, so that `FLOODGATE_MAX_CONNECTIONS` and
/// not the kernel decides when connections are refused: under the common default of 1024,
/// `accept` fails with EMFILE near a thousand connections and new ones wait unanswered in the
/// backlog. Returns the soft limit before and after.
pub fn raise_open_file_limit() -> std::io::Result<(u64, u64)> {
    let (before, _) = rlimit::Resource::NOFILE.get()?;
    let after = rlimit::increase_nofile_limit(u64::MAX)?;
    Ok((before, after))
}

/// Connections per listener that fit in `open_files` descriptors: both listeners at their cap,
/// one upstream socket per webhook request in flight when an upstream is configured (the pool
/// opens one only when none idles), and [`RESERVED_FILES`] for everything else.
pub fn connection_cap(configured: usize, open_files: u64, upstream: bool) -> usize {
    let per_connection = if upstream { 3 } else { 2 };
    let fit = open_files.saturating_sub(RESERVED_FILES) / per_connection;
    let fit = usize::try_from(fit).unwrap_or(usize::MAX).max(1);
    configured.min(fit)
}

/// Background upkeep until shutdown: probing the shared store, forgetting idle senders.
async fn maintain(engine: Arc<Engine>, mut stopped: watch::Receiver<bool>) {
    let mut last_housekeeping = tokio::time::Instant::now();
    loop {
        let pause = if engine.is_degraded() {
            PROBE_DEGRADED_EVERY
        } else {
            PROBE_HEALTHY_EVERY
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stopped.wait_for(|&stop| stop) => return,
        }
        engine.probe().await;
        if last_housekeeping.elapsed() >= HOUSEKEEPING_EVERY {
            engine.forget_idle();
            last_housekeeping = tokio::time::Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_both_listeners_the_upstream_and_the_reserve() {
        assert_eq!(connection_cap(10_000, 1_048_576, true), 10_000);
        assert_eq!(connection_cap(10_000, 1024, false), (1024 - 128) / 2);
        assert_eq!(connection_cap(10_000, 1024, true), (1024 - 128) / 3);
        assert_eq!(connection_cap(10_000, 100, false), 1, "never zero");
    }
}
