//! `TestApp`: the real floodgate on ephemeral loopback ports, driven over HTTP, with a clock the
//! test moves. Each test gets its own app, store and metrics registry: nothing is shared.

#![allow(dead_code)]
// each test binary uses a different part of the harness
// A test binary is a crate of its own: `pub` here is for its test files, not an API.
#![allow(unreachable_pub)]

pub mod nginx;
pub mod prometheus;
pub mod proxy;
pub mod redis;
pub mod replica;
pub mod upstream;

/// Every case runs on the embedded store, a real Redis and a 3-node Redis Cluster, unchanged.
#[allow(unused_macros)] // used by the files that `#[macro_use]` this module
macro_rules! on_every_store {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Backend::Memory).await.assert_store_healthy().await
            })*
        }
        mod redis {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Backend::Redis).await.assert_store_healthy().await
            })*
        }
        mod redis_cluster {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Backend::Cluster).await.assert_store_healthy().await
            })*
        }
    };
}

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use floodgate::app::Application;
use floodgate::clock::{Clock, ManualClock};
use floodgate::config::Config;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const SINGLE: &str = "callbackBeforeSendSingleMsgCommand";
pub const GROUP: &str = "callbackBeforeSendGroupMsgCommand";

/// Where the app under test keeps its shared state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
    Cluster,
}

/// The Redis a test app owns, stopped with it.
pub enum SharedStore {
    None,
    Redis(redis::RedisServer),
    Cluster(redis::RedisCluster),
}

impl SharedStore {
    pub fn start(backend: Backend) -> SharedStore {
        match backend {
            Backend::Memory => SharedStore::None,
            Backend::Redis => SharedStore::Redis(redis::RedisServer::start()),
            Backend::Cluster => SharedStore::Cluster(redis::RedisCluster::start()),
        }
    }

    /// The variables that point an app at this store, with a key prefix of its own.
    pub fn vars(&self) -> Vec<(String, String)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let prefix = format!(
            "t{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut vars = vec![
            ("FLOODGATE_KEY_PREFIX".to_string(), prefix),
            // Generous: a debug build on two shared cores must not fall back by accident.
            ("FLOODGATE_REDIS_TIMEOUT".to_string(), "2s".to_string()),
        ];
        match self {
            SharedStore::None => vars.clear(),
            SharedStore::Redis(server) => vars.push(("FLOODGATE_REDIS_URL".into(), server.url())),
            SharedStore::Cluster(cluster) => {
                vars.push(("FLOODGATE_REDIS_URL".into(), cluster.urls()));
                vars.push(("FLOODGATE_REDIS_CLUSTER".into(), "true".into()));
            }
        }
        vars
    }
}

impl SharedStore {
    /// Runs a redis-cli command on every Redis node; their outputs.
    pub fn cli_each(&self, args: &[&str]) -> Vec<String> {
        match self {
            SharedStore::None => Vec::new(),
            SharedStore::Redis(server) => vec![server.cli(args)],
            SharedStore::Cluster(cluster) => cluster.nodes.iter().map(|n| n.cli(args)).collect(),
        }
    }

    /// Connections subscribed to a channel (replicas following the unblock notices), over
    /// every node.
    pub fn subscribers(&self) -> usize {
        match self {
            SharedStore::None => 0,
            SharedStore::Redis(server) => redis::pubsub_clients(|args| server.cli(args)),
            SharedStore::Cluster(cluster) => cluster
                .nodes
                .iter()
                .map(|n| redis::pubsub_clients(|args| n.cli(args)))
                .sum(),
        }
    }

    /// Script calls the store has served, summed over its nodes (`INFO commandstats`).
    pub fn script_calls(&self) -> u64 {
        self.cli_each(&["INFO", "commandstats"])
            .iter()
            .map(|text| SharedStore::count_script_calls(text))
            .sum()
    }

    /// The calls of floodgate's programs (FCALL, or EVALSHA where the server has no
    /// Functions) in one node's `INFO commandstats`.
    pub fn count_script_calls(commandstats: &str) -> u64 {
        commandstats
            .lines()
            .filter_map(|line| {
                line.strip_prefix("cmdstat_fcall:calls=")
                    .or_else(|| line.strip_prefix("cmdstat_evalsha:calls="))
            })
            .map(|rest| rest.split(',').next().unwrap().parse::<u64>().unwrap())
            .sum()
    }
}

/// Pub/Sub subscriptions each replica holds: the unblock notices and the moderation notices
/// (reports and allowances), one connection each.
pub const SUBSCRIPTIONS_PER_REPLICA: usize = 2;

/// Waits until `subscribers()` counts every subscription of `replicas` replicas (Pub/Sub keeps
/// nothing for a subscriber that comes later, so a test about notices starts here); 10 s at
/// most.
pub async fn wait_for_subscribers(replicas: usize, subscribers: impl Fn() -> usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while subscribers() < replicas * SUBSCRIPTIONS_PER_REPLICA {
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than {replicas} replicas follow the unblock notices"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct TestApp {
    pub store: SharedStore,
    pub webhook: String,
    pub admin: String,
    pub clock: ManualClock,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

/// A callback's reply: HTTP status and the JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn err_code(&self) -> i64 {
        self.body["errCode"]
            .as_i64()
            .expect("errCode is an integer")
    }

    pub fn is_allow(&self) -> bool {
        self.status == 200 && self.body == allow_body()
    }

    pub fn detail(&self) -> &str {
        self.body["errDlt"].as_str().unwrap_or("")
    }
}

pub fn allow_body() -> Value {
    json!({"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0})
}

impl TestApp {
    /// Defaults, with every burst and rate limit off unless `vars` sets it, so each test
    /// isolates the rule it is about.
    pub async fn with_vars(vars: &[(&str, &str)]) -> TestApp {
        TestApp::on(Backend::Memory, vars).await
    }

    /// Like [`with_vars`](Self::with_vars), on a store of `backend` started for this app.
    pub async fn on(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
        let store = SharedStore::start(backend);
        let config = TestApp::config(&store, vars);
        TestApp::spawn(config, store).await
    }

    /// Two replicas on one store of `backend`: the same configuration and key prefix, a clock
    /// each. The first owns the store.
    pub async fn pair(backend: Backend, vars: &[(&str, &str)]) -> (TestApp, TestApp) {
        let store = SharedStore::start(backend);
        let config = TestApp::config(&store, vars);
        let second = TestApp::spawn(config.clone(), SharedStore::None).await;
        (TestApp::spawn(config, store).await, second)
    }

    fn config(store: &SharedStore, vars: &[(&str, &str)]) -> Config {
        let mut all: Vec<(String, String)> = [
            ("FLOODGATE_BURST", "off"),
            ("FLOODGATE_RATE_LIMITS", "off"),
            // Every test body carries the same `clientMsgID`: tests/replay.rs turns this on.
            ("FLOODGATE_REPLAY_WINDOW", "off"),
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        all.extend(store.vars());
        all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_vars(all).expect("test config is valid")
    }

    pub async fn spawn(config: Config, store: SharedStore) -> TestApp {
        init_test_logging();
        let clock = ManualClock::default();
        let app = Application::build(config, Clock::Manual(clock.clone()))
            .await
            .expect("app starts");
        let webhook = format!("http://{}", app.webhook_addr());
        let admin = format!("http://{}", app.admin_addr());
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        TestApp {
            store,
            webhook,
            admin,
            clock,
            client: reqwest::Client::new(),
            stop: Some(stop),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// POSTs `body` (any bytes) to `path` on the webhook listener.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        let response = self
            .client
            .post(format!("{}{path}", self.webhook))
            .header("content-type", "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
            .expect("request sent");
        Reply::read(response).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, serde_json::to_vec(body).expect("json"))
            .await
    }

    /// A one-to-one text message as OpenIM v3.8 sends it.
    pub async fn single(&self, from: &str, to: &str, text: &str) -> Reply {
        self.post(
            &format!("/callbackExample/{SINGLE}"),
            &single_body(from, to, text),
        )
        .await
    }

    /// A group text message mentioning `mentions`.
    pub async fn group(&self, from: &str, group: &str, text: &str, mentions: &[&str]) -> Reply {
        let mut body = single_body(from, "", text);
        body["callbackCommand"] = json!(GROUP);
        body["sessionType"] = json!(3);
        body["groupID"] = json!(group);
        body["atUserList"] = if mentions.is_empty() {
            Value::Null
        } else {
            json!(mentions)
        };
        body.as_object_mut().expect("object").remove("recvID");
        self.post(&format!("/callbackExample/{GROUP}"), &body).await
    }

    /// Any callback whose body names its command, at that command's path.
    pub async fn callback(&self, body: &Value) -> Reply {
        let command = body["callbackCommand"].as_str().expect("a command");
        self.post(&format!("/callbackExample/{command}"), body)
            .await
    }

    pub async fn metrics(&self) -> String {
        self.admin_get("/metrics").await.1
    }

    /// The value of one metric series, e.g. `floodgate_rejections_total{mode="enforce",rule="rate"}`.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
    }

    /// The store answered every call: no errors, and (on Redis) decisions really went there,
    /// not to the fail-open fallback that would give the same answers.
    pub async fn assert_store_healthy(&self) {
        let text = self.metrics().await;
        let errors: f64 = text
            .lines()
            .filter(|l| l.starts_with("floodgate_store_errors_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(errors, 0.0, "store errors:\n{text}");
        if !matches!(self.store, SharedStore::None) {
            let memory = "floodgate_store_seconds_count{backend=\"memory\"";
            let fallback_used = text
                .lines()
                .any(|l| l.starts_with(memory) && !l.ends_with(" 0"));
            assert!(!fallback_used, "decided on the fallback:\n{text}");
        }
    }

    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.admin))
            .send()
            .await
            .expect("sent");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }

    pub async fn sender(&self, id: &str) -> Value {
        let (status, body) = self.admin_get(&format!("/v1/senders/{id}")).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("json")
    }

    pub async fn unblock(&self, id: &str) -> Value {
        let response = self
            .client
            .delete(format!("{}/v1/senders/{id}/block", self.admin))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.expect("json")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let text = response.text().await.expect("body");
        assert_eq!(content_type, "application/json", "status {status}: {text}");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        Reply { status, body }
    }
}

pub fn single_body(from: &str, to: &str, text: &str) -> Value {
    json!({
        "sendID": from,
        "callbackCommand": SINGLE,
        "serverMsgID": "5f1c0e9b8a7d6c5b4a392817",
        "clientMsgID": "c0ffee",
        "operationID": "op-1",
        "senderPlatformID": 1,
        "senderNickname": from,
        "sessionType": 1,
        "msgFrom": 100,
        "contentType": 101,
        "status": 1,
        "sendTime": 1767225600000i64,
        "createTime": 1767225600000i64,
        "content": json!({"content": text}).to_string(),
        "seq": 0,
        "atUserList": null,
        "faceURL": "",
        "ex": "",
        "recvID": to
    })
}

/// A keyword list file of its own (removed with the temp dir).
pub fn keyword_file(text: &str) -> std::path::PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "floodgate-keywords-{}-{}.txt",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// A friend request as OpenIM sends it (`callbackBeforeAddFriendCommand`).
pub fn friend_request_body(from: &str, to: &str, text: &str) -> Value {
    json!({
        "callbackCommand": "callbackBeforeAddFriendCommand",
        "fromUserID": from,
        "toUserID": to,
        "reqMsg": text,
        "ex": ""
    })
}

/// A group created from OpenIM's client SDK: the creator is named, the owner is not.
pub fn create_group_body(creator: &str, name: &str) -> Value {
    json!({
        "operationID": "op-create",
        "callbackCommand": "callbackBeforeCreateGroupCommand",
        "groupID": "",
        "groupName": name,
        "notification": "",
        "introduction": "",
        "faceURL": "",
        "ownerUserID": "",
        "ex": "",
        "status": 0,
        "creatorUserID": creator,
        "groupType": 2,
        "needVerification": 0,
        "lookMemberInfo": 0,
        "applyMemberFriend": 0,
        "initMemberList": [{"userID": creator, "roleLevel": 100}, {"userID": "m1", "roleLevel": 20}]
    })
}

/// An application to join a group (`groupType` as OpenIM sends it: a control character).
pub fn join_group_body(applicant: &str, group: &str, text: &str) -> Value {
    json!({
        "callbackCommand": "callbackBeforeJoinGroupCommand",
        "groupID": group,
        "groupType": "\u{2}",
        "applyID": applicant,
        "reqMessage": text,
        "ex": ""
    })
}

/// An invitation of `invitees` users into `group` (no inviter is named).
pub fn invite_body(group: &str, invitees: usize) -> Value {
    let ids: Vec<String> = (0..invitees).map(|i| format!("invitee{i}")).collect();
    json!({
        "operationID": "op-invite",
        "callbackCommand": "callbackBeforeInviteJoinGroupCommand",
        "groupID": group,
        "reason": "",
        "invitedUserIDs": ids
    })
}

/// A profile edit; `ex` sends the Ex command's wrapper objects.
pub fn update_user_body(user: &str, nickname: &str, ex: bool) -> Value {
    if ex {
        json!({
            "callbackCommand": "callbackBeforeUpdateUserInfoExCommand",
            "userID": user,
            "nickName": {"value": nickname},
            "faceURL": null,
            "ex": null
        })
    } else {
        json!({
            "callbackCommand": "callbackBeforeUpdateUserInfoCommand",
            "userID": user,
            "nickName": nickname,
            "faceURL": "",
            "ex": ""
        })
    }
}

/// Logs only when `TEST_LOG` is set.
fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_test_writer()
            .try_init();
    }
}
