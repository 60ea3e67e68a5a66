//! Every metric floodgate exports (README, "Admin listener"), on a registry owned by the app (parallel test apps never share
//! counters). Label values come from closed sets only: never a user ID, fingerprint or free text.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::policy::{Mode, Rule};

/// Decision and store latencies: from 25 µs (an embedded decision) to 1 s (far past any budget).
const LATENCY_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0,
];

/// Upstream latencies: a call on a warm connection (~0.1 ms) to OpenIM's own 15 s cap.
const UPSTREAM_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 15.0,
];

/// A metric registered once in `registry`; the names and labels are this module's own, so a
/// failure is a bug found by the first test that builds `Metrics`.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

/// Log lines dropped by the lossy log writer, read from it at each scrape.
struct LogDrops {
    counter: IntCounter,
    source: std::sync::OnceLock<Box<dyn Fn() -> u64 + Send + Sync>>,
    reported: parking_lot::Mutex<u64>,
}

/// The verdict label of `floodgate_callbacks_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Reject,
    ShadowReject,
    Invalid,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Allow,
        Verdict::Reject,
        Verdict::ShadowReject,
        Verdict::Invalid,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Reject => "reject",
            Verdict::ShadowReject => "shadow_reject",
            Verdict::Invalid => "invalid",
        }
    }
}

/// The store operations timed by `floodgate_store_seconds`.
const STORE_OPS: [&str; 2] = ["check_message", "strike"];

/// Series resolved once at start-up: a labelled lookup hashes the labels under a lock, which
/// the hot path would otherwise pay several times per callback.
struct Hot {
    commands: Vec<HotCommand>,
    rejections: Vec<[IntCounter; 2]>,
    store_seconds: Vec<(&'static str, &'static str, Histogram)>,
}

struct HotCommand {
    name: &'static str,
    verdicts: [IntCounter; 4],
    decision_seconds: Histogram,
}

#[derive(Clone)]
pub struct Metrics {
    hot: std::sync::Arc<Hot>,
    registry: Registry,
    callbacks: IntCounterVec,
    decision_seconds: HistogramVec,
    store_seconds: HistogramVec,
    store_errors: IntCounterVec,
    upstream_seconds: [Histogram; 2],
    log_drops: std::sync::Arc<LogDrops>,
    reloads: IntCounterVec,
    /// Entries of the keyword list in force.
    pub keywords: IntGauge,
    upstream_errors: IntCounterVec,
    pub degraded: IntGauge,
    pub blocks: IntCounter,
    pub tracked_senders: IntGauge,
    /// `floodgate_connections` and `floodgate_connections_shed_total`, for both listeners.
    pub connections: ConnectionMetrics,
    /// Retried callbacks answered from their first decision (`FLOODGATE_REPLAY_WINDOW`).
    pub replays: IntCounter,
    /// Moderator actions, by `ModerationAction`.
    moderation_actions: [IntCounter; 5],
    /// Reported keys in force (set at each scrape).
    pub reported_keys: IntGauge,
    /// Moderation records (rejections, campaign senders, blocks) not written: the queue was
    /// full or the store failed.
    pub moderation_records_dropped: IntCounter,
}

/// The `action` label of `floodgate_moderation_actions_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModerationAction {
    Block,
    Lift,
    Report,
    Allow,
    Unallow,
}

impl ModerationAction {
    pub const ALL: [ModerationAction; 5] = [
        ModerationAction::Block,
        ModerationAction::Lift,
        ModerationAction::Report,
        ModerationAction::Allow,
        ModerationAction::Unallow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModerationAction::Block => "block",
            ModerationAction::Lift => "lift",
            ModerationAction::Report => "report",
            ModerationAction::Allow => "allow",
            ModerationAction::Unallow => "unallow",
        }
    }
}

/// The series of the connection layer, resolved once: they change on every request.
#[derive(Clone)]
pub struct ConnectionMetrics {
    /// Open connections with a request in some phase (head, body, handling, reply).
    pub active: IntGauge,
    /// Open connections waiting between requests.
    pub idle: IntGauge,
    shed: [IntCounter; 3],
}

/// Why a connection was closed by floodgate rather than by its client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shed {
    /// An idle connection closed to make room for a new one at `FLOODGATE_MAX_CONNECTIONS`.
    Idle,
    /// A new connection refused (answered "deliver") at the cap, no idle one to close.
    Cap,
    /// A request's head, body or reply took longer than its deadline.
    Deadline,
}

impl Shed {
    const ALL: [Shed; 3] = [Shed::Idle, Shed::Cap, Shed::Deadline];

    fn name(self) -> &'static str {
        match self {
            Shed::Idle => "idle",
            Shed::Cap => "cap",
            Shed::Deadline => "deadline",
        }
    }
}

impl ConnectionMetrics {
    pub fn shed(&self, reason: Shed) {
        self.shed[reason as usize].inc();
    }
}

impl Metrics {
    /// `commands` and `backends`: the label values to export at 0 from start-up.
    pub fn new(commands: &[&'static str], backends: &[&'static str]) -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("unique metric");
            metric
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            let metric = HistogramVec::new(opts, labels).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("unique metric");
            metric
        };
        let gauge = |name: &str, help: &str| {
            let metric = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("unique metric");
            metric
        };

        let callbacks = counter(
            "floodgate_callbacks_total",
            "Callbacks answered, by command and verdict.",
            &["command", "verdict"],
        );
        let rejections = counter(
            "floodgate_rejections_total",
            "Messages rejected (mode=enforce) or that would have been (mode=shadow), by rule.",
            &["rule", "mode"],
        );
        let decision_seconds = histogram(
            "floodgate_decision_seconds",
            "Time to decide one callback.",
            &["command"],
        );
        let store_seconds = histogram(
            "floodgate_store_seconds",
            "Time of one store operation.",
            &["backend", "op"],
        );
        let store_errors = counter(
            "floodgate_store_errors_total",
            "Store operations that failed, by kind.",
            &["backend", "kind"],
        );
        let upstream_seconds = registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "floodgate_upstream_seconds",
                    "Time of one call to the operator's webhook (FLOODGATE_UPSTREAM_URL).",
                )
                .buckets(UPSTREAM_BUCKETS.to_vec()),
                &["outcome"],
            ),
        );
        let upstream_errors = counter(
            "floodgate_upstream_errors_total",
            "Calls to the operator's webhook that failed, by kind.",
            &["kind"],
        );
        for kind in ["timeout", "connection", "invalid"] {
            upstream_errors.with_label_values(&[kind]);
        }
        let log_drops = registered(
            &registry,
            IntCounter::new(
                "floodgate_log_lines_dropped_total",
                "Log lines dropped because the log writer fell behind (never blocks a callback).",
            ),
        );
        let reloads = counter(
            "floodgate_reloads_total",
            "Reloads of the keyword list, by result.",
            &["result"],
        );
        for result in ["ok", "error"] {
            reloads.with_label_values(&[result]);
        }
        let keywords = gauge(
            "floodgate_keywords",
            "Entries of the keyword list in force.",
        );
        let degraded = gauge(
            "floodgate_degraded",
            "1 while this replica decides on its local fallback store.",
        );
        let blocks = registered(
            &registry,
            IntCounter::new("floodgate_blocks_total", "Blocks started."),
        );
        let replays = registered(
            &registry,
            IntCounter::new(
                "floodgate_replays_total",
                "Retried callbacks answered from the first decision.",
            ),
        );
        let moderation_actions = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "floodgate_moderation_actions_total",
                    "Moderator actions through the admin API, by action.",
                ),
                &["action"],
            ),
        );
        let moderation_actions =
            ModerationAction::ALL.map(|a| moderation_actions.with_label_values(&[a.name()]));
        let reported_keys = gauge(
            "floodgate_reported_keys",
            "Campaign keys reported by moderators and in force.",
        );
        let moderation_records_dropped = registered(
            &registry,
            IntCounter::new(
                "floodgate_moderation_records_dropped_total",
                "Moderation records (rejections, campaign senders, blocks) dropped: queue full or store unavailable.",
            ),
        );
        let tracked_senders = gauge(
            "floodgate_tracked_senders",
            "Senders held by this replica's in-process burst limiter.",
        );
        let connections = registered(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "floodgate_connections",
                    "Open connections of both listeners, by state (active: a request in some phase; idle: between requests).",
                ),
                &["state"],
            ),
        );
        let shed = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "floodgate_connections_shed_total",
                    "Connections floodgate closed or refused, by reason (idle: closed to make room at the cap; cap: refused at the cap; deadline: a request's head, body or reply too slow).",
                ),
                &["reason"],
            ),
        );
        let connections = ConnectionMetrics {
            active: connections.with_label_values(&["active"]),
            idle: connections.with_label_values(&["idle"]),
            shed: Shed::ALL.map(|reason| shed.with_label_values(&[reason.name()])),
        };
        let build_info = IntGaugeVec::new(
            Opts::new(
                "floodgate_build_info",
                "Always 1; the version label tells the build.",
            ),
            &["version"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(build_info.clone()))
            .expect("unique metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric");

        // Closed label sets start at 0, so dashboards show 0 rather than "no data".
        let hot = Hot {
            commands: commands
                .iter()
                .map(|&name| HotCommand {
                    name,
                    verdicts: Verdict::ALL.map(|v| callbacks.with_label_values(&[name, v.name()])),
                    decision_seconds: decision_seconds.with_label_values(&[name]),
                })
                .collect(),
            rejections: Rule::ALL
                .iter()
                .map(|rule| {
                    [Mode::Enforce, Mode::Shadow]
                        .map(|m| rejections.with_label_values(&[rule.name(), m.name()]))
                })
                .collect(),
            store_seconds: backends
                .iter()
                .flat_map(|&backend| STORE_OPS.map(|op| (backend, op)))
                .map(|(backend, op)| (backend, op, store_seconds.with_label_values(&[backend, op])))
                .collect(),
        };
        for backend in backends {
            for kind in ["timeout", "connection", "script", "other"] {
                store_errors.with_label_values(&[backend, kind]);
            }
        }

        Metrics {
            hot: std::sync::Arc::new(hot),
            registry,
            callbacks,
            decision_seconds,
            store_seconds,
            store_errors,
            upstream_seconds: ["ok", "error"].map(|o| upstream_seconds.with_label_values(&[o])),
            upstream_errors,
            log_drops: std::sync::Arc::new(LogDrops {
                counter: log_drops,
                source: std::sync::OnceLock::new(),
                reported: parking_lot::Mutex::new(0),
            }),
            reloads,
            keywords,
            degraded,
            blocks,
            tracked_senders,
            connections,
            replays,
            moderation_actions,
            reported_keys,
            moderation_records_dropped,
        }
    }

    pub fn moderation_action(&self, action: ModerationAction) {
        self.moderation_actions[action as usize].inc();
    }

    fn hot_command(&self, command: &str) -> Option<&HotCommand> {
        self.hot.commands.iter().find(|hot| hot.name == command)
    }

    pub fn callback(&self, command: &str, verdict: Verdict) {
        match self.hot_command(command) {
            Some(hot) => hot.verdicts[verdict as usize].inc(),
            None => self
                .callbacks
                .with_label_values(&[command, verdict.name()])
                .inc(),
        }
    }

    pub fn rejection(&self, rule: Rule, mode: Mode) {
        let index = Rule::ALL.iter().position(|&r| r == rule).unwrap_or(0);
        self.hot.rejections[index][mode as usize].inc();
    }

    pub fn decision_time(&self, command: &str) -> Histogram {
        match self.hot_command(command) {
            Some(hot) => hot.decision_seconds.clone(),
            None => self.decision_seconds.with_label_values(&[command]),
        }
    }

    pub fn store_time(&self, backend: &str, op: &str) -> Histogram {
        let hot = self
            .hot
            .store_seconds
            .iter()
            .find(|(b, o, _)| *b == backend && *o == op);
        match hot {
            Some((_, _, histogram)) => histogram.clone(),
            None => self.store_seconds.with_label_values(&[backend, op]),
        }
    }

    pub fn store_error(&self, backend: &str, kind: &str) {
        self.store_errors.with_label_values(&[backend, kind]).inc();
    }

    /// `outcome`: `ok` or `error`.
    pub fn upstream_seconds(&self, outcome: &str) -> &Histogram {
        &self.upstream_seconds[usize::from(outcome != "ok")]
    }

    pub fn upstream_error(&self, kind: &str) {
        self.upstream_errors.with_label_values(&[kind]).inc();
    }

    /// `result`: `ok` or `error`.
    pub fn reload(&self, result: &str) {
        self.reloads.with_label_values(&[result]).inc();
    }

    /// Where `floodgate_log_lines_dropped_total` is read from (the log writer); set once.
    pub fn count_dropped_logs(&self, dropped: impl Fn() -> u64 + Send + Sync + 'static) {
        let _ = self.log_drops.source.set(Box::new(dropped));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        if let Some(source) = self.log_drops.source.get() {
            let now = source();
            let mut reported = self.log_drops.reported.lock();
            self.log_drops.counter.inc_by(now.saturating_sub(*reported));
            *reported = (*reported).max(now);
        }
        let mut out = Vec::new();
        let families = self.registry.gather();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&families, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
