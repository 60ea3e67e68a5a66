//! Start-up configuration: every variable of the README's "Configuration", parsed once into typed values.
//!
//! [`Config::from_vars`] takes the variables as pairs, so tests build a `Config` without touching
//! the process environment; a bad value is a [`ConfigError`] that names the variable and value.

mod parse;
mod upstream;
mod warnings;

pub use warnings::Warning;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::catalogue::RuleMap;
use crate::domains::DomainList;
use crate::policy::{Mode, Policy, RuleModes};

pub use upstream::UpstreamConfig;

/// Every variable floodgate reads, next to its default.
pub mod vars {
    pub const LISTEN: (&str, &str) = ("FLOODGATE_LISTEN", "0.0.0.0:8080");
    pub const ADMIN_LISTEN: (&str, &str) = ("FLOODGATE_ADMIN_LISTEN", "0.0.0.0:9091");
    pub const REDIS_URL: (&str, &str) = ("FLOODGATE_REDIS_URL", "");
    pub const REDIS_CLUSTER: (&str, &str) = ("FLOODGATE_REDIS_CLUSTER", "false");
    pub const REDIS_TIMEOUT: (&str, &str) = ("FLOODGATE_REDIS_TIMEOUT", "50ms");
    pub const KEY_PREFIX: (&str, &str) = ("FLOODGATE_KEY_PREFIX", "fg");
    pub const MODE: (&str, &str) = ("FLOODGATE_MODE", "enforce");
    pub const FAIL_MODE: (&str, &str) = ("FLOODGATE_FAIL_MODE", "open");
    pub const AUTH_TOKEN: (&str, &str) = ("FLOODGATE_AUTH_TOKEN", "");
    pub const ADMIN_TOKEN: (&str, &str) = ("FLOODGATE_ADMIN_TOKEN", "");
    pub const MAX_BODY: (&str, &str) = ("FLOODGATE_MAX_BODY", "256KiB");
    pub const MAX_TEXT: (&str, &str) = ("FLOODGATE_MAX_TEXT", "64KiB");
    pub const REPEAT_MIN_CHARS: (&str, &str) = ("FLOODGATE_REPEAT_MIN_CHARS", "10");
    pub const CAMPAIGN_LIMIT: (&str, &str) = ("FLOODGATE_CAMPAIGN_LIMIT", "5/10m");
    pub const MENTION_LIMIT: (&str, &str) = ("FLOODGATE_MENTION_LIMIT", "10");
    pub const BLOCK_FOR: (&str, &str) = ("FLOODGATE_BLOCK_FOR", "10m");
    pub const BLOCK_MAX: (&str, &str) = ("FLOODGATE_BLOCK_MAX", "24h");
    pub const EXEMPT_SENDERS: (&str, &str) = ("FLOODGATE_EXEMPT_SENDERS", "imAdmin");
    pub const CHECK_SYSTEM: (&str, &str) = ("FLOODGATE_CHECK_SYSTEM", "false");
    pub const CONTACT_MEMORY: (&str, &str) = ("FLOODGATE_CONTACT_MEMORY", "30d");
    pub const GROUP_SEASONING: (&str, &str) = ("FLOODGATE_GROUP_SEASONING", "1h");
    pub const REPLAY_WINDOW: (&str, &str) = ("FLOODGATE_REPLAY_WINDOW", "1m");
    pub const UPSTREAM_URL: (&str, &str) = ("FLOODGATE_UPSTREAM_URL", "");
    pub const UPSTREAM_TIMEOUT: (&str, &str) = ("FLOODGATE_UPSTREAM_TIMEOUT", "5s");
    pub const UPSTREAM_FAIL_MODE: (&str, &str) = ("FLOODGATE_UPSTREAM_FAIL_MODE", "open");
    pub const UPSTREAM_CA: (&str, &str) = ("FLOODGATE_UPSTREAM_CA", "");
    pub const KEYWORDS_FILE: (&str, &str) = ("FLOODGATE_KEYWORDS_FILE", "");
    pub const LINK_DENY: (&str, &str) = ("FLOODGATE_LINK_DENY", "");
    pub const LINK_ALLOW: (&str, &str) = ("FLOODGATE_LINK_ALLOW", "");
    pub const FRIEND_LIMITS: (&str, &str) = ("FLOODGATE_FRIEND_LIMITS", "10/1h,30/1d");
    pub const GROUP_CREATE_LIMITS: (&str, &str) = ("FLOODGATE_GROUP_CREATE_LIMITS", "5/1h,20/1d");
    pub const GROUP_JOIN_LIMITS: (&str, &str) = ("FLOODGATE_GROUP_JOIN_LIMITS", "10/1h,50/1d");
    pub const GROUP_INVITE_LIMIT: (&str, &str) = ("FLOODGATE_GROUP_INVITE_LIMIT", "200/1h");
    pub const GROUP_MEMBERS_LIMITS: (&str, &str) =
        ("FLOODGATE_GROUP_MEMBERS_LIMITS", "500/1h,2000/1d");
    /// Open connections each listener serves at once; lowered to fit the open-file limit.
    pub const MAX_CONNECTIONS: (&str, &str) = ("FLOODGATE_MAX_CONNECTIONS", "10000");
    /// How long an idle keep-alive connection is kept; at least [`super::MIN_IDLE_TIMEOUT`].
    pub const IDLE_TIMEOUT: (&str, &str) = ("FLOODGATE_IDLE_TIMEOUT", "300s");
    pub const LOG: (&str, &str) = ("FLOODGATE_LOG", "info");
    pub const LOG_FORMAT: (&str, &str) = ("FLOODGATE_LOG_FORMAT", "text");
    /// Not in the contract: the memory bound of each replica's own state (README).
    pub const LOCAL_MAX_SENDERS: (&str, &str) = ("FLOODGATE_LOCAL_MAX_SENDERS", "250000");
    /// The rules' thresholds (`FLOODGATE_BURST`, `FLOODGATE_RATE_LIMITS`, …): each with its
    /// default in its rule's catalogue entry.
    pub const THRESHOLDS: [&str; crate::catalogue::THRESHOLD_VARIABLES.len()] =
        crate::catalogue::THRESHOLD_VARIABLES;
    /// Per-rule shadow switches: `FLOODGATE_<RULE>_MODE`.
    pub const RULE_MODES: [&str; crate::catalogue::MODE_VARIABLES.len()] =
        crate::catalogue::MODE_VARIABLES;
    /// Contract variables read by parts of floodgate that other changes are adding: known, so
    /// that setting one ahead of its part is not warned about as a misspelling.
    pub const ANNOUNCED: [&str; 0] = [];
    /// How long a reported key stays reported (moderation, `POST /v1/reports`).
    pub const REPORT_TTL: (&str, &str) = ("FLOODGATE_REPORT_TTL", "7d");
    /// Whether rejected messages' texts are kept for moderators (`on` or `off`).
    pub const SAMPLES: (&str, &str) = ("FLOODGATE_SAMPLES", "on");
    /// Every name above: a `FLOODGATE_*` variable not in it is warned about at start. A unit
    /// test holds it to the README's configuration table, both ways.
    pub const ALL: &[&str] = &join::<{ LISTED.len() + THRESHOLDS.len() + RULE_MODES.len() }>(&[
        LISTED,
        &THRESHOLDS,
        &RULE_MODES,
    ]);
    /// The names above but the rules' thresholds and modes (which the catalogue generates).
    const LISTED: &[&str] = &[
        LISTEN.0,
        ADMIN_LISTEN.0,
        REDIS_URL.0,
        REDIS_CLUSTER.0,
        REDIS_TIMEOUT.0,
        KEY_PREFIX.0,
        MODE.0,
        FAIL_MODE.0,
        AUTH_TOKEN.0,
        ADMIN_TOKEN.0,
        MAX_BODY.0,
        REPEAT_MIN_CHARS.0,
        CAMPAIGN_LIMIT.0,
        MENTION_LIMIT.0,
        BLOCK_FOR.0,
        BLOCK_MAX.0,
        EXEMPT_SENDERS.0,
        CHECK_SYSTEM.0,
        CONTACT_MEMORY.0,
        GROUP_SEASONING.0,
        UPSTREAM_URL.0,
        UPSTREAM_TIMEOUT.0,
        UPSTREAM_FAIL_MODE.0,
        UPSTREAM_CA.0,
        IDLE_TIMEOUT.0,
        KEYWORDS_FILE.0,
        LINK_DENY.0,
        LINK_ALLOW.0,
        FRIEND_LIMITS.0,
        GROUP_CREATE_LIMITS.0,
        GROUP_JOIN_LIMITS.0,
        GROUP_INVITE_LIMIT.0,
        GROUP_MEMBERS_LIMITS.0,
        MAX_TEXT.0,
        REPLAY_WINDOW.0,
        MAX_CONNECTIONS.0,
        LOG.0,
        LOG_FORMAT.0,
        LOCAL_MAX_SENDERS.0,
        REPORT_TTL.0,
        SAMPLES.0,
    ];

    const fn join<const N: usize>(lists: &[&[&'static str]]) -> [&'static str; N] {
        let mut all = [""; N];
        let (mut n, mut list) = (0, 0);
        while list < lists.len() {
            let mut i = 0;
            while i < lists[list].len() {
                all[n] = lists[list][i];
                n += 1;
                i += 1;
            }
            list += 1;
        }
        assert!(n == N, "vars::ALL's length is its lists' lengths");
        all
    }
}

/// A duration written as the variables write them (`10s`, `1d`): for the admin API's bodies.
pub fn duration(text: &str) -> Result<Duration, String> {
    parse::duration(text)
}

/// The shortest `FLOODGATE_IDLE_TIMEOUT`: OpenIM's client never retires an idle connection and
/// does not retry a POST that meets one the server has just closed, so idle connections must
/// outlive OpenIM's quiet spells (docs/openim.md).
pub const MIN_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A variable whose value could not be used; start-up stops with this message.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}{}: {reason}", shown(.value))]
pub struct ConfigError {
    pub variable: &'static str,
    /// `None` for a variable that may hold a secret (a password in a URL, a token): its value
    /// is never echoed, on stderr or anywhere else.
    pub value: Option<String>,
    pub reason: String,
}

fn shown(value: &Option<String>) -> String {
    match value {
        Some(value) => format!("={value:?}"),
        None => " (value not shown: it may hold a secret)".to_string(),
    }
}

/// The variables whose values may hold a secret.
const SECRET_VARIABLES: [&str; 4] = [
    vars::REDIS_URL.0,
    vars::AUTH_TOKEN.0,
    vars::ADMIN_TOKEN.0,
    vars::UPSTREAM_URL.0,
];

/// A secret compared in constant time and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality, so response timing does not leak the token.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// Decide on the replica's embedded store when the shared store cannot answer in time.
    Open,
    /// Reject with 5099 when the shared store cannot answer in time.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the shared state lives. `None` in [`Config::redis`] means the embedded store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// One URL, or the seed nodes of a cluster. May carry a password: never logged whole.
    pub urls: Vec<Secret>,
    pub cluster: bool,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub redis: Option<RedisConfig>,
    pub redis_timeout: Duration,
    pub key_prefix: String,
    pub fail_mode: FailMode,
    pub auth_token: Option<Secret>,
    pub admin_token: Option<Secret>,
    pub max_body: usize,
    /// The longest stretch of one text the rules read, in bytes (cut at a character boundary).
    pub max_text: usize,
    pub policy: Policy,
    pub exempt_senders: HashSet<String>,
    pub check_system: bool,
    pub upstream: Option<UpstreamConfig>,
    /// The keyword list's file; read at start (a file that cannot be read stops start-up) and
    /// again whenever it changes.
    pub keywords_file: Option<std::path::PathBuf>,
    /// Domains whose links are rejected (`FLOODGATE_LINK_DENY`).
    pub link_deny: DomainList,
    /// Domains not denied when more specific than a denied one, and never a campaign key
    /// (`FLOODGATE_LINK_ALLOW`).
    pub link_allow: DomainList,
    /// Connections each listener holds open at once; past it idle ones are closed to make room,
    /// and without one new ones are answered and closed. Clamped below the open-file limit when
    /// the app is built.
    pub max_connections: usize,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Senders (and, separately, fingerprints) the embedded store and the burst limiter hold
    /// at most; beyond it the least recently seen are forgotten.
    pub local_max_senders: usize,
    /// `FLOODGATE_*` variables given that floodgate does not know (see [`Config::warnings`]).
    unknown_variables: Vec<Warning>,
    /// How long a decision is remembered for a retried callback (`off`: not at all).
    pub replay_window: Option<Duration>,
    /// How long a reported campaign key stays reported (`FLOODGATE_REPORT_TTL`).
    pub report_ttl: Duration,
    /// Whether moderators see the text of rejected messages (`FLOODGATE_SAMPLES`).
    pub samples: bool,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars())
    }

    /// Builds a config from `(name, value)` pairs; variables not given take their defaults.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env = Env(vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, _)| k.starts_with("FLOODGATE_"))
            .collect());
        env.build()
    }

    /// What start-up should warn about, in a stable order: unknown `FLOODGATE_*` variables
    /// (sorted by name), then listeners open beyond loopback without their token (from the
    /// fields as they are now).
    pub fn warnings(&self) -> Vec<Warning> {
        let mut all = self.unknown_variables.clone();
        all.extend(warnings::open_listeners(
            self.listen,
            self.auth_token.is_some(),
            self.admin_listen,
            self.admin_token.is_some(),
        ));
        all
    }

    /// Defaults everywhere, listeners on ephemeral loopback ports: the base for tests.
    pub fn for_tests() -> Config {
        let mut config = Config::from_vars(Vec::<(String, String)>::new()).expect("defaults parse");
        config.listen = "127.0.0.1:0".parse().expect("literal address");
        config.admin_listen = "127.0.0.1:0".parse().expect("literal address");
        config
    }
}

struct Env(HashMap<String, String>);

impl Env {
    /// Parses `var` (or its default) with `parse`, naming the variable on failure.
    fn get<T>(
        &self,
        (name, default): (&'static str, &str),
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let value = self.0.get(name).map(String::as_str).unwrap_or(default);
        parse(value).map_err(|reason| ConfigError {
            variable: name,
            value: (!SECRET_VARIABLES.contains(&name)).then(|| value.to_string()),
            reason,
        })
    }

    fn build(&self) -> Result<Config, ConfigError> {
        use parse::*;
        use vars::*;

        let addr = |text: &str| {
            text.trim()
                .parse::<SocketAddr>()
                .map_err(|_| format!("`{text}` is not HOST:PORT with a numeric host"))
        };
        let global_mode = self.get(MODE, mode)?;
        let mut modes = RuleModes::default();
        for (rule, name) in crate::catalogue::mode_variables() {
            let rule_mode = self.get((name, "enforce"), mode)?;
            let rule_mode = match global_mode {
                Mode::Shadow => Mode::Shadow,
                Mode::Enforce => rule_mode,
            };
            modes.set(rule, rule_mode);
        }

        let mut thresholds = RuleMap::default();
        for (rule, threshold) in crate::catalogue::thresholds() {
            let variable = (threshold.variable, threshold.default);
            thresholds[rule] = self.get(variable, |value| threshold.parse(value))?;
        }
        let policy = Policy {
            thresholds,
            repeat_min_chars: self.get(REPEAT_MIN_CHARS, |t| {
                t.trim()
                    .parse()
                    .map_err(|_| format!("`{t}` is not a whole number"))
            })?,
            campaign: self.get(CAMPAIGN_LIMIT, optional_limit)?,
            mention_limit: self.get(MENTION_LIMIT, optional_count)?,
            block_for: self.get(BLOCK_FOR, duration)?,
            block_max: self.get(BLOCK_MAX, duration)?,
            contact_memory: self.get(CONTACT_MEMORY, optional_duration)?,
            group_seasoning: self.get(GROUP_SEASONING, duration)?,
            friend: self.get(FRIEND_LIMITS, limit_list)?,
            group_create: self.get(GROUP_CREATE_LIMITS, limit_list)?,
            group_join: self.get(GROUP_JOIN_LIMITS, limit_list)?,
            group_invite: self.get(GROUP_INVITE_LIMIT, optional_limit)?,
            group_members: self.get(GROUP_MEMBERS_LIMITS, limit_list)?,
            modes,
        };
        if policy.block_max < policy.block_for {
            let value = Some(
                self.0
                    .get(BLOCK_MAX.0)
                    .cloned()
                    .unwrap_or(BLOCK_MAX.1.into()),
            );
            return Err(ConfigError {
                variable: BLOCK_MAX.0,
                value,
                reason: format!(
                    "must not be shorter than {} ({:?})",
                    BLOCK_FOR.0, policy.block_for
                ),
            });
        }

        let mut names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        names.sort_unstable();
        let unknown_variables = warnings::unknown_variables(names.into_iter());

        let cluster = self.get(REDIS_CLUSTER, boolean)?;
        let redis = self.get(REDIS_URL, |text| redis_urls(text, cluster))?;
        Ok(Config {
            listen: self.get(LISTEN, addr)?,
            admin_listen: self.get(ADMIN_LISTEN, addr)?,
            redis,
            redis_timeout: self.get(REDIS_TIMEOUT, duration)?,
            key_prefix: self.get(KEY_PREFIX, key_prefix)?,
            fail_mode: self.get(FAIL_MODE, fail_mode)?,
            auth_token: self.get(AUTH_TOKEN, token)?,
            admin_token: self.get(ADMIN_TOKEN, token)?,
            max_body: self.get(MAX_BODY, size)?,
            max_text: self.get(MAX_TEXT, size)?,
            policy,
            exempt_senders: self.get(EXEMPT_SENDERS, |t| {
                Ok(t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect())
            })?,
            check_system: self.get(CHECK_SYSTEM, boolean)?,
            upstream: self.upstream()?,
            keywords_file: self.get(KEYWORDS_FILE, |t| {
                Ok((!t.trim().is_empty()).then(|| std::path::PathBuf::from(t.trim())))
            })?,
            link_deny: self.get(LINK_DENY, DomainList::parse)?,
            link_allow: self.get(LINK_ALLOW, DomainList::parse)?,
            max_connections: self.get(MAX_CONNECTIONS, |t| match t.trim().parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!("`{t}` is not a whole number of at least 1")),
            })?,
            idle_timeout: self.get(IDLE_TIMEOUT, |t| match duration(t)? {
                d if d >= MIN_IDLE_TIMEOUT => Ok(d),
                _ => Err(format!(
                    "must be at least {}s: OpenIM keeps idle connections and does not retry a \
                     callback sent on one floodgate has just closed",
                    MIN_IDLE_TIMEOUT.as_secs()
                )),
            })?,
            log_filter: self.get(LOG, |t| {
                tracing_subscriber::EnvFilter::try_new(t)
                    .map(|_| t.to_string())
                    .map_err(|error| format!("not a log filter: {error}"))
            })?,
            local_max_senders: self.get(LOCAL_MAX_SENDERS, |t| {
                match t.trim().parse::<usize>() {
                    Ok(n) if n >= 1000 => Ok(n),
                    _ => Err(format!("`{t}` is not a whole number of at least 1000")),
                }
            })?,
            replay_window: self.get(REPLAY_WINDOW, optional_duration)?,
            report_ttl: self.get(REPORT_TTL, duration)?,
            samples: self.get(SAMPLES, |t| match t.trim().to_ascii_lowercase().as_str() {
                "on" => Ok(true),
                "off" => Ok(false),
                _ => Err(format!("`{t}` is not `on` or `off`")),
            })?,
            log_format: self.get(LOG_FORMAT, |t| match t.trim() {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("`{t}` is not `text` or `json`")),
            })?,
            unknown_variables,
        })
    }
}

impl Env {
    fn upstream(&self) -> Result<Option<UpstreamConfig>, ConfigError> {
        use parse::duration;
        use vars::*;
        // Checked even without a URL: a bad value is a mistake whether or not it is used yet.
        let redis_timeout = self.get(REDIS_TIMEOUT, duration)?;
        let timeout = self.get(UPSTREAM_TIMEOUT, |text| {
            upstream::within_openims_cap(duration(text)?, redis_timeout)
        })?;
        let fail_mode = self.get(UPSTREAM_FAIL_MODE, fail_mode)?;
        let extra_roots = self.get(UPSTREAM_CA, upstream::extra_roots)?;
        Ok(self
            .get(UPSTREAM_URL, upstream::target)?
            .map(|target| UpstreamConfig {
                base: target.base,
                query: target.query,
                authorization: target.authorization,
                extra_roots,
                timeout,
                fail_mode,
            }))
    }
}

fn fail_mode(text: &str) -> Result<FailMode, String> {
    match text.trim() {
        "open" => Ok(FailMode::Open),
        "closed" => Ok(FailMode::Closed),
        _ => Err(format!("`{text}` is not `open` or `closed`")),
    }
}

fn redis_urls(text: &str, cluster: bool) -> Result<Option<RedisConfig>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let urls: Vec<&str> = text.split(',').map(str::trim).collect();
    if !cluster && urls.len() > 1 {
        return Err("several URLs need FLOODGATE_REDIS_CLUSTER=true".into());
    }
    for url in &urls {
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) || url.len() <= 9 {
            // The URL may hold a password: describe it without echoing it.
            return Err("each URL must start with redis:// or rediss:// and name a host".into());
        }
    }
    Ok(Some(RedisConfig {
        urls: urls.into_iter().map(Secret::new).collect(),
        cluster,
    }))
}

/// The prefix goes in front of hash tags, so braces would change which slot a key lands in.
fn key_prefix(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '{' && c != '}');
    if ok {
        Ok(text.to_string())
    } else {
        Err("use 1 to 64 printable ASCII characters without `{` or `}`".into())
    }
}

fn token(text: &str) -> Result<Option<Secret>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    // A token travels as a path segment and in a header: keep it to URL-safe characters.
    let ok = text.len() >= 8
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
    if ok {
        Ok(Some(Secret::new(text)))
    } else {
        Err("use at least 8 characters from A-Z a-z 0-9 - . _ ~".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Rule;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_are_the_contracts() {
        let config = config(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(config.admin_listen.to_string(), "0.0.0.0:9091");
        assert_eq!(config.redis, None);
        assert_eq!(config.redis_timeout, Duration::from_millis(50));
        assert_eq!(config.policy, Policy::default());
        assert_eq!(config.max_body, 256 * 1024);
        assert_eq!(config.max_text, 64 * 1024);
        assert!(config.exempt_senders.contains("imAdmin"));
        assert_eq!(config.fail_mode, FailMode::Open);
    }

    #[test]
    fn a_bad_value_names_its_variable_and_value() {
        let error = config(&[("FLOODGATE_RATE_LIMITS", "30/10s,lots")]).unwrap_err();
        assert_eq!(error.variable, "FLOODGATE_RATE_LIMITS");
        let message = error.to_string();
        assert!(
            message.contains("FLOODGATE_RATE_LIMITS") && message.contains("lots"),
            "{message}"
        );
    }

    #[test]
    fn max_text_is_a_size() {
        let sixteen = config(&[("FLOODGATE_MAX_TEXT", "16KiB")]).unwrap();
        assert_eq!(sixteen.max_text, 16 * 1024);
        for bad in ["0", "lots", "64GB"] {
            let error = config(&[("FLOODGATE_MAX_TEXT", bad)]).unwrap_err();
            assert_eq!(error.variable, "FLOODGATE_MAX_TEXT", "{bad}");
        }
    }

    #[test]
    fn every_limit_variable_accepts_off() {
        let config = config(&[
            ("FLOODGATE_BURST", "off"),
            ("FLOODGATE_RATE_LIMITS", "off"),
            ("FLOODGATE_REPEAT_LIMIT", "off"),
            ("FLOODGATE_CAMPAIGN_LIMIT", "off"),
            ("FLOODGATE_FANOUT_LIMIT", "off"),
            ("FLOODGATE_MENTION_LIMIT", "off"),
            ("FLOODGATE_STRIKES", "off"),
        ])
        .unwrap();
        let p = config.policy;
        for rule in [
            Rule::Burst,
            Rule::Rate,
            Rule::Repeat,
            Rule::Fanout,
            Rule::Blocked,
        ] {
            assert!(p.windows(rule).is_empty(), "{}", rule.name());
        }
        assert!(p.campaign.is_none() && p.mention_limit.is_none());
    }

    #[test]
    fn every_threshold_variable_is_read_and_named_in_its_errors() {
        for (rule, threshold) in crate::catalogue::thresholds() {
            let set = config(&[(threshold.variable, "7/3s")]).unwrap();
            let seven = crate::policy::Limit::new(7, Duration::from_secs(3));
            assert_eq!(set.policy.limit(rule), seven, "{}", threshold.variable);
            assert_eq!(set.policy.windows(rule).len(), 1);
            let error = config(&[(threshold.variable, "7 per 3s")]).unwrap_err();
            assert_eq!(error.variable, threshold.variable);
            assert_eq!(
                error.to_string(),
                format!(
                    "invalid {}=\"7 per 3s\": `7 per 3s` is not COUNT/DURATION (for example \
                     30/10s)",
                    threshold.variable
                )
            );
        }
    }

    #[test]
    fn global_shadow_overrides_every_rule_and_rules_can_shadow_alone() {
        let all = config(&[("FLOODGATE_MODE", "shadow")]).unwrap();
        assert_eq!(all.policy.modes, RuleModes::all(Mode::Shadow));
        let one = config(&[("FLOODGATE_REPEAT_MODE", "shadow")]).unwrap();
        assert_eq!(
            one.policy.modes.of(crate::policy::Rule::Repeat),
            Mode::Shadow
        );
        assert_eq!(
            one.policy.modes.of(crate::policy::Rule::Rate),
            Mode::Enforce
        );
    }

    #[test]
    fn redis_urls_are_checked_without_echoing_passwords() {
        let error = config(&[("FLOODGATE_REDIS_URL", "http://:hunter22@x")]).unwrap_err();
        assert!(!error.reason.contains("hunter22"));
        let multi = config(&[("FLOODGATE_REDIS_URL", "redis://a:1,redis://b:2")]);
        assert!(multi.is_err(), "several URLs without cluster mode");
        let cluster = config(&[
            ("FLOODGATE_REDIS_URL", "redis://a:1, redis://b:2"),
            ("FLOODGATE_REDIS_CLUSTER", "true"),
        ])
        .unwrap();
        assert_eq!(cluster.redis.unwrap().urls.len(), 2);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = config(&[("FLOODGATE_AUTH_TOKEN", "s3cret-token")]).unwrap();
        assert!(!format!("{config:?}").contains("s3cret-token"));
        assert!(config.auth_token.unwrap().matches(b"s3cret-token"));
    }

    #[test]
    fn an_idle_timeout_under_two_minutes_is_refused() {
        assert_eq!(config(&[]).unwrap().idle_timeout, Duration::from_secs(300));
        let error = config(&[("FLOODGATE_IDLE_TIMEOUT", "30s")]).unwrap_err();
        assert_eq!(error.variable, "FLOODGATE_IDLE_TIMEOUT");
        assert!(error.to_string().contains("30s"), "{error}");
        let two = config(&[("FLOODGATE_IDLE_TIMEOUT", "2m")]).unwrap();
        assert_eq!(two.idle_timeout, MIN_IDLE_TIMEOUT);
    }

    #[test]
    fn prefixes_with_braces_and_short_tokens_are_refused() {
        assert!(config(&[("FLOODGATE_KEY_PREFIX", "a{b}")]).is_err());
        assert!(config(&[("FLOODGATE_AUTH_TOKEN", "short")]).is_err());
        assert!(config(&[("FLOODGATE_BLOCK_FOR", "2h"), ("FLOODGATE_BLOCK_MAX", "1h")]).is_err());
    }
}
