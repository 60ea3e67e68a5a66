//! Moderation (README, "Moderation"): what floodgate stopped, the campaigns and blocks in force,
//! and the moderators' actions — block, lift, report (5012), allow — with their audit trail, on
//! every store; two replicas on one Redis (standalone and cluster) see each other's actions at
//! once; every endpoint needs the admin token.
//!
//! The lists are written beside the decisions by a background task, so a test that reads one
//! polls it until it shows what was sent (with a deadline), never sleeps.

#[macro_use]
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Backend, TestApp};

const TOKEN: &str = "moderator-token-1";
const SPAM: &str = "Huge discounts today only, order now at spamshop.xyz/promo before it ends";

fn vars<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![
        ("FLOODGATE_ADMIN_TOKEN", TOKEN),
        ("FLOODGATE_CAMPAIGN_LIMIT", "2/10m"),
    ];
    all.extend_from_slice(extra);
    all
}

async fn app(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    TestApp::on(backend, &vars(extra)).await
}

/// An admin call with the token: its status and JSON body.
async fn admin(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    admin_as(app, Some(TOKEN), method, path, body).await
}

async fn admin_as(
    app: &TestApp,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = app.client.request(method, format!("{}{path}", app.admin));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `path` until `done` accepts its body; 10 s at most.
async fn eventually(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = admin(app, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never showed it: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn len(body: &Value, list: &str) -> usize {
    body[list].as_array().map_or(0, Vec::len)
}

/// Three strangers send the spam to three recipients: the third is over the campaign limit.
async fn campaign_of_three(app: &TestApp) {
    for i in 0..3 {
        let reply = app
            .single(&format!("spammer{i}"), &format!("victim{i}"), SPAM)
            .await;
        let expected = if i < 2 { 0 } else { 5004 };
        assert_eq!(reply.err_code(), expected, "copy {i}: {:?}", reply.body);
    }
}

async fn rejections_are_listed_with_rule_detail_keys_and_text(backend: Backend) -> TestApp {
    let app = app(backend, &[]).await;
    campaign_of_three(&app).await;
    let body = eventually(&app, "/v1/rejections", |b| len(b, "rejections") == 1).await;
    let rejection = &body["rejections"][0];
    assert_eq!(rejection["rule"], "campaign");
    assert_eq!(rejection["errCode"], 5004);
    assert_eq!(rejection["sendID"], "spammer2");
    assert_eq!(rejection["recvID"], "victim2");
    assert_eq!(rejection["command"], support::SINGLE);
    assert_eq!(rejection["text"], SPAM);
    assert!(
        rejection["detail"]
            .as_str()
            .unwrap()
            .contains("limit 2 per 10m")
    );
    assert!(rejection["at"].as_u64().unwrap() > 1_700_000_000_000);
    let keys = rejection["keys"].as_array().unwrap();
    let link = keys
        .iter()
        .find(|k| k["kind"] == "link")
        .expect("a link key");
    assert_eq!(link["display"], "spamshop.xyz/promo");
    // A near-duplicate's sample is the rejection's own text; the campaigns list shows it.
    let sample = keys.iter().find(|k| k["kind"] == "near-duplicate");
    assert_eq!(sample.expect("a near-duplicate key")["display"], "");
    let campaigns = eventually(&app, "/v1/campaigns", |b| len(b, "campaigns") > 0).await;
    let near = campaigns["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "near-duplicate")
        .expect("a near-duplicate key")
        .clone();
    assert_eq!(near["display"], SPAM);

    // Filters.
    let (_, rate) = admin(&app, "GET", "/v1/rejections?rule=rate", None).await;
    assert_eq!(len(&rate, "rejections"), 0);
    let (_, campaign) = admin(&app, "GET", "/v1/rejections?rule=campaign", None).await;
    assert_eq!(len(&campaign, "rejections"), 1);
    let (_, other) = admin(&app, "GET", "/v1/rejections?sendID=spammer0", None).await;
    assert_eq!(len(&other, "rejections"), 0);
    app
}

async fn without_samples_no_text_is_kept(backend: Backend) -> TestApp {
    let app = app(backend, &[("FLOODGATE_SAMPLES", "off")]).await;
    campaign_of_three(&app).await;
    let body = eventually(&app, "/v1/rejections", |b| len(b, "rejections") == 1).await;
    let rejection = &body["rejections"][0];
    assert!(rejection.get("text").is_none(), "{rejection}");
    for key in rejection["keys"].as_array().unwrap() {
        if key["kind"] == "near-duplicate" {
            assert_eq!(key["display"], "", "no sample of the text either");
        }
    }
    let body = eventually(&app, "/v1/campaigns", |b| len(b, "campaigns") > 0).await;
    assert!(!body.to_string().contains("Huge discounts"), "{body}");
    app
}

async fn rejections_page_newest_first(backend: Backend) -> TestApp {
    let app = app(backend, &[("FLOODGATE_CAMPAIGN_LIMIT", "1/10m")]).await;
    for i in 0..4 {
        app.single(&format!("s{i}"), &format!("r{i}"), SPAM).await;
    }
    eventually(&app, "/v1/rejections", |b| len(b, "rejections") == 3).await;
    let (_, first) = admin(&app, "GET", "/v1/rejections?limit=2", None).await;
    let ids: Vec<&str> = first["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sendID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s3", "s2"]);
    let next = first["next"].as_str().expect("a next cursor");
    let (_, second) = admin(
        &app,
        "GET",
        &format!("/v1/rejections?limit=2&next={next}"),
        None,
    )
    .await;
    assert_eq!(second["rejections"][0]["sendID"], "s1");
    assert_eq!(len(&second, "rejections"), 1);
    assert_eq!(second["next"], Value::Null);
    app
}

async fn campaigns_show_their_senders_and_state(backend: Backend) -> TestApp {
    let app = app(backend, &[]).await;
    campaign_of_three(&app).await;
    let body = eventually(&app, "/v1/campaigns", |b| {
        b["campaigns"]
            .as_array()
            .is_some_and(|c| c.iter().any(|k| k["kind"] == "link" && k["senders"] == 3))
    })
    .await;
    let link = body["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "link")
        .unwrap()
        .clone();
    assert_eq!(link["display"], "spamshop.xyz/promo");
    assert_eq!(link["state"], "over-limit");
    assert_eq!(link["rejected"], 1);
    assert!(link["firstSeen"].as_u64().unwrap() > 0);
    let key = link["key"].as_str().unwrap();
    let (status, senders) = admin(&app, "GET", &format!("/v1/campaigns/{key}/senders"), None).await;
    assert_eq!(status, 200);
    let mut senders: Vec<&str> = senders["senders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    senders.sort_unstable();
    assert_eq!(senders, ["spammer0", "spammer1", "spammer2"]);
    app
}

async fn a_block_by_hand_rejects_with_5006_is_listed_and_lifted(backend: Backend) -> TestApp {
    let app = app(backend, &[]).await;
    assert!(
        app.single("troll", "friend", "hello there")
            .await
            .is_allow()
    );
    let body = json!({"for": "1h", "reason": "abuse reported by users"});
    let (status, reply) = admin(&app, "PUT", "/v1/senders/troll/block", Some(body)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["blocks"], 1);
    let rejected = app.single("troll", "friend", "hello again").await;
    assert_eq!(rejected.err_code(), 5006, "{:?}", rejected.body);
    let (_, status) = admin(&app, "GET", "/v1/senders/troll", None).await;
    assert_eq!(status["blockedForSeconds"], 3600);

    let (_, blocks) = admin(&app, "GET", "/v1/blocks", None).await;
    let block = &blocks["blocks"][0];
    assert_eq!(block["sendID"], "troll");
    assert_eq!(block["by"], "abuse reported by users");
    assert_eq!(block["rule"], "moderator");
    assert_eq!(block["blocks"], 1);
    assert_eq!(
        block["until"].as_u64().unwrap() - block["since"].as_u64().unwrap(),
        3_600_000
    );

    let (status, lifted) = admin(&app, "DELETE", "/v1/senders/troll/block", None).await;
    assert_eq!((status, &lifted["unblocked"]), (200, &json!(true)));
    assert!(app.single("troll", "friend", "sorry").await.is_allow());
    let (_, blocks) = admin(&app, "GET", "/v1/blocks", None).await;
    assert_eq!(len(&blocks, "blocks"), 0, "{blocks}");
    app
}

async fn blocks_the_rules_start_are_listed_by_rules(backend: Backend) -> TestApp {
    let app = app(
        backend,
        &[
            ("FLOODGATE_STRIKES", "2/10m"),
            ("FLOODGATE_CAMPAIGN_LIMIT", "1/10m"),
        ],
    )
    .await;
    app.single("first", "v0", SPAM).await;
    for i in 1..3 {
        let reply = app.single("pest", &format!("v{i}"), SPAM).await;
        assert_eq!(reply.err_code(), 5004, "{:?}", reply.body);
    }
    assert_eq!(app.single("pest", "v9", "hi").await.err_code(), 5006);
    let body = eventually(&app, "/v1/blocks", |b| len(b, "blocks") == 1).await;
    let block = &body["blocks"][0];
    assert_eq!(
        (&block["sendID"], &block["rule"], &block["by"]),
        (&json!("pest"), &json!("campaign"), &json!("rules"))
    );
    app
}

async fn a_report_rejects_the_first_cold_copy_but_never_a_conversation(
    backend: Backend,
) -> TestApp {
    let app = app(backend, &[("FLOODGATE_CAMPAIGN_LIMIT", "100/10m")]).await;
    // Two friends: bob wrote to alice first, so alice's messages to bob are established.
    assert!(
        app.single("bob", "alice", "lunch tomorrow?")
            .await
            .is_allow()
    );

    let report = json!({"text": SPAM, "reason": "phishing wave"});
    let (status, reported) = admin(&app, "POST", "/v1/reports", Some(report)).await;
    assert_eq!(status, 200, "{reported}");
    let kinds: Vec<&str> = reported["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"link") && kinds.contains(&"near-duplicate"),
        "{kinds:?}"
    );

    let first = app.single("newcomer", "stranger", SPAM).await;
    assert_eq!(first.err_code(), 5012, "{:?}", first.body);
    // A varied copy still carries the link.
    let varied = "Last chance!!! spamshop.xyz/promo";
    assert_eq!(
        app.single("other", "stranger2", varied).await.err_code(),
        5012
    );
    // A friend warning another quotes it: established, never rejected for it.
    let warning = format!("careful, this is a scam: {SPAM}");
    assert!(app.single("alice", "bob", &warning).await.is_allow());
    assert!(app.single("alice", "bob", SPAM).await.is_allow());
    assert_eq!(
        app.metric("floodgate_rejections_total{mode=\"enforce\",rule=\"reported\"}")
            .await,
        2.0
    );
    let reported_keys = app.metric("floodgate_reported_keys").await;
    assert_eq!(
        reported_keys,
        reported["keys"].as_array().unwrap().len() as f64
    );
    let body = eventually(&app, "/v1/campaigns", |b| {
        b["campaigns"]
            .as_array()
            .is_some_and(|c| c.iter().any(|k| k["kind"] == "link"))
    })
    .await;
    let link = body["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "link")
        .unwrap()
        .clone();
    assert_eq!(link["state"], "reported");
    app
}

async fn a_report_can_block_every_sender_recorded_for_its_keys(backend: Backend) -> TestApp {
    let app = app(backend, &[("FLOODGATE_CAMPAIGN_LIMIT", "100/10m")]).await;
    for i in 0..3 {
        assert!(
            app.single(&format!("spammer{i}"), &format!("v{i}"), SPAM)
                .await
                .is_allow()
        );
    }
    let body = eventually(&app, "/v1/campaigns", |b| {
        b["campaigns"]
            .as_array()
            .is_some_and(|c| c.iter().any(|k| k["kind"] == "link" && k["senders"] == 3))
    })
    .await;
    let key = body["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "link")
        .unwrap()["key"]
        .clone();
    let report = json!({"key": key, "blockSenders": true, "reason": "wave 7"});
    let (status, reported) = admin(&app, "POST", "/v1/reports", Some(report)).await;
    assert_eq!(status, 200, "{reported}");
    assert_eq!(reported["blockedSenders"], 3);
    for i in 0..3 {
        let reply = app.single(&format!("spammer{i}"), "anyone", "hello").await;
        assert_eq!(reply.err_code(), 5006, "spammer{i}");
    }
    let (_, blocks) = admin(&app, "GET", "/v1/blocks", None).await;
    assert_eq!(len(&blocks, "blocks"), 3);
    assert_eq!(blocks["blocks"][0]["by"], "report: wave 7");
    app
}

async fn an_allowed_key_never_counts_for_campaign_nor_reported(backend: Backend) -> TestApp {
    let text = "Our club meets at clubsite.org/events every friday, everyone is welcome to join";
    let app = app(backend, &[]).await;
    let (status, allowed) =
        admin(&app, "POST", "/v1/allowances", Some(json!({"text": text}))).await;
    assert_eq!(status, 200, "{allowed}");
    // More copies than the campaign limit (2) from strangers: all pass.
    for i in 0..5 {
        let reply = app
            .single(&format!("member{i}"), &format!("guest{i}"), text)
            .await;
        assert!(reply.is_allow(), "copy {i}: {:?}", reply.body);
    }
    // Reported later: still allowed.
    admin(&app, "POST", "/v1/reports", Some(json!({"text": text}))).await;
    assert!(app.single("member9", "guest9", text).await.is_allow());

    // The allowance removed: the reported keys reject again.
    let key = allowed["keys"][0]["key"].as_str().unwrap().to_string();
    for record in allowed["keys"].as_array().unwrap() {
        let path = format!("/v1/allowances/{}", record["key"].as_str().unwrap());
        let (status, removed) = admin(&app, "DELETE", &path, None).await;
        assert_eq!((status, &removed["removed"]), (200, &json!(true)));
    }
    assert_eq!(
        app.single("member10", "guest10", text).await.err_code(),
        5012
    );
    assert!(!key.is_empty());
    app
}

async fn the_audit_lists_every_action_with_its_caller(backend: Backend) -> TestApp {
    let app = app(backend, &[]).await;
    let block = json!({"for": "10m", "reason": "r1"});
    admin(&app, "PUT", "/v1/senders/u1/block", Some(block)).await;
    admin(&app, "DELETE", "/v1/senders/u1/block?reason=appeal", None).await;
    let (_, reported) = admin(&app, "POST", "/v1/reports", Some(json!({"text": SPAM}))).await;
    let key = reported["keys"][0]["key"].as_str().unwrap().to_string();
    admin(
        &app,
        "POST",
        "/v1/allowances",
        Some(json!({"key": key, "reason": "mistake"})),
    )
    .await;
    admin(&app, "DELETE", &format!("/v1/allowances/{key}"), None).await;

    let (status, audit) = admin(&app, "GET", "/v1/audit", None).await;
    assert_eq!(status, 200);
    let entries = audit["audit"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["unallow", "allow", "report", "lift", "block"]);
    assert!(
        entries.iter().all(|e| e["caller"] == "127.0.0.1"),
        "{audit}"
    );
    assert_eq!(entries[4]["target"], "u1");
    assert_eq!(entries[4]["reason"], "r1");
    assert_eq!(entries[3]["reason"], "appeal");
    assert_eq!(entries[1]["reason"], "mistake");
    assert!(entries[2]["target"].as_str().unwrap().contains(&key));
    for action in ["block", "lift", "report", "allow", "unallow"] {
        let series = format!("floodgate_moderation_actions_total{{action=\"{action}\"}}");
        assert_eq!(app.metric(&series).await, 1.0, "{action}");
    }
    app
}

on_every_store!(
    rejections_are_listed_with_rule_detail_keys_and_text,
    without_samples_no_text_is_kept,
    rejections_page_newest_first,
    campaigns_show_their_senders_and_state,
    a_block_by_hand_rejects_with_5006_is_listed_and_lifted,
    blocks_the_rules_start_are_listed_by_rules,
    a_report_rejects_the_first_cold_copy_but_never_a_conversation,
    a_report_can_block_every_sender_recorded_for_its_keys,
    an_allowed_key_never_counts_for_campaign_nor_reported,
    the_audit_lists_every_action_with_its_caller,
);

/// Every moderation endpoint, with the method and a body that would be accepted.
fn endpoints() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/v1/rejections", None),
        ("GET", "/v1/campaigns", None),
        ("GET", "/v1/campaigns/00000000000000ab/senders", None),
        ("GET", "/v1/blocks", None),
        ("PUT", "/v1/senders/u1/block", Some(json!({"for": "1m"}))),
        ("DELETE", "/v1/senders/u1/block", None),
        ("POST", "/v1/reports", Some(json!({"text": SPAM}))),
        (
            "POST",
            "/v1/allowances",
            Some(json!({"key": "00000000000000ab"})),
        ),
        ("DELETE", "/v1/allowances/00000000000000ab", None),
        ("GET", "/v1/audit", None),
        ("GET", "/v1/senders/u1", None),
    ]
}

#[tokio::test]
async fn every_moderation_endpoint_needs_the_admin_token() {
    let app = app(Backend::Memory, &[]).await;
    for (method, path, body) in endpoints() {
        for token in [None, Some("wrong-token-123")] {
            let (status, reply) = admin_as(&app, token, method, path, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {reply}");
        }
        let (status, reply) = admin(&app, method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {reply}");
    }
    // Nothing was done without the token: the audit holds the authorised calls only.
    let (_, audit) = admin(&app, "GET", "/v1/audit", None).await;
    assert_eq!(len(&audit, "audit"), 5, "{audit}");
}

#[tokio::test]
async fn bad_requests_are_refused_with_what_is_wrong() {
    let app = app(Backend::Memory, &[]).await;
    let cases = [
        (
            "PUT",
            "/v1/senders/u1/block",
            Some(json!({"for": "forever"})),
            "for",
        ),
        (
            "PUT",
            "/v1/senders/u1/block",
            Some(json!({"reason": "x"})),
            "for",
        ),
        (
            "POST",
            "/v1/reports",
            Some(json!({"text": "hi"})),
            "no campaign key",
        ),
        (
            "POST",
            "/v1/reports",
            Some(json!({"text": SPAM, "key": "00000000000000ab"})),
            "either",
        ),
        ("POST", "/v1/reports", Some(json!({"key": "zz"})), "16 hex"),
        (
            "POST",
            "/v1/allowances",
            Some(json!({"text": SPAM, "blockSenders": true})),
            "blockSenders",
        ),
        ("GET", "/v1/rejections?limit=0", None, "limit"),
        ("GET", "/v1/audit?limit=1001", None, "limit"),
        ("GET", "/v1/campaigns/nothex/senders", None, "16 hex"),
    ];
    for (method, path, body, says) in cases {
        let (status, reply) = admin(&app, method, path, body).await;
        assert_eq!(status, 400, "{method} {path}: {reply}");
        assert!(reply["error"].as_str().unwrap().contains(says), "{reply}");
    }
    let (_, audit) = admin(&app, "GET", "/v1/audit", None).await;
    assert_eq!(len(&audit, "audit"), 0, "a refused request is no action");
}

/// Two replicas on one store: what a moderator does through one holds on the other at once.
async fn two_replicas_see_each_others_actions(backend: Backend) {
    let (a, b) = TestApp::pair(backend, &vars(&[("FLOODGATE_CAMPAIGN_LIMIT", "1000/10m")])).await;
    // Both follow the notices (Pub/Sub keeps nothing for a later subscriber).
    support::wait_for_subscribers(2, || a.store.subscribers()).await;

    // A report through A: B rejects the first cold copy.
    let (status, reported) = admin(&a, "POST", "/v1/reports", Some(json!({"text": SPAM}))).await;
    assert_eq!(status, 200, "{reported}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        n += 1;
        let reply = b
            .single(&format!("fresh{n}"), &format!("target{n}"), SPAM)
            .await;
        if reply.err_code() == 5012 {
            break;
        }
        assert!(Instant::now() < deadline, "B never saw the report");
    }

    // An allowance through B: A lets the next cold copy through.
    let allowance = json!({"text": SPAM});
    let (status, _) = admin(&b, "POST", "/v1/allowances", Some(allowance)).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        n += 1;
        let reply = a
            .single(&format!("fresh{n}"), &format!("target{n}"), SPAM)
            .await;
        if reply.is_allow() {
            break;
        }
        assert!(Instant::now() < deadline, "A never saw the allowance");
    }

    // A block by hand through A: B rejects the sender's next message, and lists the block.
    let block = json!({"for": "1h", "reason": "seen on A"});
    assert_eq!(
        admin(&a, "PUT", "/v1/senders/villain/block", Some(block))
            .await
            .0,
        200
    );
    assert_eq!(
        b.single("villain", "anyone", "hello").await.err_code(),
        5006
    );
    let (_, blocks) = admin(&b, "GET", "/v1/blocks", None).await;
    assert_eq!(blocks["blocks"][0]["sendID"], "villain");
    // …and the audit of either replica holds all three actions.
    let (_, audit) = admin(&b, "GET", "/v1/audit", None).await;
    assert_eq!(len(&audit, "audit"), 3, "{audit}");
}

#[tokio::test]
async fn two_replicas_on_one_redis_see_each_others_actions_at_once() {
    two_replicas_see_each_others_actions(Backend::Redis).await;
}

#[tokio::test]
async fn two_replicas_on_one_cluster_see_each_others_actions_at_once() {
    two_replicas_see_each_others_actions(Backend::Cluster).await;
}

/// What the lists hold in Redis (`MEMORY USAGE`), for BENCHMARKS.md: bytes per rejection kept,
/// per reported key and per sender recorded for a key. Bounds, not timings; the figures are
/// printed (`--nocapture`).
#[tokio::test]
async fn a_rejection_a_reported_key_and_a_recorded_sender_cost_bounded_bytes_in_redis() {
    let app = app(Backend::Redis, &[("FLOODGATE_CAMPAIGN_LIMIT", "1/10m")]).await;
    let n = 200;
    for i in 0..=n {
        app.single(&format!("sender{i:05}"), &format!("to{i}"), SPAM)
            .await;
    }
    eventually(&app, "/v1/rejections?limit=1000", |b| {
        len(b, "rejections") == n
    })
    .await;
    for i in 0..n {
        let key = format!("{:016x}", i + 1);
        let (status, _) = admin(&app, "POST", "/v1/reports", Some(json!({"key": key}))).await;
        assert_eq!(status, 200);
    }
    let support::SharedStore::Redis(redis) = &app.store else {
        unreachable!()
    };
    let usage = |pattern: &str| -> f64 {
        let key = redis.cli(&["--scan", "--pattern", pattern]);
        let key = key
            .lines()
            .next()
            .unwrap_or_else(|| panic!("no key {pattern}"));
        redis
            .cli(&["MEMORY", "USAGE", key, "SAMPLES", "0"])
            .trim()
            .parse()
            .unwrap()
    };
    let per_rejection = usage("*:{m}:rejections") / n as f64;
    let per_reported = usage("*:{m}:reported") / n as f64;
    let (_, body) = admin(&app, "GET", "/v1/campaigns", None).await;
    let link = body["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "link")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let per_sender = usage(&format!("*:mu:{{f:{link}}}")) / (n + 1) as f64;
    let meta = usage(&format!("*:mk:{{f:{link}}}"));
    eprintln!(
        "bytes per rejection kept (text of {} chars): {per_rejection:.0}; per reported key: \
         {per_reported:.0}; per recorded sender of a key: {per_sender:.0}; a key's record: {meta:.0}",
        SPAM.chars().count()
    );
    assert!(per_rejection < 1200.0, "{per_rejection}");
    assert!(per_reported < 160.0, "{per_reported}");
    assert!(per_sender < 80.0, "{per_sender}");
}

#[tokio::test]
async fn in_shadow_a_reported_key_is_counted_not_rejected() {
    let app = app(Backend::Memory, &[("FLOODGATE_REPORTED_MODE", "shadow")]).await;
    admin(&app, "POST", "/v1/reports", Some(json!({"text": SPAM}))).await;
    assert!(app.single("newcomer", "stranger", SPAM).await.is_allow());
    assert_eq!(
        app.metric("floodgate_rejections_total{mode=\"shadow\",rule=\"reported\"}")
            .await,
        1.0
    );
}

#[test]
fn bad_moderation_variables_stop_start_up_naming_them() {
    use floodgate::config::Config;
    for (name, value) in [
        ("FLOODGATE_SAMPLES", "maybe"),
        ("FLOODGATE_REPORT_TTL", "forever"),
        ("FLOODGATE_REPORTED_MODE", "loud"),
    ] {
        let error = Config::from_vars([(name, value)]).unwrap_err().to_string();
        assert!(error.contains(name) && error.contains(value), "{error}");
    }
    let config = Config::from_vars([("FLOODGATE_SAMPLES", "off")]).unwrap();
    assert!(!config.samples);
    assert_eq!(config.report_ttl, Duration::from_secs(7 * 86_400));
}
