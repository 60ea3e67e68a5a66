//! Several replicas, one Redis: the rules hold for the whole cluster. Three floodgate processes
//! receive one sender's messages at once, and exactly the limit is admitted — not three times it.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::nginx::Nginx;
use support::replica::Replica;
use support::{
    Backend, GROUP, Reply, SINGLE, SharedStore, TestApp, friend_request_body, single_body,
    wait_for_subscribers,
};
use tokio::task::JoinSet;

struct Cluster {
    /// Owned so that Redis lives exactly as long as the replicas.
    _store: SharedStore,
    replicas: Vec<Replica>,
    client: reqwest::Client,
}

impl Cluster {
    fn start(vars: &[(&str, &str)]) -> Cluster {
        Cluster::start_on(Backend::Redis, vars)
    }

    fn start_on(backend: Backend, vars: &[(&str, &str)]) -> Cluster {
        let store = SharedStore::start(backend);
        let mut all = store.vars();
        all.extend([
            ("FLOODGATE_BURST".into(), "off".into()),
            ("FLOODGATE_RATE_LIMITS".into(), "off".into()),
            // Every body carries one clientMsgID: tests/replay.rs turns replays on.
            ("FLOODGATE_REPLAY_WINDOW".into(), "off".into()),
        ]);
        all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let replicas = (0..3).map(|_| Replica::start(&all)).collect();
        Cluster {
            _store: store,
            replicas,
            client: reqwest::Client::new(),
        }
    }

    /// Sends every body at once, the i-th to `targets[i % targets.len()]`; returns the errCodes.
    async fn race(&self, targets: &[String], bodies: Vec<Value>) -> Vec<i64> {
        let mut requests = JoinSet::new();
        for (i, body) in bodies.into_iter().enumerate() {
            let url = format!("{}/openim/{SINGLE}", targets[i % targets.len()]);
            let client = self.client.clone();
            requests.spawn(async move {
                let response = client.post(url).json(&body).send().await.expect("sent");
                Reply::read(response).await.err_code()
            });
        }
        let mut codes = Vec::new();
        while let Some(code) = requests.join_next().await {
            codes.push(code.expect("request task"));
        }
        codes
    }

    fn webhooks(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.webhook.clone()).collect()
    }

    /// No replica fell back to its local store: every decision above was cluster-wide.
    async fn assert_no_store_errors(&self) {
        for replica in &self.replicas {
            let text = self
                .client
                .get(format!("{}/metrics", replica.admin))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with("floodgate_store_errors_total") && !l.ends_with(" 0")),
                "{text}"
            );
        }
    }
}

fn count(codes: &[i64], code: i64) -> usize {
    codes.iter().filter(|&&c| c == code).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_replicas_admit_exactly_the_rate_limit() {
    let cluster = Cluster::start(&[
        ("FLOODGATE_RATE_LIMITS", "20/1h"),
        ("FLOODGATE_STRIKES", "off"),
    ]);
    let bodies = (0..90)
        .map(|i| single_body("flooder", "victim", &format!("message number {i}")))
        .collect();
    let codes = cluster.race(&cluster.webhooks(), bodies).await;
    assert_eq!(count(&codes, 0), 20, "{codes:?}");
    assert_eq!(count(&codes, 5002), 70, "{codes:?}");
    cluster.assert_no_store_errors().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_nginx_round_robin_exactly_the_rate_limit_is_admitted() {
    let cluster = Cluster::start(&[
        ("FLOODGATE_RATE_LIMITS", "25/1h"),
        ("FLOODGATE_STRIKES", "off"),
    ]);
    let upstreams: Vec<String> = cluster
        .webhooks()
        .iter()
        .map(|w| w.trim_start_matches("http://").to_string())
        .collect();
    let nginx = Nginx::start(&upstreams);
    let bodies = (0..75)
        .map(|i| single_body("flooder", "victim", &format!("message number {i}")))
        .collect();
    let codes = cluster.race(&[nginx.url()], bodies).await;
    assert_eq!(count(&codes, 0), 25, "{codes:?}");
    assert_eq!(count(&codes, 5002), 50, "{codes:?}");
    // Round robin really spread the load: every replica decided some of it.
    for replica in &cluster.replicas {
        let text = cluster
            .client
            .get(format!("{}/metrics", replica.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = text
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "floodgate_decision_seconds_count{{command=\"{SINGLE}\"}}"
                ))
            })
            .unwrap()
            .to_string();
        assert!(!line.ends_with(" 0"), "a replica got nothing: {line}");
    }
    cluster.assert_no_store_errors().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_replicas_admit_exactly_the_repeat_fanout_and_campaign_limits() {
    exact_limits_under_races(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_redis_cluster_racing_replicas_admit_exactly_every_limit() {
    exact_limits_under_races(Backend::Cluster).await;
}

async fn exact_limits_under_races(backend: Backend) {
    let cluster = Cluster::start_on(
        backend,
        &[
            ("FLOODGATE_RATE_LIMITS", "40/1h"),
            ("FLOODGATE_REPEAT_LIMIT", "3/1h"),
            ("FLOODGATE_FANOUT_LIMIT", "5/1h"),
            ("FLOODGATE_CAMPAIGN_LIMIT", "4/1h"),
            ("FLOODGATE_STRIKES", "off"),
        ],
    );
    let targets = cluster.webhooks();

    let flood = (0..60)
        .map(|i| single_body("flooder", "victim", &format!("message number {i}")))
        .collect();
    let codes = cluster.race(&targets, flood).await;
    assert_eq!(count(&codes, 0), 40, "rate: {codes:?}");

    let same = (0..12)
        .map(|_| single_body("repeater", "friend", "the exact same promotional text"))
        .collect();
    let codes = cluster.race(&targets, same).await;
    assert_eq!(count(&codes, 0), 3, "repeat: {codes:?}");
    assert_eq!(count(&codes, 5003), 9, "repeat: {codes:?}");

    let spread = (0..15)
        .map(|i| single_body("spreader", &format!("stranger{i}"), &format!("hi {i}")))
        .collect();
    let codes = cluster.race(&targets, spread).await;
    assert_eq!(count(&codes, 0), 5, "fanout: {codes:?}");
    assert_eq!(count(&codes, 5005), 10, "fanout: {codes:?}");

    let campaign = (0..12)
        .map(|i| {
            // A short text with a payload: one campaign key, the link (t.me: no domain key),
            // to as many recipients as senders (v3: one account is no campaign).
            single_body(
                &format!("bot{i}"),
                &format!("target{i}"),
                "free crypto: t.me/freecrypto",
            )
        })
        .collect();
    let codes = cluster.race(&targets, campaign).await;
    assert_eq!(count(&codes, 0), 4, "campaign: {codes:?}");
    assert_eq!(count(&codes, 5004), 8, "campaign: {codes:?}");
    cluster.assert_no_store_errors().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_replicas_admit_exactly_the_friend_request_limit() {
    let cluster = Cluster::start(&[
        ("FLOODGATE_FRIEND_LIMITS", "10/1h,30/1d"),
        ("FLOODGATE_STRIKES", "off"),
    ]);
    let bodies = (0..60)
        .map(|i| friend_request_body("collector", &format!("stranger{i}"), "hi"))
        .collect();
    let codes = cluster.race(&cluster.webhooks(), bodies).await;
    assert_eq!(count(&codes, 0), 10, "{codes:?}");
    assert_eq!(count(&codes, 5010), 50, "{codes:?}");
    cluster.assert_no_store_errors().await;
}

async fn group_message(client: &reqwest::Client, webhook: &str, mentions: &[&str]) -> i64 {
    let mut body = single_body("mentioner", "", "hello group");
    body["callbackCommand"] = json!(GROUP);
    body["groupID"] = json!("g1");
    body["atUserList"] = json!(mentions);
    let response = client
        .post(format!("{webhook}/openim/{GROUP}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    Reply::read(response).await.err_code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_block_started_on_one_replica_holds_on_all_and_any_replica_lifts_it() {
    let cluster = Cluster::start(&[
        ("FLOODGATE_MENTION_LIMIT", "1"),
        ("FLOODGATE_STRIKES", "2/1h"),
        ("FLOODGATE_BLOCK_FOR", "1h"),
    ]);
    let [a, b, c] = [0, 1, 2].map(|i| cluster.replicas[i].webhook.clone());
    let client = &cluster.client;
    assert_eq!(group_message(client, &a, &["x", "y"]).await, 5007);
    assert_eq!(
        group_message(client, &a, &["x", "y"]).await,
        5007,
        "the strike that starts the block"
    );
    assert_eq!(group_message(client, &b, &[]).await, 5006);
    assert_eq!(group_message(client, &c, &[]).await, 5006);

    let status: Value = client
        .get(format!(
            "{}/v1/senders/mentioner",
            cluster.replicas[1].admin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["blocks"], 1);
    assert!(
        status["blockedForSeconds"].as_u64().unwrap() > 3500,
        "{status}"
    );

    let lifted: Value = client
        .delete(format!(
            "{}/v1/senders/mentioner/block",
            cluster.replicas[2].admin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(lifted, json!({"sendID": "mentioner", "unblocked": true}));
    // Replicas that remember the block forget it on the lift's notice.
    for webhook in [&a, &b, &c] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_message(client, webhook, &[]).await != 0 {
            assert!(
                Instant::now() < deadline,
                "{webhook} still blocks after the lift"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    cluster.assert_no_store_errors().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lift_reaches_a_replica_that_remembers_the_block_at_once() {
    a_lift_reaches_a_replica_that_remembers_the_block(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_redis_cluster_a_lift_reaches_a_replica_that_remembers_the_block_at_once() {
    a_lift_reaches_a_replica_that_remembers_the_block(Backend::Cluster).await;
}

const BLOCK_AT_FIRST_STRIKE: [(&str, &str); 3] = [
    ("FLOODGATE_MENTION_LIMIT", "1"),
    ("FLOODGATE_STRIKES", "1/1h"),
    ("FLOODGATE_BLOCK_FOR", "1h"),
];

/// A blocked sender costs a replica that knows the block no store call, and a lift through
/// another replica still reaches it at once: both clocks stand still, so no expiry can end
/// the remembered block — only the lift's notice.
async fn a_lift_reaches_a_replica_that_remembers_the_block(backend: Backend) {
    let (a, b) = TestApp::pair(backend, &BLOCK_AT_FIRST_STRIKE).await;
    wait_for_subscribers(2, || a.store.subscribers()).await;
    block_remember_and_lift(&a, &b, "spammer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_the_node_it_followed_restarts_a_replica_follows_again() {
    let (mut a, b) = TestApp::pair(Backend::Cluster, &BLOCK_AT_FIRST_STRIKE).await;
    wait_for_subscribers(2, || a.store.subscribers()).await;
    let SharedStore::Cluster(cluster) = &mut a.store else {
        unreachable!()
    };
    let followed = cluster
        .nodes
        .iter()
        .position(|n| support::redis::pubsub_clients(|args| n.cli(args)) > 0)
        .expect("a node with subscribers");
    cluster.nodes[followed].kill();
    cluster.nodes[followed].restart();
    cluster.wait_until_ok();
    wait_for_subscribers(2, || a.store.subscribers()).await;
    // Both replicas decide on the cluster again before the block is set up.
    let deadline = Instant::now() + Duration::from_secs(30);
    for app in [&a, &b] {
        while app.admin_get("/readyz").await.0 != 200
            || app.admin_get("/v1/senders/someone").await.0 != 200
        {
            assert!(Instant::now() < deadline, "the cluster never came back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    block_remember_and_lift(&a, &b, "spammer").await;
}

/// `a` blocks `sender`; `b` learns the block and stops asking the store about it; a lift
/// through `a` reaches `b`.
async fn block_remember_and_lift(a: &TestApp, b: &TestApp, sender: &str) {
    assert_eq!(
        a.group(sender, "g", "hi", &["x", "y"]).await.err_code(),
        5007
    );
    assert_eq!(a.group(sender, "g", "hi", &[]).await.err_code(), 5006);
    assert_eq!(b.group(sender, "g", "hi", &[]).await.err_code(), 5006);
    let calls = a.store.script_calls();
    for _ in 0..3 {
        assert_eq!(b.group(sender, "g", "hi", &[]).await.err_code(), 5006);
    }
    assert_eq!(
        a.store.script_calls(),
        calls,
        "a replica that knows the block asks no store"
    );

    assert_eq!(
        a.unblock(sender).await,
        json!({"sendID": sender, "unblocked": true})
    );
    assert!(a.group(sender, "g", "hi", &[]).await.is_allow());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b.group(sender, "g", "hi", &[]).await.is_allow() {
        assert!(Instant::now() < deadline, "b still blocks after the lift");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
